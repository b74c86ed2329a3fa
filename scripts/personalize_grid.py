#!/usr/bin/env python
"""Personalization grid: allocation x sensitivity x calibration x budget, per held-out speaker.

For every speaker s of CALIB (a manifest with a ``speaker`` field) the
sensitivity of every layer is measured once per method on s's calibration
clips (full clips; the input moments for cosine calibration come from the
distortion pass), then for every configuration ``ALLOC+SENS+CAL`` and
budget an allocation is made, calibrated and evaluated on s's TEST clips
(different files, checked):

- servable allocations (every layer f32 / q8 / q4) are written to a
  ``.qasr`` file (predicted size == file size, checked) and decoded by the
  C++ core (``qasr eval``'s transcriber);
- allocations using a simulated research width (2, 3, 5, 6 bits: no kernel
  in the core) are NOT written: their size is the size model's prediction
  and their WER comes from the PyTorch mirror of the core's arithmetic
  (``adapter.quantized``: the same integer products, int8 activation
  blocks); such rows are marked ``simulated``.

Identical (assignment, calibration, calibration speaker, test speaker) results are evaluated once.

  python scripts/personalize_grid.py builtin --calib CALIB.jsonl --test TEST.jsonl \\
      --budgets 0.19x,0.22x,0.26x --out work/grid
  python scripts/personalize_grid.py builtin ... --widths 2,3,4,5,6,8 \\
      --configs knapsack+distortion+mse,knapsack+fisher+mse --budgets 0.12x,0.15x,0.19x --out work/grid_research

Writes OUT/results.json and OUT/results.md.
"""

from __future__ import annotations

import argparse
import hashlib
import itertools
import json
import os
import sys
import time
from collections import OrderedDict
from pathlib import Path

import numpy as np

ALLOCS = ("myqasr-paper", "myqasr-code", "knapsack")
SENS = ("median", "distortion", "fisher")  # the default grid; "output" (slow) only when named in --configs
CALS = ("minmax", "mse", "cosine")  # also "l1", "hessian", "fisher" by --calibrations or --configs


