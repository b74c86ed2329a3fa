"""The Python mirror (qasr_native.quant) against the C++ core: identical
layouts, codes, scales, packed bytes and activation codes; outputs equal to
float rounding for every kernel variant."""

import numpy as np
import pytest

from qasr_native import _core
from qasr_native import quant

FORMATS_GROUPS = [("q8", 0), ("q8", 32), ("q8", 64), ("q8", 128), ("q4", 32), ("q4", 64), ("q4", 128),
                  ("q4a", 32), ("q4a", 64), ("q4a", 128)]
SHAPES = [(1, 1), (16, 32), (17, 33), (5, 100), (64, 256), (31, 300), (3, 129)]


def weights(rng, N, K, kind="normal"):
    if kind == "normal":
        return rng.standard_normal((N, K)).astype(np.float32)
    if kind == "uniform_pos":
        return rng.uniform(0, 3, (N, K)).astype(np.float32)
    if kind == "tiny":
        return (rng.standard_normal((N, K)) * 1e-6).astype(np.float32)
    if kind == "integers":  # many exact ties at .5 after scaling
        return rng.integers(-16, 17, (N, K)).astype(np.float32) / 2
    raise ValueError(kind)


@pytest.mark.parametrize("fmt,group", FORMATS_GROUPS + [("f32", 0)])
def test_layout_matches_core(fmt, group):
    for N, K in SHAPES + [(4096, 1024), (29, 4096)]:
        py = quant.layout(fmt, N, K, group)
        cc = _core.packed_layout(fmt, N, K, group)
        for key, value in cc.items():
            assert getattr(py, key) == value, (key, N, K)


@pytest.mark.parametrize("fmt,group", [("q4", 0), ("q8", 48), ("q4a", 16), ("f32", 32), ("q7", 32), ("q3", 16)])
def test_bad_layouts_are_rejected_by_both(fmt, group):
    with pytest.raises(ValueError):
        quant.layout(fmt, 16, 64, group)
    with pytest.raises(ValueError):
        _core.packed_layout(fmt, 16, 64, group)


@pytest.mark.parametrize("fmt", ["q2", "q3", "q5", "q6"])
def test_simulated_layouts_exist_only_in_python(fmt):
    """The research widths are priced by the mirror (flagged simulated); the core has no layout for them."""
    assert quant.layout(fmt, 16, 64, 32).simulated
    with pytest.raises(ValueError):
        _core.packed_layout(fmt, 16, 64, 32)


