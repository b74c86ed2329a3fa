"""Numpy mirror of the core's quantizers, packer and integer matmul.

Written from docs/quantization.md, independently of the C++ code, so each
side checks the other. All arithmetic that decides a code is float32 with
round-to-nearest-even (numpy's default), like the core.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import numpy as np

from .formats import BLOCK, IMPLICIT_ZERO, PANEL, QRANGE, SIMULATED_FORMATS, Layout, layout

F32 = np.float32


@dataclass
class QuantizedWeight:
    """Row-major quantized weights: unsigned codes u, f16 scales, zero points.

    The represented weight is ``scales[n, g] * (codes[n, k] - zero[n, g])``.
    """

    format: str
    codes: np.ndarray  # uint8 [N, K]
    scales: np.ndarray  # float16 [N, G]
    zeros: Optional[np.ndarray] = None  # uint8 [N, G], q4a only
    group: int = 0

    @property
    def shape(self) -> tuple[int, int]:
        return tuple(self.codes.shape)  # type: ignore[return-value]

    @property
    def layout(self) -> Layout:
        return layout(self.format, *self.shape, self.group)

    def zero_points(self) -> np.ndarray:
        """Zero point per (row, group) as int32 [N, G]."""
        if self.format == "q4a":
            return self.zeros.astype(np.int32)
        return np.full(self.scales.shape, IMPLICIT_ZERO[self.format], dtype=np.int32)


def _grouped(w: np.ndarray, group: int) -> tuple[np.ndarray, int]:
    """[N, K] -> [N, G, g] padded with zeros; returns (view, g)."""
    N, K = w.shape
    g = K if group == 0 else group
    G = -(-K // g)
    padded = np.zeros((N, G * g), dtype=F32)
    padded[:, :K] = w
    return padded.reshape(N, G, g), g


def _expand(per_group: np.ndarray, K: int, group: int) -> np.ndarray:
    """[N, G] -> [N, K]: each group's value repeated over its inputs."""
    g = K if group == 0 else group
    return np.repeat(per_group, g, axis=1)[:, :K]


def default_scales(w: np.ndarray, format: str, group: int = 0) -> tuple[np.ndarray, Optional[np.ndarray]]:
    """Min-max scales (f16) and, for q4a, zero points for W[N, K]."""
    w = np.ascontiguousarray(w, dtype=F32)
    layout(format, *w.shape, group)  # validates
    wg, _ = _grouped(w, group)
    if format == "q8":
        s = np.max(np.abs(wg), axis=2) / F32(127)
        with np.errstate(over="ignore"):  # too-large scales become inf and are rejected later
            return s.astype(np.float16), None
    if format == "q4" or format in SIMULATED_FORMATS:
        # the signed extreme maps to the most negative code (-8 for q4, -2^(b-1) for simulated widths)
        idx = np.argmax(np.abs(wg), axis=2)  # first index on ties
        m = np.take_along_axis(wg, idx[..., None], axis=2)[..., 0]
        with np.errstate(over="ignore"):
            return (m / F32(QRANGE[format][0])).astype(np.float16), None
    if format == "q4a":
        lo = np.minimum(wg.min(axis=2), F32(0))
        hi = np.maximum(wg.max(axis=2), F32(0))
        with np.errstate(over="ignore"):
            s16 = ((hi - lo) / F32(15)).astype(np.float16)
        s32 = s16.astype(F32)
        with np.errstate(divide="ignore", invalid="ignore"):
            z = np.where(s32 != 0, np.clip(np.rint(-lo / np.where(s32 != 0, s32, F32(1))), 0, 15), 0)
        return s16, z.astype(np.uint8)
    raise ValueError(f"{format} has no scales")


