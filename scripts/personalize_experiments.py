#!/usr/bin/env python
"""Personalization experiments: seed method vs ours, matched vs mismatched speaker.

For every held-out speaker s of CALIB (a manifest with a ``speaker`` field):
calibrate on s's clips (matched) and test on s's TEST clips; the file
calibrated on the next speaker in the list is also tested on s
(mismatched). Calibration and test clips are different files (checked).
Methods:
  seed  = median sensitivity on clips cut to 1.5625 s + myQASR round robin
          (released code order) over {32, 8, 4} with exact sizes + cosine calibration
  ours  = distortion sensitivity + exact knapsack + mse calibration
  ours-output = output (end-to-end KL) sensitivity + knapsack + mse calibration
  ours-cosine = distortion sensitivity + knapsack + cosine calibration (on the clips' activations)
  ours-hessian = distortion sensitivity + knapsack + hessian calibration (layer output error on the clips;
                 `qasr personalize`'s defaults)
  ours-fisher = fisher sensitivity + knapsack + fisher calibration (--fisher)
plus uniform int8 / int4 and the float model. Every file is written,
its size measured, and it is evaluated with `qasr eval`'s machinery (the C++
core for every `.qasr` file, Conformer and Whisper; Whisper greedy decoding
with the default repetition guard, docs/whisper.md).

  python scripts/personalize_experiments.py MODEL --calib CALIB.jsonl --test TEST.jsonl \\
      --budgets 0.17x,0.21x,0.25x --out work/exp_conformer
Writes OUT/results.json (with every utterance's word errors) and OUT/results.md
(the table in docs/personalization.md, then paired bootstraps: each method against
the seed, and matched against mismatched calibration; qasr_native.evaluation.significance);
with --test-offset N, OUT/results_from_test_clip_N.{json,md}. scripts/personalize_pooled.py
pools several runs' speakers.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections import OrderedDict
from pathlib import Path

import numpy as np


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("model")
    ap.add_argument("--calib", required=True)
    ap.add_argument("--test", required=True)
    ap.add_argument("--budgets", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--speakers", type=int, default=None, help="first N speakers only")
    ap.add_argument("--speaker-list", default=None, help="comma-separated speakers to use (in this order)")
    ap.add_argument("--calib-per-speaker", type=int, default=None)
    ap.add_argument("--test-per-speaker", type=int, default=None)
    ap.add_argument("--test-offset", type=int, default=0,
                    help="skip each speaker's first N test clips (a replication on clips not tested before)")
    ap.add_argument("--reuse", action="store_true",
                    help="evaluate the personalized files already in OUT instead of making them again")
    ap.add_argument("--fisher", action="store_true", help="also run ours-fisher")
    ap.add_argument("--methods", default=None, help="comma-separated subset of seed,ours,ours-output,ours-cosine,ours-hessian,ours-fisher")
    ap.add_argument("--no-mismatched", action="store_true")
    ap.add_argument("--no-uniform", action="store_true", help="skip the float / uniform int8 / int4 rows")
    args = ap.parse_args()

    import torch

    torch.set_num_threads(1)
    from _speaker_sets import speaker_sets
    from qasr_native.data.manifest import read_manifest
    from qasr_native.evaluation.metrics import error_rates, utterance_word_errors
    from qasr_native.evaluation.significance import paired_bootstrap
    from qasr_native.evaluation.runner import make_transcriber
    from qasr_native.personalize.adapters import load_adapter
    from qasr_native.personalize.allocation import knapsack, myqasr
    from qasr_native.personalize.calibration import NEEDS_INPUT_MOMENTS, calibrate_assignment
    from qasr_native.personalize.clips import ClipSet
    from qasr_native.personalize.pipeline import SEED_CLIP_SECONDS, _write, pack
    from qasr_native.personalize.sensitivity import measure
    from qasr_native.personalize.size import parse_budget
    from qasr_native.personalize.widths import parse_widths

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    t_all = time.perf_counter()
    adapter = load_adapter(args.model)
    cands = parse_widths("4,8")
    names = [l.name for l in adapter.layers()]
    float_size = adapter.float_size()
    budgets = [b.strip() for b in args.budgets.split(",")]

    speakers, calib_sets, tests = speaker_sets(args.calib, args.test, out, args.speaker_list, args.calib_per_speaker,
                                               args.test_per_speaker, args.test_offset, args.speakers)
    partner = {s: speakers[(i + 1) % len(speakers)] for i, s in enumerate(speakers)}  # mismatched calibration

    per_utt = {}  # (row label, speaker) -> [(word errors, words)] for the paired comparison

    def wer(path, s, label=None):
        t = make_transcriber(str(path), "auto")
        hyps = [t(a) for a, _ in tests[s]]
        refs = [r for _, r in tests[s]]
        if label is not None:
            per_utt[(label, s)] = utterance_word_errors(refs, hyps)
        return error_rates(refs, hyps).wer, t.kind

    results = {"model": args.model, "float_size": float_size, "speakers": speakers, "partner": partner,
               "calib_clips": {s: len(read_manifest(calib_sets[s])) for s in speakers},
               "test_clips": {s: len(tests[s]) for s in speakers}, "rows": []}
    log = open(out / "log.txt", "a")

    def note(msg):
        print(msg, flush=True)
        log.write(msg + "\n")
        log.flush()

    # baselines: float, uniform int8 / int4 (min-max)
    for prec in () if args.no_uniform else ("float32", "int8", "int4"):
        path = out / f"uniform_{prec}.qasr"
        r = pack(adapter, prec, path)
        wers = {}
        for s in speakers:
            wers[s], kind = wer(path, s, f"uniform {prec}")
        results["rows"].append({"method": f"uniform {prec}", "budget": None, "size": r["actual_size"],
                                "matched": wers, "mismatched": None, "backend": kind,
                                "utterances": {s: per_utt[(f"uniform {prec}", s)] for s in speakers}})
        note(f"uniform {prec}: {r['actual_size']} B, WER {np.mean(list(wers.values())):.2f} ({kind})")

    all_methods = OrderedDict((m[0], m) for m in [
        ("seed", "median", "myqasr", "cosine"), ("ours", "distortion", "knapsack", "mse"),
        ("ours-output", "output", "knapsack", "mse"), ("ours-cosine", "distortion", "knapsack", "cosine"),
        ("ours-hessian", "distortion", "knapsack", "hessian"),
        ("ours-fisher", "fisher", "knapsack", "fisher")])
    wanted = (args.methods.split(",") if args.methods
              else ["seed", "ours"] + (["ours-fisher"] if args.fisher else []))
    unknown = [m for m in wanted if m.strip() not in all_methods]
    if unknown:
        raise SystemExit(f"unknown methods {unknown} (expected {', '.join(all_methods)})")
    methods = [all_methods[m.strip()] for m in wanted]
    files = {}  # (method, budget, calib speaker) -> (path, size)
    stage_t = {}
    for label, sens_m, alloc_m, cal_m in methods:
        for c in speakers:
            kept = [out / f"{label}_{b}_{c}.qasr" for b in budgets]
            if args.reuse and all(p.exists() for p in kept):
                for b, p in zip(budgets, kept):
                    files[(label, b, c)] = (p, os.path.getsize(p))
                note(f"{label} calibrated on {c}: reusing {len(kept)} files")
                continue
            t0 = time.perf_counter()
            clips = ClipSet(calib_sets[c], max_seconds=SEED_CLIP_SECONDS if label == "seed" else None)
            sens = measure(adapter, clips, sens_m, cands, hessians=(cal_m in NEEDS_INPUT_MOMENTS),
                           fisher_diag=(cal_m == "fisher"), progress=None)
            stage_t.setdefault(label, []).append(time.perf_counter() - t0)
            for b in budgets:
                bb = parse_budget(b, float_size)
                prov = {"source_model": adapter.source, "method": label, "budget_bytes": bb,
                        "calibration": {"clips": sens.clips, "seconds": round(sens.seconds, 3), "speaker": c}}
                extra = {"calibration": cal_m, "activation_clipping": "none"}
                sizer = adapter.sizer(prov, extra)
                if alloc_m == "knapsack":
                    alloc = knapsack(sizer, names, cands, sens.scores(cands), bb)
                else:
                    alloc = myqasr(sizer, names, cands, sens.ranking_score(cands), bb, "code")
                q = calibrate_assignment(adapter, alloc.assignment, cal_m, sens, progress=None)
                path = out / f"{label}_{b}_{c}.qasr"
                size = _write(adapter, q, path, prov, extra, alloc.size)
                files[(label, b, c)] = (path, size)
            note(f"{label} calibrated on {c}: {stage_t[label][-1]:.1f} s")
    for label, *_ in methods:
        for b in budgets:
            matched, mismatched, sizes = {}, {}, {}
            for s in speakers:
                path, size = files[(label, b, s)]
                matched[s], kind = wer(path, s, (label, b))
                sizes[s] = size
                if not args.no_mismatched:
                    mismatched[s], _ = wer(files[(label, b, partner[s])][0], s, (label, b, "mismatched"))
            row = {"method": label, "budget": b, "budget_bytes": parse_budget(b, float_size),
                   "size": max(sizes.values()), "sizes": sizes, "matched": matched,
                   "mismatched": mismatched or None, "backend": kind,
                   "utterances": {s: per_utt[((label, b), s)] for s in speakers}}
            results["rows"].append(row)
            note(f"{label} {b}: size <= {row['size']} B, WER matched {np.mean(list(matched.values())):.2f}"
                 + (f", mismatched {np.mean(list(mismatched.values())):.2f}" if mismatched else ""))
    # is a method's WER really lower than the seed's at the same budget? (paired bootstrap, matched calibration)
    results["paired"] = [
        {"method": label, "budget": b, "against": "seed",
         **paired_bootstrap({s: per_utt[(("seed", b), s)] for s in speakers},
                            {s: per_utt[((label, b), s)] for s in speakers}).to_dict()}
        for label, *_ in methods if label != "seed" and "seed" in [m[0] for m in methods] for b in budgets]
    # does calibrating on the test speaker's own clips beat calibrating on another speaker's?
    # (paired: same test utterances; per budget, and over all budgets with (speaker, budget) groups)
    if not args.no_mismatched:
        results["paired_mismatched"] = []
        for label, *_ in methods:
            for bs in [[b] for b in budgets] + ([budgets] if len(budgets) > 1 else []):
                matched = {(s, b): per_utt[((label, b), s)] for s in speakers for b in bs}
                other = {(s, b): per_utt[((label, b, "mismatched"), s)] for s in speakers for b in bs}
                results["paired_mismatched"].append(
                    {"method": label, "budget": bs[0] if len(bs) == 1 else "all",
                     **paired_bootstrap(other, matched).to_dict()})
    results["sensitivity_seconds_per_calib_set"] = {k: round(float(np.mean(v)), 1) for k, v in stage_t.items()}
    results["test_offset"] = args.test_offset
    results["wall_s"] = round(time.perf_counter() - t_all, 1)
    name = f"results_from_test_clip_{args.test_offset}" if args.test_offset else "results"
    (out / f"{name}.json").write_text(json.dumps(results, indent=1))
    (out / f"{name}.md").write_text(table(results))
    print(table(results))
    return 0


def table(res: dict) -> str:
    sp = res["speakers"]
    head = "| method | budget | max size (B) | " + " | ".join(sp) + " | mean matched | mean mismatched |"
    lines = [head, "|" + "---|" * (len(sp) + 5)]
    for r in res["rows"]:
        m = r["matched"]
        mm = r.get("mismatched")
        cells = [f"{m[s]:.1f}" for s in sp]
        lines.append(f"| {r['method']} | {r['budget'] or '-'} | {r['size']} | " + " | ".join(cells)
                     + f" | {np.mean([m[s] for s in sp]):.2f} | "
                     + (f"{np.mean([mm[s] for s in sp]):.2f}" if mm else "-") + " |")
    if res.get("paired"):
        lines += ["", "Paired bootstrap over utterances (resampled within each speaker, 10000 resamples): "
                  "mean-over-speakers WER of the method minus the seed's, 95 % interval, and the share of "
                  "resamples in which the method is better.", "",
                  "| method | budget | WER − seed | 95 % interval | P(better) | utterances | words |",
                  "|---|---|---|---|---|---|---|"]
        for p in res["paired"]:
            lines.append(f"| {p['method']} | {p['budget']} | {p['delta']:+.2f} | [{p['low']:+.2f}, {p['high']:+.2f}] "
                         f"| {p['p_b_better']:.3f} | {p['utterances']} | {p['words']} |")
    if res.get("paired_mismatched"):
        lines += ["", "Matched vs mismatched calibration, paired bootstrap over the same test utterances: "
                  "WER with the speaker's own calibration clips minus WER with the next speaker's "
                  "(negative: matched is better), 95 % interval, share of resamples in which matched is better.",
                  "", "| method | budget | matched − mismatched | 95 % interval | P(matched better) |",
                  "|---|---|---|---|---|"]
        for p in res["paired_mismatched"]:
            lines.append(f"| {p['method']} | {p['budget']} | {p['delta']:+.2f} | [{p['low']:+.2f}, {p['high']:+.2f}] "
                         f"| {p['p_b_better']:.3f} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