@pytest.mark.parametrize("fmt,group", FORMATS_GROUPS)
@pytest.mark.parametrize("kind", ["normal", "uniform_pos", "tiny", "integers"])
def test_codes_scales_and_bytes_match_core(fmt, group, kind):
    rng = np.random.default_rng(hash((fmt, group, kind)) % 2**32)
    for N, K in SHAPES:
        if group and group > 32 and K < 2:
            continue
        w = weights(rng, N, K, kind)
        w[0, : K // 2] = 0.0  # a partly zero row
        if N > 2:
            w[1] = 0.0  # an all-zero row
        q = quant.quantize_weight(w, fmt, group)
        packed = _core.pack(w, fmt, group)
        got = packed.unpack()
        np.testing.assert_array_equal(got["codes"], q.codes)
        np.testing.assert_array_equal(got["scales"], q.scales.view(np.uint16))
        if fmt == "q4a":
            np.testing.assert_array_equal(got["zeros"], q.zeros)
        blob = quant.pack(q)
        assert packed.tobytes() == blob
        back = quant.unpack(blob, fmt, N, K, group)
        np.testing.assert_array_equal(back.codes, q.codes)
        np.testing.assert_array_equal(back.scales.view(np.uint16), q.scales.view(np.uint16))


def test_given_scales_are_used_by_both():
    rng = np.random.default_rng(0)
    w = rng.standard_normal((20, 96)).astype(np.float32)
    for fmt, group in [("q8", 32), ("q4", 64), ("q4a", 32)]:
        s, z = quant.default_scales(w, fmt, group)
        s = (s.astype(np.float32) * 0.7).astype(np.float16)  # clipped
        q = quant.quantize_weight(w, fmt, group, scales=s, zeros=z)
        packed = _core.pack(w, fmt, group, scales=s.view(np.uint16), zeros=z)
        assert packed.tobytes() == quant.pack(q)
        assert _core.pack_codes(q.codes, s.view(np.uint16), z, fmt, group).tobytes() == quant.pack(q)


def test_dequantize_error_is_small():
    rng = np.random.default_rng(1)
    w = rng.standard_normal((64, 256)).astype(np.float32)
    for fmt, group, tol in [("q8", 0, 0.01), ("q4", 32, 0.12), ("q4a", 32, 0.12)]:
        err = quant.dequantize(quant.quantize_weight(w, fmt, group)) - w
        assert np.sqrt(np.mean(err**2)) < tol * np.std(w), fmt


def test_non_finite_weights_and_scales_are_errors():
    w = np.ones((4, 32), dtype=np.float32)
    w[2, 5] = np.nan
    with pytest.raises(ValueError):
        quant.quantize_weight(w, "q8", 32)
    with pytest.raises(ValueError):
        _core.pack(w, "q8", 32)
    huge = np.full((2, 32), 1e7, dtype=np.float32)  # scale 78740 > f16 max
    with pytest.raises(ValueError, match="not finite"):
        quant.quantize_weight(huge, "q8", 32)
    with pytest.raises(ValueError, match="not finite"):
        _core.pack(huge, "q8", 32)


@pytest.mark.parametrize("kernel", _core.kernels())
def test_activation_codes_match_core(kernel):
    rng = np.random.default_rng(2)
    for M, K in [(1, 1), (1, 31), (3, 64), (7, 100), (300, 33)]:
        x = (rng.standard_normal((M, K)) * rng.uniform(0.01, 100)).astype(np.float32)
        x[0, :] = 0.0
        if K > 3:
            x[-1, 1] = 1e-30  # denormal-range values
        codes, scales, sums = _core.quantize_activations(x, kernel=kernel)
        mc, ms, msum = quant.quantize_activations(x)
        np.testing.assert_array_equal(codes, mc)
        np.testing.assert_array_equal(scales, ms)
        np.testing.assert_array_equal(sums, msum)


@pytest.mark.parametrize("kernel", _core.kernels())
@pytest.mark.parametrize("fmt,group", FORMATS_GROUPS)
def test_linear_matches_mirror(kernel, fmt, group):
    rng = np.random.default_rng(3)
    for M, N, K in [(1, 16, 32), (1, 50, 300), (4, 33, 64), (17, 100, 129), (64, 64, 256)]:
        w = rng.standard_normal((N, K)).astype(np.float32)
        x = (rng.standard_normal((M, K)) * 2).astype(np.float32)
        bias = rng.standard_normal(N).astype(np.float32)
        q = quant.quantize_weight(w, fmt, group)
        y_ref = quant.qmatmul(x, q, bias)
        y = _core.linear(_core.pack(w, fmt, group), x, bias, kernel=kernel)
        # Tolerance relative to the magnitude of the summed terms.
        qx, sx, _ = quant.quantize_activations(x)
        mag = np.abs(quant.mirror.block_sums(qx, q)).sum(axis=2) * np.abs(sx).max() * np.abs(
            q.scales.astype(np.float32)).max() + np.abs(bias)
        assert np.all(np.abs(y - y_ref) <= 1e-5 * mag + 1e-30)


@pytest.mark.parametrize("kernel", _core.kernels())
def test_f32_linear_matches_numpy(kernel):
    rng = np.random.default_rng(4)
    for M, N, K in [(1, 1, 1), (3, 17, 40), (33, 64, 100)]:
        w = rng.standard_normal((N, K)).astype(np.float32)
        x = rng.standard_normal((M, K)).astype(np.float32)
        packed = _core.pack(w, "f32")
        assert packed.tobytes() == quant.pack_f32(w)
        np.testing.assert_array_equal(quant.unpack_f32(packed.tobytes(), N, K), w)
        y = _core.linear(packed, x, kernel=kernel)
        np.testing.assert_allclose(y, x.astype(np.float64) @ w.T.astype(np.float64), rtol=1e-5, atol=1e-5)


def test_kernel_selection():
    names = _core.kernels()
    assert names[0] == "scalar"
    before = _core.active_kernel()
    try:
        _core.set_kernel("scalar")
        assert _core.active_kernel() == "scalar"
        with pytest.raises(ValueError):
            _core.set_kernel("no-such-kernel")
    finally:
        _core.set_kernel(before)


@pytest.mark.parametrize("kernel", _core.kernels())
def test_blocks_too_small_to_scale_are_zero_in_core_and_mirror(kernel):
    # 127 / amax overflows for amax below ~3.7e-37: such blocks (and all-zero
    # ones) get scale 0 and zero codes everywhere (docs/quantization.md §3).
    x = np.zeros((3, 96), dtype=np.float32)
    x[0, :32] = 1e-38
    x[0, 5] = -2e-37
    x[1, 32:64] = 3e-37
    x[1, 64:] = np.float32(1e-45)  # smallest subnormal
    x[2, :] = np.linspace(-1, 1, 96, dtype=np.float32)
    codes, scales, sums = _core.quantize_activations(x, kernel=kernel)
    mc, ms, msum = quant.quantize_activations(x)
    np.testing.assert_array_equal(codes, mc)
    np.testing.assert_array_equal(scales, ms)
    np.testing.assert_array_equal(sums, msum)
    assert not codes[:2].any() and not scales[:2].any()
    assert codes[2].any()
