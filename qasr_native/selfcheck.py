"""A quick self-check of the installed core: every kernel variant this CPU
can run computes a few random products and must agree with the Python mirror
of docs/quantization.md. Used by `qasr version --check` and the wheel smoke
test; needs only numpy."""

from __future__ import annotations

import numpy as np

from . import _core, quant

_CASES = [("q8", 0, 1, 48, 100), ("q8", 32, 5, 17, 64), ("q4", 32, 1, 40, 96), ("q4", 128, 9, 33, 256),
          ("q4a", 64, 3, 20, 130)]


def self_check(seed: int = 0) -> dict[str, str]:
    """Returns {kernel: "ok"}; raises AssertionError naming the first mismatch."""
    rng = np.random.default_rng(seed)
    results = {}
    for kernel in _core.kernels():
        for fmt, group, M, N, K in _CASES:
            w = rng.standard_normal((N, K)).astype(np.float32)
            x = rng.standard_normal((M, K)).astype(np.float32)
            q = quant.quantize_weight(w, fmt, group)
            packed = _core.pack(w, fmt, group)
            if packed.tobytes() != quant.pack(q):
                raise AssertionError(f"{kernel}: packed bytes of {fmt}/g{group} differ from the mirror")
            got = _core.linear(packed, x, kernel=kernel)
            want = quant.qmatmul(x, q)
            err = float(np.max(np.abs(got - want)))
            scale = float(np.max(np.abs(want))) + 1e-30
            if err > 1e-4 * scale:
                raise AssertionError(f"{kernel}: {fmt}/g{group} [{M}x{N}x{K}] differs from the mirror by {err:.3g}")
        results[kernel] = "ok"
    return results
