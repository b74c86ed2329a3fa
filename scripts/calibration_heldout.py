#!/usr/bin/env python
"""Weight calibrations judged on held-out audio of the speaker: layer output error.

For every speaker s of CALIB: each layer's input moments H = X^T X are
accumulated on s's calibration clips (what `qasr personalize` sees), on the
next speaker's calibration clips (mismatched), and on s's TEST clips (held
out, never used to calibrate). Every layer is quantized at each format with
every calibration; the score is the layer's relative output error on the
held-out clips, tr(D H_test D^T) / tr(W H_test W^T) with D = W_hat - W,
averaged over the layers. No decoding: this isolates the calibration from
the allocation and from search errors, and it is fast.

  python scripts/calibration_heldout.py builtin-whisper --calib CALIB.jsonl --test TEST.jsonl \\
      --calib-per-speaker 4 --test-per-speaker 8 [--speaker-list a,b,c] [--json out.json]

Prints a markdown table: rows = calibration, columns = format, cells = mean
over speakers (and the per-speaker values with --per-speaker).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np



def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("model")
    ap.add_argument("--calib", required=True)
    ap.add_argument("--test", required=True)
    ap.add_argument("--speaker-list", default=None)
    ap.add_argument("--calib-per-speaker", type=int, default=4)
    ap.add_argument("--test-per-speaker", type=int, default=8)
    ap.add_argument("--formats", default="q8/0,q4/32", help="FORMAT/GROUP list")
    ap.add_argument("--damps", default=None,
                    help="hessian damps to compare (relative to H's mean diagonal; 'rows' = K / input rows); "
                         "default: the calibration's own")
    ap.add_argument("--per-speaker", action="store_true", help="also print each speaker's values")
    ap.add_argument("--json", default=None)
    args = ap.parse_args()

    import tempfile

    from qasr_native.data.manifest import read_manifest, write_manifest
    from qasr_native.personalize.adapters import load_adapter
    from qasr_native.personalize.calibration import HESSIAN_DAMP, calibrate
    from qasr_native.personalize.clips import ClipSet
    from qasr_native.personalize.sensitivity import measure
    from qasr_native.personalize.widths import parse_widths
    from qasr_native.quant.mirror import dequantize

    formats = [(f.split("/")[0], int(f.split("/")[1])) for f in args.formats.split(",")]
    damps = args.damps.split(",") if args.damps else [str(HESSIAN_DAMP)]
    calib, test = read_manifest(args.calib), read_manifest(args.test)
    speakers = (args.speaker_list.split(",") if args.speaker_list
                else list(dict.fromkeys(e.speaker for e in calib)))
    partner = {s: speakers[(i + 1) % len(speakers)] for i, s in enumerate(speakers)}
    adapter = load_adapter(args.model)
    layers = adapter.layers()
    cands = parse_widths("4,8")
    tmp = Path(tempfile.mkdtemp(prefix="qasr_calib_heldout_"))

    def moments(entries, tag):
        if not entries:
            raise SystemExit(f"no clips for {tag}")
        m = write_manifest(tmp / f"{tag}.jsonl", entries, relative=False)
        r = measure(adapter, ClipSet(m), "distortion", cands, layers, hessians=True, progress=None)
        return r.hessians, r.hessian_rows

    t0 = time.perf_counter()
    fit, rows, held = {}, {}, {}
    for s in speakers:
        fit[s], rows[s] = moments([e for e in calib if e.speaker == s][:args.calib_per_speaker], f"calib_{s}")
        held[s], _ = moments([e for e in test if e.speaker == s][:args.test_per_speaker], f"test_{s}")
    print(f"input moments: {time.perf_counter() - t0:.0f} s", file=sys.stderr, flush=True)

    # {(calibration, format): {speaker: [relative output error per layer]}}
    scores: dict = {}
    data_free = ("minmax", "mse", "l1")
    for l in layers:
        w = adapter.weight(l.name)
        wd = w.astype(np.float64)
        for fmt, group in formats:
            key = f"{fmt}/{group}"

            def error(m, H=None, damp=HESSIAN_DAMP):
                return (dequantize(calibrate(w, fmt, group, m, hessian=H, damp=damp)) - w).astype(np.float64)

            def damp_of(d, s):
                return w.shape[1] / max(1, rows[s][l.name]) if d == "rows" else float(d)

            free = {m: error(m) for m in data_free}
            fitted = {"cosine": {s: error("cosine", fit[s][l.name]) for s in speakers}}
            for d in damps:
                fitted[f"hessian damp {d}"] = {s: error("hessian", fit[s][l.name], damp_of(d, s)) for s in speakers}
            for s in speakers:
                Ht = held[s][l.name]
                ref = float(((wd @ Ht) * wd).sum())
                ds = dict(free, **{m: v[s] for m, v in fitted.items()})
                for d in damps:  # the file calibrated on the next speaker's clips, tested on s
                    ds[f"hessian damp {d}, partner's clips"] = fitted[f"hessian damp {d}"][partner[s]]
                for m, diff in ds.items():
                    scores.setdefault((m, key), {}).setdefault(s, []).append(float(((diff @ Ht) * diff).sum()) / ref)
        print(f"{l.name} done ({time.perf_counter() - t0:.0f} s)", file=sys.stderr, flush=True)

    cols = [f"{f}/{g}" for f, g in formats]
    methods = list(dict.fromkeys(m for m, _ in scores))
    names = [l.name for l in layers]
    parts = {"all": names, "encoder": [n for n in names if ".encoder." in n],
             "decoder": [n for n in names if ".decoder." in n]}
    parts = {k: v for k, v in parts.items() if v and (k == "all" or len(v) < len(names))}

    def avg(m, c, part):
        idx = [i for i, n in enumerate(names) if n in set(parts[part])]
        return float(np.mean([np.mean(np.asarray(v)[idx]) for v in scores[(m, c)].values()]))

    def table(part):
        v = {(m, c): avg(m, c, part) for m in methods for c in cols}
        print("| calibration | " + " | ".join(cols) + " | " + " | ".join(f"{c} vs mse" for c in cols) + " |")
        print("|---|" + "---|" * (2 * len(cols)))
        for m in methods:
            print(f"| {m} | " + " | ".join(f"{v[(m, c)]:.3e}" for c in cols) + " | "
                  + " | ".join(f"{v[(m, c)] / v[('mse', c)]:.3f}" for c in cols) + " |")

    print(f"Relative layer output error on held-out clips of the same speaker (mean over {len(layers)} layers "
          f"and {len(speakers)} speakers; lower is better; {args.calib_per_speaker} calibration clips, "
          f"{args.test_per_speaker} held-out clips per speaker)\n")
    table("all")
    for part in [p for p in parts if p != "all"]:
        print(f"\n{part} layers only ({len(parts[part])}):\n")
        table(part)
    if args.per_speaker:
        for c in cols:
            print(f"\n{c}, per speaker:\n")
            print("| calibration | " + " | ".join(speakers) + " |")
            print("|---|" + "---|" * len(speakers))
            for m in methods:
                print(f"| {m} | " + " | ".join(f"{np.mean(scores[(m, c)][s]):.3e}" for s in speakers) + " |")
    if args.json:
        Path(args.json).write_text(json.dumps(
            {"speakers": speakers, "partner": partner, "layers": names,
             "calib_rows": rows,
             "scores": {f"{m}|{c}": v for (m, c), v in scores.items()}}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
