"""personalize() and pack(): from a model (+ clips + budget) to a `.qasr` file.

Stages (each timed for the report): load clips -> sensitivity (streaming,
one clip at a time) -> allocation (exact sizes) -> calibration (per row and
group) -> write (predicted size checked against the file on disk).
"""

from __future__ import annotations

import os
import resource
import time
from pathlib import Path
from typing import Dict, Optional

from .adapters import load_adapter
from .adapters.base import LinearAdapter
from .allocation import ALLOCATIONS, knapsack, myqasr, seed_bits
from .calibration import DEFAULT as DEFAULT_CALIBRATION
from .calibration import METHODS as CALIBRATIONS
from .calibration import NEEDS_INPUT_MOMENTS, calibrate_assignment
from .clips import ClipSet
from .sensitivity import METHODS as SENSITIVITIES
from .sensitivity import measure
from .size import format_bytes, parse_budget
from .widths import parse_widths, simulated_widths, spec_bits, spec_key

#: The seed's setting: clips cut to 25000 samples (1.5625 s), median, released sort order, cosine.
SEED_CLIP_SECONDS = 25000 / 16000


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _layer_table(adapter: LinearAdapter, assignment: Dict[str, object], sens=None) -> list:
    rows = []
    for l in adapter.layers():
        spec = assignment.get(l.name, ("f32", 0))
        fmt, group = (spec.format, spec.group) if hasattr(spec, "codes") else spec
        row = {"layer": l.name, "shape": list(l.shape), "role": l.role, "format": fmt, "group": group,
               "bits": spec_bits((fmt, group))}
        if sens is not None:
            if sens.median:
                row["median"] = sens.median.get(l.name)
            if sens.rel_mse:
                row["rel_mse"] = sens.rel_mse.get(l.name)
            if sens.fisher:
                row["fisher"] = sens.fisher.get(l.name)
            if sens.output_kl:
                row["output_kl"] = sens.output_kl.get(l.name)
        rows.append(row)
    return rows


def _write(adapter: LinearAdapter, assignment: Dict[str, object], out, provenance: dict, extra: dict,
           predicted: int) -> int:
    w = adapter.writer(assignment, {**provenance, "predicted_size": predicted}, extra)
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    w.write(out)
    actual = os.path.getsize(out)
    if actual != predicted:
        raise RuntimeError(f"{out}: the file has {actual} bytes, the size model predicted {predicted} (a bug)")
    return actual


def measure_for(adapter: LinearAdapter, clips: ClipSet, *, sensitivity: str = "distortion",
                calibration: str = DEFAULT_CALIBRATION, widths="4,8", q4_group: int = 32, progress: bool = True):
    """The sensitivity pass of ``personalize`` (same arguments), on its own."""
    return measure(adapter, clips, sensitivity, parse_widths(widths, q4_group), adapter.layers(),
                   hessians=(calibration in NEEDS_INPUT_MOMENTS), fisher_diag=(calibration == "fisher"),
                   progress="sensitivity" if progress else None)


