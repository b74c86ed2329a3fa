"""Weight scale calibration per (row, group): clipping search.

Every method searches a clipping factor ``alpha`` per (row, group): the
candidate scales are the mirror's own min-max scales of ``alpha * W``
(:func:`qasr_native.quant.mirror.default_scales`: ``alpha * amax / 127``
for q8, ``alpha * m / -8`` for q4, ``alpha``-scaled range and its zero
point for q4a), the codes come from :func:`quantize_weight` with those
scales -- the same formula the core serves (calibration only chooses the
scale), and each (row, group) keeps the alpha with the smallest error:

- ``minmax``: alpha = 1 (no search);
- ``mse``: sum over the group of (w_hat - w)^2;
- ``l1``: sum |w_hat - w|;
- ``cosine``: 1 - cos(X w, X w_hat) over the user's clips' inputs X to the
  layer (the seed's output-cosine criterion, here per row and group instead
  of per tensor), from the input moments H = X^T X (the block of H that the
  group touches; exact for per-row q8);
- ``hessian``: sum over the clips of (X w_hat - X w)^2 per (row, group), i.e.
  d^T H d with d = w_hat - w: the layer's output squared error on the user's
  clips (the objective of OBQ/GPTQ, without their error feedback). Unlike
  ``cosine`` it sees the shrinkage that clipping causes (cosine is blind to
  scale, so it over-clips), and unlike ``mse`` it weighs each input by how
  the speaker's activations use it. H is damped by ``HESSIAN_DAMP`` times
  its mean diagonal, so directions a few clips never excite are not free
  (as the damp grows the criterion becomes ``mse``);
- ``fisher``: sum F (w_hat - w)^2 with F the diagonal Fisher of the weights
  from per-clip pseudo-label losses (sensitivity.py).

alpha = 1 is always among the candidates, so every method is at least as
good as min-max on its own criterion. Activations stay dynamic (int8 per
32-block, no clipping), which the file records.
"""

from __future__ import annotations

from typing import Dict, Optional

import numpy as np

from ..quant.formats import layout
from ..quant.mirror import QuantizedWeight, default_scales, dequantize, quantize_weight

METHODS = ("minmax", "mse", "l1", "cosine", "hessian", "fisher")
#: Methods that read the layer's input moments H = X^T X over the clips.
NEEDS_INPUT_MOMENTS = ("cosine", "hessian")
#: Damping of H for ``hessian``, relative to its mean diagonal.
HESSIAN_DAMP = 0.01
#: ``qasr personalize``'s calibration: it reads the user's clips, and was never measurably less accurate
#: than ``mse`` in the experiments of docs/personalization.md.
DEFAULT = "hessian"


def alpha_grid(fmt: str) -> np.ndarray:
    """Clipping factors searched (descending from 1.0)."""
    if fmt == "q8":
        return np.round(np.linspace(1.0, 0.6, 21), 4)
    return np.round(np.linspace(1.0, 0.4, 31), 4)


