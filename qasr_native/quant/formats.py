"""Weight formats and the packed byte layout (mirror of csrc/kernels/packed.cc)."""

from __future__ import annotations

from dataclasses import dataclass

PANEL = 16  # output columns per panel
BLOCK = 32  # activation block along K
ALIGN = 64

FORMATS = ("f32", "q8", "q4", "q4a")  # what the core serves (and .qasr files hold)
# Research widths with no kernel in the core: the q4 formula at b bits
# (symmetric, codes in [-2^(b-1), 2^(b-1) - 1], scale = signed max / -2^(b-1),
# same groups). The mirror quantizes and runs them (simulation) and the size
# model prices them bit-packed at b bits, but they cannot be packed or written.
SIMULATED_FORMATS = ("q2", "q3", "q5", "q6")
BITS = {"f32": 32, "q8": 8, "q4": 4, "q4a": 4, "q2": 2, "q3": 3, "q5": 5, "q6": 6}
IMPLICIT_ZERO = {"q8": 128, "q4": 8, "q2": 2, "q3": 4, "q5": 16, "q6": 32}
QRANGE = {"q8": (-127, 127), "q4": (-8, 7), "q2": (-2, 1), "q3": (-4, 3), "q5": (-16, 15), "q6": (-32, 31)}
# The group a format gets when none is asked for: per row for q8 (its
# kernels are fastest and 8 bits rarely need finer scales), 32 below 8 bits.
DEFAULT_GROUP = {"f32": 0, "q8": 0, "q4": 32, "q4a": 32, "q2": 32, "q3": 32, "q5": 32, "q6": 32}
GROUPS = {"q8": (32, 64, 128, 0), "q4": (32, 64, 128), "q4a": (32, 64, 128),
          "q2": (32, 64, 128), "q3": (32, 64, 128), "q5": (32, 64, 128), "q6": (32, 64, 128)}


def _align(v: int, a: int = ALIGN) -> int:
    return (v + a - 1) // a * a


def _ceil_div(a: int, b: int) -> int:
    return -(-a // b)


@dataclass(frozen=True)
class Layout:
    """Sizes and section offsets of one packed matrix W[N, K]."""

    format: str
    N: int
    K: int
    group: int
    panels: int
    blocks: int
    groups: int
    block_bytes: int
    codes_offset: int
    codes_bytes: int
    scales_offset: int
    scales_bytes: int
    zeros_offset: int
    zeros_bytes: int
    total_bytes: int

    @property
    def simulated(self) -> bool:
        """A research width the core does not serve (priced, never packed)."""
        return self.format in SIMULATED_FORMATS

    @property
    def group_size(self) -> int:
        """Inputs per group (K for per-row groups)."""
        return self.K if self.group == 0 else self.group

    def group_of_block(self, b: int) -> int:
        return 0 if self.group == 0 else b * BLOCK // self.group


def layout(format: str, N: int, K: int, group: int = 0) -> Layout:
    """The packed layout of W[N, K]; raises ValueError on unsupported arguments.

    Simulated formats (q2, q3, q5, q6) get the q4 layout at their width: each
    32 x 16 block holds 16 * 32 * b / 8 bytes of codes, then f16 scales per
    (row, group) -- what a core kernel for that width would read.
    """
    if format not in FORMATS and format not in SIMULATED_FORMATS:
        raise ValueError(f"unknown weight format {format!r} (expected one of {', '.join(FORMATS)}; "
                         f"simulated: {', '.join(SIMULATED_FORMATS)})")
    if N <= 0 or K <= 0:
        raise ValueError(f"packed matrix shape [{N}, {K}] is invalid")
    P = _ceil_div(N, PANEL)
    if format == "f32":
        if group != 0:
            raise ValueError(f"f32 matrices take no group (got {group})")
        n = P * K * PANEL * 4
        return Layout(format, N, K, 0, P, 0, 0, 0, 0, n, 0, 0, 0, 0, n)
    if group not in GROUPS[format]:
        raise ValueError(
            f"group {group} is not supported for {format} "
            "(q8: 32, 64, 128 or 0 = per row; q4/q4a and simulated widths: 32, 64, 128)"
        )
    nb = _ceil_div(K, BLOCK)
    G = 1 if group == 0 else _ceil_div(K, group)
    block_bytes = PANEL * BLOCK * BITS[format] // 8
    codes_bytes = P * nb * block_bytes
    scales_offset = _align(codes_bytes)
    scales_bytes = P * G * PANEL * 2
    total = scales_offset + scales_bytes
    zeros_offset = zeros_bytes = 0
    if format == "q4a":
        zeros_offset = _align(total)
        zeros_bytes = P * G * PANEL
        total = zeros_offset + zeros_bytes
    return Layout(format, N, K, group, P, nb, G, block_bytes, 0, codes_bytes, scales_offset,
                  scales_bytes, zeros_offset, zeros_bytes, total)


def matrix_nbytes(format: str, N: int, K: int, group: int = 0) -> int:
    """Bytes of a packed W[N, K] (``layout(...).total_bytes``) without packing anything.

    This is what a packed matrix costs in a .qasr file before alignment; the
    bit allocator calls it for every (layer, format) candidate.
    """
    return layout(format, N, K, group).total_bytes
