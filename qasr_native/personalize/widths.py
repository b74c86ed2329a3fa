"""Candidate bit widths and the packed formats that serve (or simulate) them.

The core serves 8 bits (q8, one scale per row), 4 bits (q4, symmetric,
scales per 32 inputs by default) and float32; ``32`` (float) is always a
candidate so that a generous budget keeps layers float. The research widths
2, 3, 5 and 6 have no kernels in the core: they are **simulated** with the
formats q2, q3, q5, q6 of :mod:`qasr_native.quant.formats` (the q4 formula
at that width, same groups; the size model prices them bit-packed at that
width plus f16 scales). Sensitivity, allocation and calibration accept them;
results using them are marked "simulated: not servable", evaluated with the
PyTorch mirror, and never written to a `.qasr` file.
"""

from __future__ import annotations

from typing import Dict, List, Sequence, Tuple

from ..quant.formats import BITS, FORMATS, SIMULATED_FORMATS

SERVED_WIDTHS = (4, 8, 32)
RESEARCH_WIDTHS = (2, 3, 5, 6)
#: width -> (format, group); the group of every width below 8 is --group (32 by default)
WIDTH_SPECS: Dict[int, Tuple[str, int]] = {2: ("q2", 32), 3: ("q3", 32), 4: ("q4", 32), 5: ("q5", 32),
                                           6: ("q6", 32), 8: ("q8", 0), 32: ("f32", 0)}
SPEC_WIDTH = {v: k for k, v in WIDTH_SPECS.items()}


def parse_widths(text, q4_group: int = 32) -> List[Tuple[str, int]]:
    """Candidate specs, widest first, from "4,8" or "2,3,4,5,6,8" (float32 is always added)."""
    if isinstance(text, str):
        parts = [p.strip() for p in text.split(",") if p.strip()]
    else:
        parts = list(text)
    widths = set()
    for p in parts:
        try:
            w = int(p)
        except (TypeError, ValueError):
            raise ValueError(f"width {p!r} is not an integer (candidates are bits per weight, e.g. 4,8)") from None
        if w not in WIDTH_SPECS:
            raise ValueError(f"width {w} is not supported (served: 4, 8, 32; simulated: 2, 3, 5, 6)")
        widths.add(w)
    if not widths:
        raise ValueError("no candidate widths given")
    if q4_group not in (32, 64, 128):
        raise ValueError(f"4-bit group must be 32, 64 or 128, got {q4_group}")
    widths.add(32)
    out = []
    for w in sorted(widths, reverse=True):
        fmt, group = WIDTH_SPECS[w]
        out.append((fmt, q4_group if group else 0))
    return out


def is_servable(spec) -> bool:
    """True when the core has kernels for this (format, group) or QuantizedWeight."""
    fmt = spec.format if hasattr(spec, "codes") else spec[0]
    return fmt in FORMATS


def simulated_widths(specs) -> List[int]:
    """The simulated bit widths among specs / QuantizedWeights (sorted, unique)."""
    fmts = {s.format if hasattr(s, "codes") else s[0] for s in specs}
    return sorted(BITS[f] for f in fmts if f in SIMULATED_FORMATS)


def spec_key(spec: Sequence) -> str:
    """"q4/32", "q8/0", "f32/0": a JSON-friendly name of a (format, group)."""
    return f"{spec[0]}/{spec[1]}"


def spec_bits(spec: Sequence) -> int:
    return BITS[spec[0]]
