"""Candidate bit widths and the packed formats that serve them.

The core serves 8 bits (q8, one scale per row), 4 bits (q4, symmetric,
scales per 32 inputs) and float32; ``32`` (float) is always a candidate so
that a generous budget keeps layers float. Other widths (2, 3, 5, 6) have
no kernels yet and are refused with a clear error rather than simulated
silently.
"""

from __future__ import annotations

from typing import Dict, List, Sequence, Tuple

WIDTH_SPECS: Dict[int, Tuple[str, int]] = {4: ("q4", 32), 8: ("q8", 0), 32: ("f32", 0)}
SPEC_WIDTH = {v: k for k, v in WIDTH_SPECS.items()}
RESEARCH_WIDTHS = (2, 3, 5, 6)


def parse_widths(text, q4_group: int = 32) -> List[Tuple[str, int]]:
    """Candidate specs, widest first, from "4,8" (float32 is always added)."""
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
        if w in RESEARCH_WIDTHS:
            raise ValueError(f"width {w} has no kernel in the core yet (served widths: 4, 8, 32); "
                             "it cannot be packed")
        if w not in WIDTH_SPECS:
            raise ValueError(f"width {w} is not supported (served widths: 4, 8, 32)")
        widths.add(w)
    if not widths:
        raise ValueError("no candidate widths given")
    if q4_group not in (32, 64, 128):
        raise ValueError(f"4-bit group must be 32, 64 or 128, got {q4_group}")
    widths.add(32)
    out = []
    for w in sorted(widths, reverse=True):
        fmt, group = WIDTH_SPECS[w]
        out.append((fmt, q4_group if fmt == "q4" else group))
    return out


def spec_key(spec: Sequence) -> str:
    """"q4/32", "q8/0", "f32/0": a JSON-friendly name of a (format, group)."""
    return f"{spec[0]}/{spec[1]}"


def spec_bits(spec: Sequence) -> int:
    return {"f32": 32, "q8": 8, "q4": 4, "q4a": 4}[spec[0]]
