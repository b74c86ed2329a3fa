"""`qasr personalize MODEL CLIPS --budget 1.2MB -o user.qasr [--report DIR]`.

MODEL: a Conformer ``.pt``/``.qasr``, ``builtin``, or a Whisper directory
(``builtin-whisper``). CLIPS: a folder of the user's audio (searched
recursively) or a JSONL/TSV manifest; transcripts are never used.
Budgets: ``12MB`` (10^6 bytes), ``12MiB`` (2^20), ``900KB``, bytes, or
``0.3x`` / ``30%`` of the float32 file. See docs/personalization.md.
"""

from __future__ import annotations

import json
import sys

from ..personalize.calibration import DEFAULT as DEFAULT_CALIBRATION
from ..personalize.calibration import METHODS as CALIBRATIONS


def run(args) -> int:
    import torch

    torch.set_num_threads(max(1, args.threads))
    from ..personalize.adapters import load_adapter
    from ..personalize.clips import ClipSet
    from ..personalize.pipeline import SEED_CLIP_SECONDS, personalize
    from ..personalize.report import layer_table_text, summary_text, write_report

    model = args.model_opt or args.model
    calib = args.calib or args.clips
    if not model or not calib:
        raise ValueError("give MODEL and CLIPS (positionally or as --model / --calib)")
    sensitivity, allocation, calibration = args.sensitivity, args.allocation, args.calibration
    order = args.order
    clip_seconds = args.clip_seconds
    if args.seed:  # the seed method as published: median, round robin (released order), cosine, 1.56 s clips
        sensitivity, allocation, calibration = "median", "myqasr", "cosine"
        order = args.order or "code"
        clip_seconds = clip_seconds or SEED_CLIP_SECONDS
    adapter = load_adapter(model)
    clips = ClipSet(calib, max_clips=args.max_clips, max_seconds=clip_seconds)
    report, qassign = personalize(adapter, clips, args.budget, args.output, widths=args.widths,
                                  sensitivity=sensitivity, allocation=allocation, order=order or "paper",
                                  calibration=calibration, q4_group=args.group, progress=not args.quiet,
                                  return_quantized=True)
    if not args.quiet:
        print(layer_table_text(report))
        print()
    print(summary_text(report))
    points = None
    if args.eval:
        points = _evaluate(args, report, clips, adapter, qassign)
    if args.report:
        d = write_report(report, args.report, points)
        print(f"report: {d / 'report.md'}")
    if args.json:
        json.dump(report, sys.stdout, indent=1, default=str)
        print()
    return 0


def _evaluate(args, report: dict, clips, adapter, qassign) -> list:
    """WER of the float model, uniform int8 / int4 and the personalized file on --eval;
    the points of the report's WER-vs-size plot. Files run in the C++ core; a
    simulated result (no file) runs in memory in the PyTorch mirror of the
    core's arithmetic (``adapter.quantized``) and is labelled so."""
    import os
    import tempfile

    from ..evaluation import evaluate, make_transcriber
    from ..evaluation.runner import Transcriber
    from ..personalize.pipeline import pack

    from ..data.manifest import read_manifest

    shared = ({os.path.realpath(p) for p in clips.paths}
              & {os.path.realpath(e.path) for e in read_manifest(args.eval)})
    if shared:  # the seed evaluated on its own calibration clips; say so loudly
        msg = f"{len(shared)} calibration clips are also in the evaluation set: these WERs are not a fair test"
        print(f"warning: {msg}", file=sys.stderr)
        report.setdefault("notes", []).append(msg)
    simulated = bool(report.get("simulated"))
    with tempfile.TemporaryDirectory() as tmp:
        files = {"float32": os.path.join(tmp, "float32.qasr"), "uniform int8": os.path.join(tmp, "int8.qasr"),
                 "uniform int4": os.path.join(tmp, "int4.qasr")}
        for label, prec in (("float32", "float32"), ("uniform int8", "int8"), ("uniform int4", "int4")):
            pack(adapter, prec, files[label])
        ts = [make_transcriber(p, "auto", args.threads) for p in files.values()]
        sizes = [os.path.getsize(p) for p in files.values()]
        labels = list(files)
        if simulated:
            labels.append("personalized (simulated: not servable)")
            ts.append(Transcriber("personalized-simulated", adapter.transcribe, "torch-mirror"))
            sizes.append(report["predicted_size"])
        else:
            labels.append("personalized")
            ts.append(make_transcriber(args.output, "auto", args.threads))
            sizes.append(os.path.getsize(args.output))
        with adapter.quantized(qassign if simulated else {}):  # the mirror runs only the simulated model
            res = evaluate(ts, args.eval, progress=not args.quiet)
        points = []
        print(f"\nevaluation on {args.eval} ({res['utterances']} utterances):")
        for label, size, t in zip(labels, sizes, ts):
            r = res["models"][t.name]
            points.append({"label": label, "size": size, "wer": r["wer"], "cer": r["cer"], "backend": t.kind})
            print(f"  {label:<14} {size:>11} B  WER {r['wer']:6.2f}  CER {r['cer']:6.2f}  ({t.kind})")
    report["evaluation"] = {"manifest": str(args.eval), "points": points}
    return points