def quantize_weight(
    w: np.ndarray,
    format: str,
    group: int = 0,
    scales: Optional[np.ndarray] = None,
    zeros: Optional[np.ndarray] = None,
) -> QuantizedWeight:
    """Codes of W[N, K] for the given scales (default: min-max)."""
    w = np.ascontiguousarray(w, dtype=F32)
    if w.ndim != 2:
        raise ValueError(f"weights must be 2-D, got shape {w.shape}")
    if format == "f32":
        raise ValueError("f32 is not a quantized format")
    lay = layout(format, *w.shape, group)
    if not np.all(np.isfinite(w)):
        raise ValueError("weights contain NaN or Inf")
    if scales is None:
        scales, zeros = default_scales(w, format, group)
    scales = np.asarray(scales).astype(np.float16)
    if scales.shape != (lay.N, lay.groups):
        raise ValueError(f"scales must have shape {(lay.N, lay.groups)}, got {scales.shape}")
    if format == "q4a":
        if zeros is None:
            raise ValueError("q4a scales given without zero points")
        zeros = np.asarray(zeros)
        if zeros.shape != scales.shape or zeros.min(initial=0) < 0 or zeros.max(initial=0) > 15:
            raise ValueError("q4a zero points must be integers in [0, 15] with the shape of the scales")
        zeros = zeros.astype(np.uint8)
    s32 = scales.astype(F32)
    if not np.all(np.isfinite(s32)):
        n, g = np.argwhere(~np.isfinite(s32))[0]
        raise ValueError(f"scale of row {n}, group {g} is not finite in f16 (weights too large for this format)")
    K = lay.K
    s_full = _expand(s32, K, group)
    nonzero = s_full != 0
    with np.errstate(divide="ignore", invalid="ignore"):
        r = np.rint(w / np.where(nonzero, s_full, F32(1)))
    if format == "q4a":
        z_full = _expand(zeros.astype(F32), K, group)
        u = np.where(nonzero, np.clip(r + z_full, 0, 15), z_full)
    else:
        lo, hi = QRANGE[format]
        u = np.where(nonzero, np.clip(r, lo, hi), 0) + IMPLICIT_ZERO[format]
    return QuantizedWeight(format, u.astype(np.uint8), scales, zeros, group)


def dequantize(q: QuantizedWeight) -> np.ndarray:
    """float32 [N, K] weights the codes represent: s * (u - z)."""
    K = q.codes.shape[1]
    s = _expand(q.scales.astype(F32), K, q.group)
    z = _expand(q.zero_points(), K, q.group)
    return (s * (q.codes.astype(np.int32) - z).astype(F32)).astype(F32)