def default_configs(cals=CALS):
    return [f"{a}+{s}+{c}" for a, s, c in itertools.product(ALLOCS, SENS, cals) if not (a == "knapsack" and s == "median")]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("model")
    ap.add_argument("--calib", required=True)
    ap.add_argument("--test", required=True)
    ap.add_argument("--budgets", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--widths", default="4,8", help="candidate widths (2,3,5,6 are simulated)")
    ap.add_argument("--configs", default=None, help="comma-separated ALLOC+SENS+CAL (default: the full grid)")
    ap.add_argument("--calibrations", default=",".join(CALS), help="calibrations of the default grid")
    ap.add_argument("--speaker-list", default=None)
    ap.add_argument("--calib-per-speaker", type=int, default=None)
    ap.add_argument("--test-per-speaker", type=int, default=None)
    ap.add_argument("--uniform", action="store_true", help="also the float / uniform int8 / int4 rows")
    ap.add_argument("--mismatched", action="store_true",
                    help="also test each result on the previous speaker of the list (the file calibrated on "
                         "speaker i+1 tested on speaker i: mismatched calibration, as in personalize_experiments.py)")
    ap.add_argument("--also-mirror", action="store_true",
                    help="also decode servable results with the PyTorch mirror (checks the simulation path "
                         "against the core on the same files)")
    args = ap.parse_args()

    import torch

    torch.set_num_threads(1)
    from tqdm import tqdm

    from _speaker_sets import speaker_sets
    from qasr_native.data.manifest import read_manifest
    from qasr_native.evaluation.metrics import error_rates
    from qasr_native.evaluation.runner import make_transcriber
    from qasr_native.personalize.adapters import load_adapter
    from qasr_native.personalize.allocation import knapsack, myqasr
    from qasr_native.personalize.calibration import NEEDS_INPUT_MOMENTS, calibrate
    from qasr_native.personalize.clips import ClipSet
    from qasr_native.personalize.pipeline import _write, pack
    from qasr_native.personalize.sensitivity import measure
    from qasr_native.personalize.size import parse_budget
    from qasr_native.personalize.widths import is_servable, parse_widths, spec_key

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    t_all = time.perf_counter()
    adapter = load_adapter(args.model)
    cands = parse_widths(args.widths)
    names = [l.name for l in adapter.layers()]
    float_size = adapter.float_size()
    budgets = [b.strip() for b in args.budgets.split(",")]
    configs = ([c.strip() for c in args.configs.split(",") if c.strip()] if args.configs
               else default_configs([c.strip() for c in args.calibrations.split(",")]))
    for c in configs:
        a, s, k = c.split("+")
        if a not in ALLOCS or s not in SENS + ("output",) or (a == "knapsack" and s == "median"):
            raise SystemExit(f"bad config {c!r}")

    speakers, calib_sets, tests = speaker_sets(args.calib, args.test, out, args.speaker_list, args.calib_per_speaker,
                                               args.test_per_speaker)

    log = open(out / "log.txt", "a")

    def note(msg):
        print(msg, flush=True)
        log.write(msg + "\n")
        log.flush()

    prev = {speakers[(i + 1) % len(speakers)]: sp for i, sp in enumerate(speakers)}  # prev[c] is calibrated on c

    def wer_file(path, s):
        t = make_transcriber(str(path), "core")
        hyps = [t(a) for a, _ in tests[s]]
        er = error_rates([r for _, r in tests[s]], hyps)
        return er.wer, er.cer, t.kind

    def wer_mirror(qassign, s):
        with adapter.quantized(qassign):
            hyps = [adapter.transcribe(a) for a, _ in tests[s]]
        er = error_rates([r for _, r in tests[s]], hyps)
        return er.wer, er.cer, "torch-mirror"

    results = {"model": args.model, "float_size": float_size, "speakers": speakers, "widths": args.widths,
               "calib_clips": {s: len(read_manifest(calib_sets[s])) for s in speakers},
               "test_clips": {s: len(tests[s]) for s in speakers}, "rows": []}
    if args.uniform:
        for prec in ("float32", "int8", "int4"):
            path = out / f"uniform_{prec}.qasr"
            r = pack(adapter, prec, path)
            per = {s: wer_file(path, s) for s in speakers}
            results["rows"].append({"config": f"uniform {prec}", "budget": "-", "sizes": {s: r["actual_size"] for s in speakers},
                                    "simulated": False, "wer": {s: v[0] for s, v in per.items()},
                                    "cer": {s: v[1] for s, v in per.items()}, "backend": "core"})
            note(f"uniform {prec}: {r['actual_size']} B, WER {np.mean([v[0] for v in per.values()]):.2f}")

    needed_sens = sorted({c.split("+")[1] for c in configs})
    needed_cals = sorted({c.split("+")[2] for c in configs})
    # (test speaker, calibration speaker, assignment digest, calibration) -> (wer, cer, backend): cosine and
    # fisher scales depend on the calibration speaker's clips, so the calibration speaker is part of the key
    cache = {}
    rows = {(c, b): {"config": c, "budget": b, "sizes": {}, "wer": {}, "cer": {}, "simulated": False,
                     "widths_used": {}} for c in configs for b in budgets}
    sens_time = {}
    need_h = any(c in NEEDS_INPUT_MOMENTS for c in needed_cals)
    for s in speakers:
        clips = ClipSet(calib_sets[s])
        sens = {}
        for m in needed_sens:
            t0 = time.perf_counter()
            sens[m] = measure(adapter, clips, m, cands, hessians=(m == "distortion" and need_h),
                              progress=None)
            sens_time.setdefault(m, []).append(time.perf_counter() - t0)
        hess = sens.get("distortion")
        if need_h and hess is None:
            hess = measure(adapter, clips, "distortion", cands, hessians=True, progress=None)
        qcache = {}  # (cal, layer, spec) -> QuantizedWeight

        def calibrated(cal, assignment):
            q = {}
            for n, spec in assignment.items():
                if spec[0] == "f32":
                    q[n] = spec
                    continue
                key = (cal, n, spec)
                if key not in qcache:
                    qcache[key] = calibrate(adapter.weight(n), spec[0], spec[1], cal,
                                            hess.hessians.get(n) if cal in NEEDS_INPUT_MOMENTS else None)
                q[n] = qcache[key]
            return q

        for c, b in tqdm(list(itertools.product(configs, budgets)), desc=s, leave=False):
            alloc_m, sens_m, cal_m = c.split("+")
            bb = parse_budget(b, float_size)
            sm = sens[sens_m]
            prov = {"source_model": adapter.source, "method": c, "budget_bytes": bb,
                    "calibration": {"clips": sm.clips, "seconds": round(sm.seconds, 3), "speaker": s}}
            extra = {"calibration": cal_m, "activation_clipping": "none"}
            sizer = adapter.sizer(prov, extra)
            if alloc_m == "knapsack":
                alloc = knapsack(sizer, names, cands, sm.scores(cands), bb)
            else:
                alloc = myqasr(sizer, names, cands, sm.ranking_score(cands), bb, alloc_m.split("-")[1])
            servable = all(is_servable(v) for v in alloc.assignment.values())
            digest = hashlib.sha1(json.dumps(sorted(alloc.assignment.items())).encode()).hexdigest()
            q = calibrated(cal_m, alloc.assignment)
            row = rows[(c, b)]
            if servable:
                path = out / "files" / f"{c}_{b}_{s}.qasr"
                size = _write(adapter, q, path, prov, extra, alloc.size)
                evaluate = lambda spk: wer_file(path, spk)  # noqa: E731  (the C++ core on the written file)
            else:
                size = alloc.size
                row["simulated"] = True
                evaluate = lambda spk: wer_mirror(q, spk)  # noqa: E731  (not servable: the mirror only)
            key = (s, s, digest, cal_m)
            if key not in cache:
                cache[key] = evaluate(s)
            if args.mismatched:
                mkey = (prev[s], s, digest, cal_m)
                if mkey not in cache:
                    cache[mkey] = evaluate(prev[s])
                row.setdefault("mismatched", {})[prev[s]] = cache[mkey][0]
            if servable:
                if args.also_mirror:
                    mkey = ("mirror", s, digest, cal_m)
                    if mkey not in cache:
                        cache[mkey] = wer_mirror(q, s)
                    row.setdefault("wer_mirror", {})[s] = cache[mkey][0]
                os.unlink(path)  # keep the disk small; the size was checked against the prediction
            row["sizes"][s] = size
            row["wer"][s], row["cer"][s], row.setdefault("backends", {})[s] = cache[key]
            row["widths_used"][s] = sorted({spec_key(v) for v in alloc.assignment.values()})
        note(f"{s}: done ({time.perf_counter() - t_all:.0f} s so far)")
    results["rows"] += list(rows.values())
    results["sensitivity_seconds_per_calib_set"] = {k: round(float(np.mean(v)), 1) for k, v in sens_time.items()}
    results["wall_s"] = round(time.perf_counter() - t_all, 1)
    (out / "results.json").write_text(json.dumps(results, indent=1))
    (out / "results.md").write_text(table(results) + "\n" + pivot(results))
    print(table(results) + "\n" + pivot(results))
    return 0


def pivot(res: dict) -> str:
    """Mean WER over speakers: one row per ALLOC+SENS, one column per (calibration, budget)."""
    sp = res["speakers"]
    rows = [r for r in res["rows"] if "+" in r["config"]]
    budgets = list(OrderedDict.fromkeys(r["budget"] for r in rows))
    cals = list(OrderedDict.fromkeys(r["config"].rsplit("+", 1)[1] for r in rows))
    heads = list(OrderedDict.fromkeys(r["config"].rsplit("+", 1)[0] for r in rows))
    by = {(r["config"], r["budget"]): r for r in rows}
    cols = [(c, b) for c in cals for b in budgets]
    lines = ["| allocation+sensitivity | " + " | ".join(f"{c} {b}" for c, b in cols) + " |",
             "|" + "---|" * (len(cols) + 1)]
    for h in heads:
        cells = []
        for c, b in cols:
            r = by.get((f"{h}+{c}", b))
            cells.append("" if r is None else f"{np.mean([r['wer'][s] for s in sp]):.2f}"
                         + ("*" if r.get("simulated") else ""))
        lines.append(f"| {h} | " + " | ".join(cells) + " |")
    sizes = {b: max(max(r["sizes"].values()) for r in rows if r["budget"] == b) for b in budgets}
    return "\n".join(lines) + "\n\nlargest file per budget (B): " + ", ".join(f"{b}: {v}" for b, v in sizes.items()) + "\n"


def table(res: dict) -> str:
    sp = res["speakers"]
    lines = ["| config | budget | max size (B) | mean WER % | mean CER % | mean WER % mismatched | "
             + " | ".join(f"{s} WER" for s in sp) + " |", "|" + "---|" * (len(sp) + 6)]
    for r in res["rows"]:
        tag = " (simulated: not servable)" if r.get("simulated") else ""
        mm = r.get("mismatched")
        lines.append(f"| {r['config']}{tag} | {r['budget']} | {max(r['sizes'].values())} | "
                     f"{np.mean([r['wer'][s] for s in sp]):.2f} | {np.mean([r['cer'][s] for s in sp]):.2f} | "
                     + (f"{np.mean([mm[s] for s in sp]):.2f}" if mm and len(mm) == len(sp) else "-") + " | "
                     + " | ".join(f"{r['wer'][s]:.1f}" for s in sp) + " |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
