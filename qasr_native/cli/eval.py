"""`qasr eval MODEL [MODEL ...] --manifest test.jsonl`: WER and CER, models side by side.

MODEL: a Conformer ``.pt``/``builtin`` (PyTorch, float), a ``.qasr`` file
(C++ core; ``--backend torch`` runs the PyTorch mirror of the core's
arithmetic instead) or a Whisper directory (transformers). The manifest is
JSONL (``path``, ``text`` [, ``speaker``]) or TSV (``path<TAB>text``).
Text is normalised before scoring (qasr_native.data.normalize_text:
lowercase, punctuation removed, numbers as words).
"""

from __future__ import annotations

import json
import sys


def run(args) -> int:
    import torch

    torch.set_num_threads(max(1, args.threads))
    from ..evaluation import evaluate, make_transcriber

    ts = [make_transcriber(m, args.backend, args.threads) for m in args.models]
    names = [t.name for t in ts]
    if len(set(names)) != len(names):
        raise ValueError("the same model is given twice")
    res = evaluate(ts, args.manifest, args.limit, progress=not args.quiet)
    if args.per_utterance:
        for u in res["per_utterance"]:
            print(f"REF  {u['reference']}")
            for n in names:
                print(f"HYP  {u[n]}    [{n}]")
            print()
    w = max(len(n) for n in names)
    print(f"{res['utterances']} utterances, {res['audio_seconds']} s of audio ({args.manifest})")
    print(f"{'model':<{w}}  {'WER %':>7}  {'CER %':>7}  {'words':>6}  {'RTF':>7}  backend")
    for n in names:
        r = res["models"][n]
        print(f"{n:<{w}}  {r['wer']:>7.2f}  {r['cer']:>7.2f}  {r['words']:>6}  {r['rtf']:>7.4f}  {r['kind']}")
        for s, sr in (r.get("per_speaker") or {}).items():
            print(f"{'  ' + s:<{w}}  {sr['wer']:>7.2f}  {sr['cer']:>7.2f}  {sr['words']:>6}")
    paired = res.get("paired")
    if paired:
        print(f"paired bootstrap vs {paired['against']} (WER difference, mean over speakers; 95 % interval; "
              "share of resamples in which the model is better):")
        for n, p in paired["models"].items():
            print(f"{n:<{w}}  {p['delta']:+7.2f}  [{p['low']:+.2f}, {p['high']:+.2f}]  P(better) {p['p_b_better']:.3f}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(res, f, indent=1)
        print(f"wrote {args.json}", file=sys.stderr)
    return 0


def register(sub) -> None:
    p = sub.add_parser("eval", help="WER/CER of one or more models on a manifest, side by side")
    p.add_argument("models", nargs="+", metavar="MODEL", help="Conformer .pt/.qasr/builtin or a Whisper directory")
    p.add_argument("--manifest", required=True, help="JSONL or TSV of path and text")
    p.add_argument("--backend", default="auto", choices=("auto", "core", "torch"),
                   help=".qasr files: the C++ core (auto/core) or the PyTorch mirror (torch)")
    p.add_argument("--limit", type=int, default=None, help="first N utterances only")
    p.add_argument("--per-utterance", action="store_true", help="print every reference and hypothesis")
    p.add_argument("--json", help="write the full result (per utterance too) to this file")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(func=run)