def quantize_activations(x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-(row, 32-block) int8 codes [M, nb*32], scales [M, nb] and sums [M, nb]."""
    x = np.ascontiguousarray(x, dtype=F32)
    if x.ndim != 2:
        raise ValueError(f"activations must be 2-D, got shape {x.shape}")
    M, K = x.shape
    nb = -(-K // BLOCK)
    xp = np.zeros((M, nb * BLOCK), dtype=F32)
    xp[:, :K] = x
    xb = xp.reshape(M, nb, BLOCK)
    amax = np.max(np.abs(xb), axis=2)
    with np.errstate(divide="ignore", over="ignore"):
        inv = F32(127) / amax
    # 127 / amax is +inf for all-zero blocks and for blocks so small that the
    # division overflows: those blocks get scale 0 and zero codes.
    nonzero = ~np.isinf(inv)
    inv = np.where(nonzero, inv, F32(0))
    q = np.clip(np.rint(xb * inv[..., None]), -127, 127)
    q = np.where(nonzero[..., None], q, 0).astype(np.int8)
    scales = np.where(nonzero, amax / F32(127), F32(0)).astype(F32)
    sums = q.astype(np.int32).sum(axis=2).astype(np.int32)
    return q.reshape(M, nb * BLOCK), scales, sums


def block_sums(qx: np.ndarray, q: QuantizedWeight) -> np.ndarray:
    """Exact integer sums isum[m, n, b] = Σ_k (u - z) · qx over each block (int64)."""
    N, K = q.codes.shape
    M = qx.shape[0]
    nb = -(-K // BLOCK)
    z = _expand(q.zero_points(), K, q.group)
    w = np.zeros((N, nb * BLOCK), dtype=np.float64)
    w[:, :K] = q.codes.astype(np.int32) - z
    # float64 products and sums of these small integers are exact (< 2^53).
    xb = qx.astype(np.float64).reshape(M, nb, BLOCK)
    wb = w.reshape(N, nb, BLOCK)
    out = np.empty((M, N, nb), dtype=np.int64)
    for b in range(nb):
        out[:, :, b] = (xb[:, b, :] @ wb[:, b, :].T).astype(np.int64)
    return out


def qmatmul(x: np.ndarray, q: QuantizedWeight, bias: Optional[np.ndarray] = None) -> np.ndarray:
    """Y = X · Wᵀ + bias with the core's integer arithmetic; float64 output.

    Integer sums are exact; the per-block scaling is accumulated in float64,
    so the result differs from the core's binary32 accumulation only by the
    core's rounding.
    """
    qx, sx, _ = quantize_activations(x)
    N, K = q.codes.shape
    nb = sx.shape[1]
    sw = q.scales.astype(F32)
    lay = q.layout
    gidx = np.array([lay.group_of_block(b) for b in range(nb)])
    y = np.zeros((x.shape[0], N), dtype=np.float64)
    isum = block_sums(qx, q)
    for b in range(nb):
        scale = (sx[:, b, None] * sw[None, :, gidx[b]]).astype(F32)  # binary32 product, as in the core
        y += scale.astype(np.float64) * isum[:, :, b]
    if bias is not None:
        y += np.asarray(bias, dtype=np.float64)
    return y


def _refuse_simulated(format: str) -> None:
    if format in SIMULATED_FORMATS:
        raise ValueError(f"{format} is a simulated width (simulated: not servable): the core has no kernel "
                         "and .qasr files no layout for it, so it cannot be packed")


def pack(q: QuantizedWeight) -> bytes:
    """Packed bytes of quantized weights in the tiled layout (docs/format.md)."""
    _refuse_simulated(q.format)
    lay = q.layout
    N, K = lay.N, lay.K
    P, nb, G = lay.panels, lay.blocks, lay.groups
    zp = q.zero_points()
    # Pad rows to whole panels and K to whole blocks with the zero point, so
    # padded weights represent exactly 0.
    rows_z = np.zeros((P * PANEL, G), dtype=np.int32) if q.format == "q4a" else np.full(
        (P * PANEL, G), IMPLICIT_ZERO[q.format], dtype=np.int32)
    rows_z[:N] = zp
    u = np.empty((P * PANEL, nb * BLOCK), dtype=np.uint8)
    u[:] = rows_z[:, -1:]  # K padding belongs to the last group
    u[:N, :K] = q.codes
    u[N:, :] = rows_z[N:, :1]
    out = bytearray(lay.total_bytes)
    if q.format == "q8":
        tiles = u.reshape(P, PANEL, nb, 8, 4).transpose(0, 2, 3, 1, 4)
    else:
        t = u.reshape(P, PANEL, nb, 2, 4, 4)  # [p][n][b][half][kq][kk]
        tiles = (t[:, :, :, 0] | (t[:, :, :, 1] << 4)).transpose(0, 2, 3, 1, 4)
    out[: lay.codes_bytes] = np.ascontiguousarray(tiles).tobytes()
    sc = np.zeros((P * PANEL, G), dtype=np.float16)
    sc[:N] = q.scales
    out[lay.scales_offset: lay.scales_offset + lay.scales_bytes] = sc.reshape(P, PANEL, G).transpose(0, 2, 1).tobytes()
    if q.format == "q4a":
        zz = np.zeros((P * PANEL, G), dtype=np.uint8)
        zz[:N] = q.zeros
        out[lay.zeros_offset: lay.zeros_offset + lay.zeros_bytes] = zz.reshape(P, PANEL, G).transpose(0, 2, 1).tobytes()
    return bytes(out)


def unpack(blob: bytes, format: str, N: int, K: int, group: int = 0) -> QuantizedWeight:
    """Inverse of :func:`pack`."""
    _refuse_simulated(format)
    lay = layout(format, N, K, group)
    if len(blob) != lay.total_bytes:
        raise ValueError(f"packed blob has {len(blob)} bytes, layout needs {lay.total_bytes}")
    buf = np.frombuffer(blob, dtype=np.uint8)
    P, nb, G = lay.panels, lay.blocks, lay.groups
    if format == "q8":
        tiles = buf[: lay.codes_bytes].reshape(P, nb, 8, PANEL, 4)
        u = tiles.transpose(0, 3, 1, 2, 4).reshape(P * PANEL, nb * BLOCK)
    else:
        tiles = buf[: lay.codes_bytes].reshape(P, nb, 4, PANEL, 4).transpose(0, 3, 1, 2, 4)  # [p][n][b][kq][kk]
        lo, hi = tiles & 0x0F, tiles >> 4
        u = np.stack([lo, hi], axis=3).reshape(P * PANEL, nb * BLOCK)
    scales = np.frombuffer(buf[lay.scales_offset: lay.scales_offset + lay.scales_bytes].tobytes(), dtype=np.float16)
    scales = scales.reshape(P, G, PANEL).transpose(0, 2, 1).reshape(P * PANEL, G)[:N]
    zeros = None
    if format == "q4a":
        zeros = buf[lay.zeros_offset: lay.zeros_offset + lay.zeros_bytes].reshape(P, G, PANEL)
        zeros = zeros.transpose(0, 2, 1).reshape(P * PANEL, G)[:N].copy()
    return QuantizedWeight(format, u[:N, :K].copy(), scales.copy(), zeros, group)


def pack_f32(w: np.ndarray) -> bytes:
    """float32 W[N, K] in 16-column panels [P][K][16]."""
    w = np.ascontiguousarray(w, dtype=F32)
    N, K = w.shape
    P = -(-N // PANEL)
    padded = np.zeros((P * PANEL, K), dtype=F32)
    padded[:N] = w
    return padded.reshape(P, PANEL, K).transpose(0, 2, 1).tobytes()


def unpack_f32(blob: bytes, N: int, K: int) -> np.ndarray:
    P = -(-N // PANEL)
    a = np.frombuffer(blob, dtype=F32).reshape(P, K, PANEL).transpose(0, 2, 1).reshape(P * PANEL, K)
    return a[:N].copy()
