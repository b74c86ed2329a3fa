"""`qasr info FILE`: what a .qasr model file holds and where its bytes go.

Prints the header summary (model family and hyperparameters, front end,
tokenizer, provenance), the tensor table, the precision mix of the packed
matrices and a size breakdown whose parts sum to the file size. ``--json``
gives the same as one JSON object. The file is read and validated by the
pure-Python reader (qasr_native.export.qasr_file), checksums included unless
``--no-verify``.
"""

from __future__ import annotations

import json
from typing import Any

FORMAT_ORDER = ("q4", "q4a", "q8", "f32")
BREAKDOWN_LABELS = {
    "packed_codes": "packed codes",
    "scales": "scales",
    "zero_points": "zero points",
    "float_tensors": "float tensors",
    "other_tensors": "other tensors",
    "header": "header",
    "padding": "padding",
}


def describe(path: str, verify: bool = True) -> dict:
    """Everything `qasr info` reports, as a JSON-serializable dict."""
    from ..export.qasr_file import read_qasr

    c = read_qasr(path, verify=verify)
    tensors = []
    mix: dict[str, dict[str, Any]] = {}
    for e in c.entries:
        s = e.spec
        row: dict[str, Any] = {"name": s.name, "shape": list(s.shape), "offset": e.offset, "nbytes": e.nbytes,
                               "crc32": f"{e.crc32:08x}"}
        if s.packed:
            row.update(format=s.format, group=s.group)
            m = mix.setdefault(s.format, {"matrices": 0, "weights": 0, "bytes": 0})
            m["matrices"] += 1
            m["weights"] += s.numel
            m["bytes"] += e.nbytes
        else:
            row["dtype"] = s.dtype
        tensors.append(row)
    total_weights = sum(m["weights"] for m in mix.values())
    for m in mix.values():
        m["share"] = m["weights"] / total_weights if total_weights else 0.0
        m["bits_per_weight"] = 8 * m["bytes"] / m["weights"] if m["weights"] else 0.0
    ordered = {f: mix[f] for f in FORMAT_ORDER if f in mix}
    ordered.update({f: v for f, v in mix.items() if f not in ordered})
    packed_bytes = sum(m["bytes"] for m in mix.values())
    breakdown = c.breakdown()
    header = {k: v for k, v in c.header.items() if k != "tensors"}
    return {
        "file": path,
        "file_size": c.file_size,
        "format_version": f"{c.version[0]}.{c.version[1]}",
        "header_bytes": c.header_size,
        "data_offset": c.data_offset,
        "checksums_verified": verify,
        "header": header,
        "tensors": tensors,
        "precision_mix": {
            "formats": ordered,
            "matrices": sum(m["matrices"] for m in mix.values()),
            "weights": total_weights,
            "bytes": packed_bytes,
            "bits_per_weight": 8 * packed_bytes / total_weights if total_weights else 0.0,
        },
        "size_breakdown": breakdown.as_dict(),
    }


def _n(v: int) -> str:
    return f"{v:,}"


def _short(v: Any, width: int = 72) -> str:
    text = v if isinstance(v, str) else json.dumps(v, ensure_ascii=False)
    return text if len(text) <= width else text[: width - 3] + "..."


def _section_lines(title: str, section: Any) -> list[str]:
    if not isinstance(section, dict) or not section:
        return []
    lines = [f"{title}"]
    for k, v in section.items():
        lines.append(f"  {k + ':':<22} {_short(v)}")
    return lines


def _tokenizer_lines(tok: Any) -> list[str]:
    if not isinstance(tok, dict) or not tok:
        return []
    size = tok.get("vocab_size")
    if size is None:
        lists = [v for v in tok.values() if isinstance(v, list)]
        size = len(lists[0]) if lists else None
    head = f"tokenizer   {tok.get('kind', tok.get('type', '?'))}"
    if size is not None:
        head += f", {_n(int(size))} tokens"
    lines = [head]
    for k, v in tok.items():
        if not isinstance(v, (list, dict)) and k not in ("kind", "type"):
            lines.append(f"  {k + ':':<22} {_short(v)}")
    return lines