def _group_sums(v: np.ndarray, K: int, group: int) -> np.ndarray:
    """[N, K] -> [N, G]: sums over each group's inputs."""
    g = K if group == 0 else group
    G = -(-K // g)
    pad = G * g - K
    if pad:
        v = np.pad(v, ((0, 0), (0, pad)))
    return v.reshape(v.shape[0], G, g).sum(axis=2)


def _cosine_error(w: np.ndarray, wq: np.ndarray, H: np.ndarray, group: int) -> np.ndarray:
    """[N, G] 1 - cos(X w_g, X wq_g) per row and group, from H = X^T X."""
    N, K = w.shape
    g = K if group == 0 else group
    G = -(-K // g)
    out = np.empty((N, G))
    # float32 products (single-precision GEMM: the N x K x K work of per-row groups dominates);
    # the sums that form the cosine are taken in float64
    H32 = H.astype(np.float32)
    for j in range(G):
        sl = slice(j * g, min(K, (j + 1) * g))
        Hg = H32[sl, sl]
        a, b = w[:, sl], wq[:, sl].astype(np.float32)
        aH, bH = (a @ Hg).astype(np.float64), (b @ Hg).astype(np.float64)
        a, b = a.astype(np.float64), b.astype(np.float64)
        ab = (aH * b).sum(1)
        den = np.sqrt(np.maximum((aH * a).sum(1), 0) * np.maximum((bH * b).sum(1), 0))
        with np.errstate(divide="ignore", invalid="ignore"):
            out[:, j] = np.where(den > 0, 1.0 - ab / den, 0.0)
    return out


def _output_error(d: np.ndarray, H: np.ndarray, group: int) -> np.ndarray:
    """[N, G] d_g^T H_gg d_g per row and group (d = w_hat - w)."""
    N, K = d.shape
    g = K if group == 0 else group
    G = -(-K // g)
    out = np.empty((N, G))
    for j in range(G):
        sl = slice(j * g, min(K, (j + 1) * g))
        dg = d[:, sl]
        out[:, j] = ((dg @ H[sl, sl]).astype(np.float64) * dg).sum(1)
    return out


def damped(H: np.ndarray, damp: float = HESSIAN_DAMP) -> np.ndarray:
    """float32 H + damp * mean(diag H) * I."""
    Hd = np.array(H, dtype=np.float32)
    mean_diag = float(np.mean(np.diag(H))) if H.size else 0.0
    Hd[np.diag_indices_from(Hd)] += np.float32(damp * mean_diag if mean_diag > 0 else 1.0)
    return Hd


def calibrate(w: np.ndarray, fmt: str, group: int, method: str = "mse", hessian: Optional[np.ndarray] = None,
              fisher: Optional[np.ndarray] = None, damp: float = HESSIAN_DAMP) -> QuantizedWeight:
    """Quantized weights of W[N, K] with the scales ``method`` chooses per (row, group)."""
    if method not in METHODS:
        raise ValueError(f"unknown calibration {method!r} (expected {', '.join(METHODS)})")
    w = np.ascontiguousarray(w, dtype=np.float32)
    if method == "minmax":
        return quantize_weight(w, fmt, group)
    N, K = w.shape
    lay = layout(fmt, N, K, group)
    if method in NEEDS_INPUT_MOMENTS:
        if hessian is None:
            raise ValueError(f"{method} calibration needs the layer's input moments (hessian)")
        if hessian.shape != (K, K):
            raise ValueError(f"input moments have shape {hessian.shape}, expected {(K, K)}")
    if method == "fisher":
        if fisher is None or fisher.shape != w.shape:
            raise ValueError("fisher calibration needs the weight Fisher diagonal of the layer's shape")
    if method == "hessian":
        Hd = damped(hessian, damp)
    best_err = np.full((N, lay.groups), np.inf)
    best_s = np.zeros((N, lay.groups), dtype=np.float16)
    best_z = np.zeros((N, lay.groups), dtype=np.uint8) if fmt == "q4a" else None
    for alpha in alpha_grid(fmt):
        s, z = default_scales(w * np.float32(alpha), fmt, group)
        if not np.all(np.isfinite(s.astype(np.float32))):
            continue
        q = quantize_weight(w, fmt, group, s, z)
        wq = dequantize(q)
        d = wq - w
        if method == "mse":
            err = _group_sums(d.astype(np.float64) ** 2, K, group)
        elif method == "l1":
            err = _group_sums(np.abs(d).astype(np.float64), K, group)
        elif method == "hessian":
            err = _output_error(d, Hd, group)
        elif method == "fisher":
            err = _group_sums(fisher * d.astype(np.float64) ** 2, K, group)
        else:
            err = _cosine_error(w, wq, hessian, group)
        better = err < best_err  # strict: ties keep the larger alpha (searched first)
        best_err = np.where(better, err, best_err)
        best_s = np.where(better, s, best_s)
        if best_z is not None:
            best_z = np.where(better, z, best_z)
    return quantize_weight(w, fmt, group, best_s, best_z)


def calibrate_assignment(adapter, assignment: Dict[str, tuple], method: str, sensitivity=None,
                         progress: Optional[str] = "calibration") -> Dict[str, object]:
    """{layer: QuantizedWeight or ("f32", 0)} for an allocation."""
    items = list(assignment.items())
    it = items
    if progress:
        from tqdm import tqdm

        it = tqdm(items, desc=f"{progress} ({method})", unit="layer", leave=False)
    out: Dict[str, object] = {}
    for name, (fmt, group) in it:
        if fmt == "f32":
            out[name] = (fmt, group)
            continue
        H = sensitivity.hessians.get(name) if sensitivity is not None else None
        F = sensitivity.fisher_diag.get(name) if sensitivity is not None else None
        out[name] = calibrate(adapter.weight(name), fmt, group, method, H, F)
    return out