def personalize(adapter: LinearAdapter, clips: ClipSet, budget, out, *, widths="4,8",
                sensitivity: str = "distortion", allocation: str = "knapsack", order: str = "paper",
                calibration: str = DEFAULT_CALIBRATION, q4_group: int = 32, progress: bool = True,
                return_quantized: bool = False, sens=None):
    """Personalize ``adapter``'s model to ``clips`` under ``budget`` and write ``out``; returns the report dict
    (and the calibrated per-layer assignment with ``return_quantized``).

    With simulated research widths among ``widths`` (2, 3, 5, 6), a result that
    uses one of them is **not written** (the core cannot serve it): the report
    says ``"simulated": True`` with the size model's predicted bytes and
    ``actual_size`` None, and the calibrated assignment (``return_quantized``)
    runs in the PyTorch mirror via ``adapter.quantized``. A result that happens
    to use only served widths is written as usual.

    ``sens``: a ``Sensitivity`` already measured on ``clips`` with this
    ``sensitivity`` method and these widths (``measure_for``), so that a budget
    sweep measures once (the measurement does not depend on the budget).
    """
    if sensitivity not in SENSITIVITIES:
        raise ValueError(f"unknown sensitivity {sensitivity!r} (expected {', '.join(SENSITIVITIES)})")
    if allocation not in ALLOCATIONS:
        raise ValueError(f"unknown allocation {allocation!r} (expected {', '.join(ALLOCATIONS)})")
    if calibration not in CALIBRATIONS:
        raise ValueError(f"unknown calibration {calibration!r} (expected {', '.join(CALIBRATIONS)})")
    if allocation == "knapsack" and sensitivity == "median":
        raise ValueError("the median score has no per-width cost for the knapsack; use --allocation myqasr "
                         "with --sensitivity median, or --sensitivity distortion|fisher|output")
    t_start = time.perf_counter()
    timings: Dict[str, float] = {}
    candidates = parse_widths(widths, q4_group)
    layers = adapter.layers()
    names = [l.name for l in layers]
    float_size = adapter.float_size()
    budget_bytes = parse_budget(budget, float_size)

    t = time.perf_counter()
    if sens is None:
        sens = measure_for(adapter, clips, sensitivity=sensitivity, calibration=calibration, widths=widths,
                           q4_group=q4_group, progress=progress)
        timings["sensitivity"] = time.perf_counter() - t

    method = f"{allocation}{'-' + order if allocation == 'myqasr' else ''}+{sensitivity}+{calibration}"
    provenance = {
        "source_model": adapter.source,
        "method": method,
        "calibration": {"clips": sens.clips, "seconds": round(sens.seconds, 3), "skipped": len(sens.skipped),
                        "source": clips.source, "scales": calibration},
        "budget_bytes": budget_bytes,
        "budget": str(budget),
    }
    extra = {"calibration": calibration, "activation_clipping": "none",
             "allocation": allocation, "sensitivity": sensitivity}
    sizer = adapter.sizer(provenance, extra)

    t = time.perf_counter()
    if allocation == "knapsack":
        alloc = knapsack(sizer, names, candidates, sens.scores(candidates), budget_bytes)
    else:
        alloc = myqasr(sizer, names, candidates, sens.ranking_score(candidates), budget_bytes, order)
    timings["allocation"] = time.perf_counter() - t

    t = time.perf_counter()
    qassign = calibrate_assignment(adapter, alloc.assignment, calibration, sens,
                                   progress="calibration" if progress else None)
    timings["calibration"] = time.perf_counter() - t

    sim = simulated_widths(alloc.assignment.values())
    notes = list(alloc.notes)
    if sim:
        actual = None
        notes.append(f"simulated: not servable -- widths {', '.join(map(str, sim))} have no kernel in the core; "
                     f"no file was written ({out} untouched); size is the size model's prediction")
    else:
        t = time.perf_counter()
        actual = _write(adapter, qassign, out, provenance, extra, alloc.size)
        timings["write"] = time.perf_counter() - t
    timings["total"] = time.perf_counter() - t_start

    report = {
        "output": None if sim else str(out),
        "simulated": bool(sim),
        "simulated_widths": sim,
        "model": adapter.describe(),
        "method": method,
        "budget_bytes": budget_bytes,
        "budget": str(budget),
        "float_size": float_size,
        "predicted_size": alloc.size,
        "actual_size": actual,
        "notes": notes,
        "candidates": [spec_key(c) for c in candidates],
        "estimated_damage": alloc.estimated_damage,
        "layers": _layer_table(adapter, alloc.assignment, sens),
        "size_breakdown": sizer.breakdown(alloc.assignment),
        "sensitivity": sens.to_json(),
        "timings_s": {k: round(v, 3) for k, v in timings.items()},
        "peak_rss_mb": round(peak_rss_mb(), 1),
    }
    if sensitivity == "median":  # what the seed itself would have chosen (bit by bit, simulated)
        numel = {l.name: l.numel for l in layers}
        other = sum(p.numel() for p in adapter.model.parameters()) - sum(numel.values())
        report["seed_simulation"] = seed_bits(numel, other, sens.median, budget_bytes, "code")
    if return_quantized:
        return report, qassign
    return report


def pack(adapter: LinearAdapter, precision, out, provenance: Optional[dict] = None) -> dict:
    """Pack without personalization: one precision for every layer ("float32", "int8", "int4",
    "q4a" ...) or a {layer: spec} dict (min-max scales). Returns a small report."""
    aliases = {"float32": ("f32", 0), "float": ("f32", 0), "f32": ("f32", 0), "int8": ("q8", 0),
               "q8": ("q8", 0), "int4": ("q4", 32), "q4": ("q4", 32), "q4a": ("q4a", 32)}
    names = [l.name for l in adapter.layers()]
    if isinstance(precision, str):
        if precision not in aliases:
            raise ValueError(f"precision {precision!r} is not one of {', '.join(aliases)} (or a JSON file)")
        assignment = {n: aliases[precision] for n in names}
    else:
        unknown = sorted(set(precision) - set(names))
        if unknown:
            raise ValueError(f"precision names layers the model does not have: {', '.join(unknown[:5])}")
        assignment = {}
        for n in names:
            spec = precision.get(n, "float32")
            if isinstance(spec, str):
                if spec not in aliases:
                    raise ValueError(f"layer {n}: precision {spec!r} is not one of {', '.join(aliases)}")
                spec = aliases[spec]
            elif isinstance(spec, dict):
                spec = (spec["format"], int(spec.get("group", 32 if spec["format"] in ("q4", "q4a") else 0)))
            assignment[n] = tuple(spec)
    prov = {"source_model": adapter.source, "method": "pack", **(provenance or {})}
    extra = {"calibration": "minmax", "activation_clipping": "none"}
    predicted = adapter.sizer(prov, extra).file_size(assignment)
    qassign = calibrate_assignment(adapter, assignment, "minmax", progress=None)
    actual = _write(adapter, qassign, out, prov, extra, predicted)
    return {"output": str(out), "predicted_size": predicted, "actual_size": actual,
            "float_size": adapter.float_size(), "layers": _layer_table(adapter, assignment)}


__all__ = ["personalize", "pack", "load_adapter", "ClipSet", "format_bytes", "SEED_CLIP_SECONDS"]
