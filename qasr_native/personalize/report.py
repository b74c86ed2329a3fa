"""The personalization report: markdown + JSON + PNG plots.

``write_report(report, dir)`` writes ``report.json`` (everything measured),
``report.md`` (what a person reads: the method, budget vs predicted vs
actual size, time per stage, peak memory, the per-layer width table) and
plots: bits per layer, sensitivity per layer, size breakdown, and a WER-vs-
size curve when evaluation points are given.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import List, Optional

from .size import format_bytes


def layer_table_text(report: dict) -> str:
    """A plain-text per-layer table (the CLI prints it)."""
    rows = report["layers"]
    w = max(len(r["layer"]) for r in rows) if rows else 5
    out = [f"{'layer':<{w}}  {'shape':>12}  fmt  group  bits  score"]
    for r in rows:
        score = ""
        key = next((k for k in ("rel_mse", "fisher", "output_kl") if r.get(k)), None)
        if key:
            score = f"{key} " + " ".join(f"{k}={v:.2e}" for k, v in r[key].items())
        elif r.get("median") is not None:
            score = f"median {r['median']:.4g}"
        shape = "x".join(str(d) for d in r["shape"])
        out.append(f"{r['layer']:<{w}}  {shape:>12}  {r['format']:<4} {r['group']:>5}  {r['bits']:>4}  {score}")
    return "\n".join(out)


def simulated_banner(report: dict) -> str:
    """The one-line warning every output of a simulated result carries ('' when servable)."""
    if not report.get("simulated"):
        return ""
    w = ", ".join(str(b) for b in report.get("simulated_widths", []))
    return (f"SIMULATED: NOT SERVABLE -- uses {w}-bit layers, which the C++ core cannot run; no .qasr file "
            "was written; the size is predicted, WER comes from the PyTorch mirror")


def summary_text(report: dict) -> str:
    banner = simulated_banner(report)
    actual = report.get("actual_size")
    lines = ([banner] if banner else []) + [
        f"method:         {report['method']}",
        f"budget:         {report['budget']} = {format_bytes(report['budget_bytes'])}",
        f"float32 size:   {format_bytes(report['float_size'])}",
        f"predicted size: {format_bytes(report['predicted_size'])}"
        + (" (simulated: what the file would take, bit-packed)" if banner else ""),
        f"actual size:    {format_bytes(actual) if actual is not None else 'none (simulated: not servable, not written)'}",
    ]
    sens = report.get("sensitivity", {})
    if sens:
        lines.append(f"clips:          {sens.get('clips')} ({sens.get('seconds')} s), skipped {len(sens.get('skipped', []))}")
    lines.append("time (s):       " + ", ".join(f"{k} {v}" for k, v in report.get("timings_s", {}).items()))
    if "peak_rss_mb" in report:
        lines.append(f"peak RSS:       {report['peak_rss_mb']} MB")
    for n in report.get("notes", []):
        lines.append(f"note:           {n}")
    return "\n".join(lines)


def _plots(report: dict, out: Path, eval_points: Optional[List[dict]]) -> List[str]:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:  # plots are optional
        return []
    made = []
    rows = report["layers"]
    x = range(len(rows))
    fig, ax = plt.subplots(figsize=(max(6, len(rows) * 0.18), 3))
    ax.bar(x, [r["bits"] for r in rows])
    ax.set_xlabel("layer (module order)")
    ax.set_ylabel("bits")
    ax.set_title("bits per layer")
    fig.tight_layout()
    fig.savefig(out / "bits_per_layer.png", dpi=100)
    plt.close(fig)
    made.append("bits_per_layer.png")
    series = {}
    for r in rows:
        for key in ("rel_mse", "fisher", "output_kl"):
            if r.get(key):
                for k, v in r[key].items():
                    series.setdefault(f"{key} {k}", []).append(v)
        if r.get("median") is not None:
            series.setdefault("median |y|", []).append(r["median"])
    if series:
        fig, ax = plt.subplots(figsize=(max(6, len(rows) * 0.18), 3))
        for label, vals in series.items():
            if len(vals) == len(rows):
                ax.semilogy(list(x), [max(v, 1e-30) for v in vals], marker=".", label=label)
        ax.set_xlabel("layer (module order)")
        ax.set_title("sensitivity per layer")
        ax.legend(fontsize=7)
        fig.tight_layout()
        fig.savefig(out / "sensitivity_per_layer.png", dpi=100)
        plt.close(fig)
        made.append("sensitivity_per_layer.png")
    parts = {k: v for k, v in report.get("size_breakdown", {}).items() if k != "file_size" and v > 0}
    if parts:
        fig, ax = plt.subplots(figsize=(6, 3))
        ax.barh(list(parts), [v / 1e6 for v in parts.values()])
        ax.set_xlabel("MB (10^6 bytes)")
        ax.set_title("size breakdown")
        fig.tight_layout()
        fig.savefig(out / "size_breakdown.png", dpi=100)
        plt.close(fig)
        made.append("size_breakdown.png")
    if eval_points:
        fig, ax = plt.subplots(figsize=(5, 3.5))
        for p in eval_points:
            ax.plot([p["size"] / 1e6], [p["wer"]], marker="o", linestyle="", label=p["label"])
        ax.set_xlabel("file size (MB)")
        ax.set_ylabel("WER (%)")
        ax.legend(fontsize=7)
        fig.tight_layout()
        fig.savefig(out / "wer_vs_size.png", dpi=100)
        plt.close(fig)
        made.append("wer_vs_size.png")
    return made


def write_report(report: dict, directory, eval_points: Optional[List[dict]] = None) -> Path:
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    (out / "report.json").write_text(json.dumps(report, indent=1, default=str))
    plots = _plots(report, out, eval_points)
    md = ["# qasr personalize report", ""]
    if report.get("simulated"):
        md += [f"**{simulated_banner(report)}.**", ""]
    md += ["```", summary_text(report), "```", ""]
    for p in plots:
        md += [f"![{p}]({p})", ""]
    if report.get("evaluation"):
        md += ["## Evaluation", "", f"manifest: {report['evaluation']['manifest']}", "",
               "| model | size (B) | WER % | CER % | backend |", "|---|---|---|---|---|"]
        md += [f"| {p['label']} | {p['size']} | {p['wer']:.2f} | {p['cer']:.2f} | {p.get('backend', '')} |"
               for p in report["evaluation"]["points"]]
        md += [""]
    md += ["## Layers", "", "```", layer_table_text(report), "```", ""]
    if report.get("seed_simulation"):
        s = report["seed_simulation"]
        md += ["## The seed's own allocation (simulated, bit by bit)", "",
               f"widths {s['widths']}, seed size metric {s['seed_size_bytes']:.0f} B "
               f"(servable by the core: {s['served']})", ""]
    (out / "report.md").write_text("\n".join(md))
    return out