def register(sub) -> None:
    p = sub.add_parser("personalize", help="quantize a model for a user's clips to an exact size budget")
    p.add_argument("model", nargs="?", help="Conformer .pt/.qasr, 'builtin', or a Whisper directory")
    p.add_argument("clips", nargs="?", help="folder of the user's clips, or a JSONL/TSV manifest")
    p.add_argument("--model", dest="model_opt", help="same as the MODEL argument")
    p.add_argument("--calib", help="same as the CLIPS argument")
    p.add_argument("--budget", required=True, help="12MB, 12MiB, 900KB, bytes, 0.3x or 30%% of float32")
    p.add_argument("--widths", default="4,8",
                   help="candidate bit widths (float32 is always one), default 4,8; the research widths 2,3,5,6 are "
                        "simulated: a result using them is not written, only reported (and evaluated with --eval "
                        "in the PyTorch mirror)")
    p.add_argument("--group", type=int, default=32, choices=(32, 64, 128),
                   help="inputs per scale of 4-bit layers (default 32; 64/128 are smaller, coarser)")
    p.add_argument("--sensitivity", default="distortion", choices=("median", "distortion", "fisher", "output"),
                   help="median (the seed's), distortion (layer output error; default), fisher (weighted by the "
                        "Fisher of each clip's own transcript), output (end to end: KL of the model's output with "
                        "each layer alone quantized; slowest, about 130 passes per clip for Whisper tiny)")
    p.add_argument("--allocation", default="knapsack", choices=("knapsack", "myqasr"))
    p.add_argument("--order", default=None, choices=("paper", "code"),
                   help="myqasr sort order: the paper's (least sensitive lowered first; the default) or the "
                        "released code's (the default with --seed)")
    p.add_argument("--calibration", default=DEFAULT_CALIBRATION, choices=CALIBRATIONS,
                   help="weight scales per (row, group): hessian (the layer's output error on the clips; default), "
                        "mse, l1, cosine (the seed's), fisher, minmax")
    p.add_argument("--seed", action="store_true",
                   help="the seed method: median + myqasr (code order) + cosine on 1.5625 s clips")
    p.add_argument("--max-clips", type=int, default=None, help="use the first N clips")
    p.add_argument("--clip-seconds", type=float, default=None, help="cut each clip to its first seconds")
    p.add_argument("-o", "--output", required=True, help="output .qasr path")
    p.add_argument("--report", help="write report.md, report.json and plots into this folder")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.add_argument("--eval", help="a test manifest (never the calibration clips): WER of float32, uniform "
                                  "int8/int4 and the result, and a WER-vs-size plot in the report")
    p.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    p.add_argument("--quiet", action="store_true", help="no progress bars or layer table")
    p.set_defaults(func=run)