def format_text(d: dict) -> str:
    """The human-readable report."""
    size = d["file_size"]
    hdr = d["header"]
    model = hdr.get("model", {})
    out = [
        f"file        {d['file']}",
        f"size        {_n(size)} bytes ({size / 1e6:.3f} MB, {size / 2**20:.3f} MiB)",
        f"format      {d['format_version']}, {len(d['tensors'])} tensors, {_n(d['header_bytes'])} bytes of JSON header"
        + ("" if d["checksums_verified"] else " (checksums not verified)"),
        f"model       {model.get('family', '?')}",
    ]
    for k, v in model.items():
        if k != "family":
            out.append(f"  {k + ':':<22} {_short(v)}")
    out += _section_lines("frontend", hdr.get("frontend"))
    out += _tokenizer_lines(hdr.get("tokenizer"))
    out += _section_lines("quantization", hdr.get("quantization"))
    out += _section_lines("provenance", hdr.get("provenance"))
    for k, v in hdr.items():
        if k not in ("format_version", "model", "frontend", "tokenizer", "quantization", "provenance"):
            out += _section_lines(k, v) if isinstance(v, dict) else [f"{k:<11} {_short(v)}"]

    def group(t: dict) -> str:
        if t.get("format") in (None, "f32"):
            return ""
        return str(t["group"]) if t["group"] else "row"

    rows = [(t["name"], "[" + ", ".join(str(s) for s in t["shape"]) + "]", t.get("format", t.get("dtype")),
             group(t), _n(t["nbytes"])) for t in d["tensors"]]
    if rows:
        w = [max(len(r[i]) for r in rows + [("name", "shape", "type", "group", "bytes")]) for i in range(5)]
        out += ["", "tensors",
                f"  {'name':<{w[0]}}  {'shape':<{w[1]}}  {'type':<{w[2]}}  {'group':>{w[3]}}  {'bytes':>{w[4]}}"]
        for r in rows:
            out.append(f"  {r[0]:<{w[0]}}  {r[1]:<{w[1]}}  {r[2]:<{w[2]}}  {r[3]:>{w[3]}}  {r[4]:>{w[4]}}")

    mix = d["precision_mix"]
    if mix["matrices"]:
        out += ["", "precision mix (packed matrices; bits/weight include scales and zero points)",
                f"  {'format':<7} {'matrices':>8} {'weights':>14} {'share':>7} {'bytes':>14} {'bits/weight':>11}"]
        for f, m in mix["formats"].items():
            out.append(f"  {f:<7} {m['matrices']:>8} {_n(m['weights']):>14} {100 * m['share']:>6.1f}% "
                       f"{_n(m['bytes']):>14} {m['bits_per_weight']:>11.2f}")
        out.append(f"  {'all':<7} {mix['matrices']:>8} {_n(mix['weights']):>14} {100.0:>6.1f}% "
                   f"{_n(mix['bytes']):>14} {mix['bits_per_weight']:>11.2f}")

    bd = d["size_breakdown"]
    out += ["", "size breakdown"]
    for key, label in BREAKDOWN_LABELS.items():
        share = 100 * bd[key] / size if size else 0.0
        out.append(f"  {label:<14} {_n(bd[key]):>14} bytes {share:>6.2f}%")
    out.append(f"  {'total':<14} {_n(bd['file_size']):>14} bytes (= file size)")
    assert sum(bd[k] for k in BREAKDOWN_LABELS) == size  # the breakdown is exact by construction
    return "\n".join(out)


def run(args) -> int:
    d = describe(args.file, verify=not args.no_verify)
    if args.json:
        print(json.dumps(d, indent=2, ensure_ascii=False))
    else:
        print(format_text(d))
    return 0


def register(sub) -> None:
    p = sub.add_parser("info", help="describe a .qasr model file: header, tensors, precision mix, size breakdown")
    p.add_argument("file", help="the .qasr file")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of text")
    p.add_argument("--no-verify", action="store_true", help="skip the checksums (structure is still validated)")
    p.set_defaults(func=run)
