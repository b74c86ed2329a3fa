#!/usr/bin/env python3
"""The paper-style quantization grid on a trained Conformer (docs/training.md).

Weights {float, q8, q4, mixed} x activations {float, int8}, post-training
quantization (min-max codes of the float model) and native QAT (a short
fine-tune from the float checkpoint through the quantizer), WER/CER on
held-out speakers, the `.qasr` size for the weights and its ratio to the
float32 file. Cells whose QAT run is missing are reported as not run.
Also streaming vs full context for several chunk sizes.

    python scripts/train_grid.py ptq   --ckpt work/runs/builtin_float/ckpt_last.pt --test work/synth/heldout_test/manifest.jsonl
    python scripts/train_grid.py qat   --weights q4 --activations int8 [--steps 300]     # one fine-tune
    python scripts/train_grid.py table --out work/grid                                  # markdown from results
    python scripts/train_grid.py chunks --ckpt CKPT --test MANIFEST
    python scripts/train_grid.py core   --model qasr_native/assets/builtin.qasr --chunk-ms 160,320,640,1280

Results are appended to OUT/results.jsonl (one JSON object per evaluation).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

try:  # the installed package, else this source tree (after scripts/dev_build.sh)
    import qasr_native  # noqa: F401
except ImportError:
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

WEIGHTS = ("float", "q8", "q4", "q4@64", "mixed")
ACTS = ("float", "int8")


def _load(ckpt):
    from qasr_native.train.trainer import load_checkpoint_model

    model, tok, _ = load_checkpoint_model(ckpt)
    return model, tok


def _size(model, tok, weights, out: Path) -> int:
    from qasr_native.export.conformer import conformer_writer
    from qasr_native.train.quant import weight_specs

    return conformer_writer(model, weight_specs(model, weights), tokenizer=tok.to_dict()).predicted_size()


def evaluate(ckpt, test, weights, acts, cache, chunks=((None, -1),)) -> dict:
    import torch

    from qasr_native.train.dataset import load_features
    from qasr_native.train.evaluate import error_rates, transcribe_features
    from qasr_native.train.quant import apply_setting

    torch.set_num_threads(1)
    model, tok = _load(ckpt)
    size = _size(model, tok, weights, Path("."))
    apply_setting(model, weights, acts, qat=False)
    fs = load_features(test, cache, progress=False)
    out = {"weights": weights, "activations": acts, "bytes": size}
    for chunk, left in chunks:
        t0 = time.time()
        hyps = transcribe_features(model, fs, tok, chunk, left)
        key = "full" if chunk is None else f"chunk{chunk}_left{left}"
        out[key] = error_rates(fs.texts, hyps)
        out[key]["decode_s"] = round(time.time() - t0, 1)
    return out


def cmd_ptq(a) -> None:
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    for w in a.weights or WEIGHTS:
        for act in a.activations or ACTS:
            r = evaluate(a.ckpt, a.test, w, act, a.cache, ((None, -1), (16, 4)))
            r.update(method="float" if (w == "float" and act == "float") else "ptq", ckpt=a.ckpt, test=a.test)
            print(json.dumps(r), flush=True)
            with open(out / "results.jsonl", "a") as f:
                f.write(json.dumps(r) + "\n")


def cmd_qat(a) -> None:
    from qasr_native.train.config import builtin_config_path, load_config
    from qasr_native.train.trainer import Trainer

    if a.from_run:  # an existing QAT run (e.g. the built-in model's): evaluate only
        from qasr_native.train.trainer import load_checkpoint_model

        run = Path(a.from_run)
        _, _, ck = load_checkpoint_model(run / "ckpt_last.pt")
        if ck["quant"]["weights"] != a.weights or ck["quant"]["activations"] != a.activations:
            raise SystemExit(f"{run} trained {ck['quant']}, not {a.weights}/{a.activations}")
        r = evaluate(run / "ckpt_last.pt", a.test, a.weights, a.activations, a.cache, ((None, -1), (16, 4)))
        r.update(method="qat", ckpt=str(run / "ckpt_last.pt"), test=a.test, qat_steps=ck["step"],
                 qat_wall_s=round(ck["wall_s"], 1))
        print(json.dumps(r), flush=True)
        with open(Path(a.out) / "results.jsonl", "a") as f:
            f.write(json.dumps(r) + "\n")
        return
    run = Path(a.out) / f"qat_{a.weights}_{a.activations}"
    cfg = load_config(str(builtin_config_path("builtin_qat4")), [
        f"init={a.init}", f"out_dir={run}", f"steps={a.steps}", "export=null",
        f'quant={json.dumps({"weights": a.weights, "activations": a.activations, "qat": True})}'])
    tr = Trainer(cfg, progress=not a.quiet, log=lambda s: print(s, file=sys.stderr))
    tr.resume()
    res = tr.fit()
    print(json.dumps(res), file=sys.stderr)
    r = evaluate(run / "ckpt_last.pt", a.test, a.weights, a.activations, a.cache, ((None, -1), (16, 4)))
    r.update(method="qat", ckpt=str(run / "ckpt_last.pt"), test=a.test, qat_steps=tr.step,
             qat_wall_s=round(tr.wall_s, 1))
    print(json.dumps(r), flush=True)
    with open(Path(a.out) / "results.jsonl", "a") as f:
        f.write(json.dumps(r) + "\n")


def cmd_chunks(a) -> None:
    settings = [(None, -1)] + [(c, left) for c in (4, 8, 16, 32) for left in (4, -1)]
    r = evaluate(a.ckpt, a.test, a.weights[0] if a.weights else "float",
                 a.activations[0] if a.activations else "float", a.cache, settings)
    r.update(method="chunks", ckpt=a.ckpt, test=a.test)
    print(json.dumps(r), flush=True)
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    with open(out / "results.jsonl", "a") as f:
        f.write(json.dumps(r) + "\n")


def cmd_core(a) -> None:
    """A .qasr through the C++ core (qasr_native.api): full context and streaming at several chunk sizes."""
    from qasr_native.api import Recognizer
    from qasr_native.data.audio import load_audio
    from qasr_native.data.manifest import read_manifest
    from qasr_native.train.evaluate import error_rates

    entries = read_manifest(a.test)
    audio = [load_audio(e.path) for e in entries]
    refs = [e.text for e in entries]
    total_s = sum(len(x) for x in audio) / 16000
    r = {"method": "core", "model": a.model, "bytes": Path(a.model).stat().st_size, "test": a.test}
    for chunk_ms in [None] + [int(c) for c in a.chunk_ms.split(",")]:
        rec = Recognizer(a.model, threads=1, chunk_ms=chunk_ms or 640, left_chunks=a.left_chunks)
        t0 = time.perf_counter()
        hyps = [rec.transcribe(x, 16000, streaming=chunk_ms is not None).text for x in audio]
        key = "full" if chunk_ms is None else f"stream{chunk_ms}ms_left{a.left_chunks}"
        r[key] = error_rates(refs, hyps)
        r[key]["rtf"] = round((time.perf_counter() - t0) / total_s, 4)
    print(json.dumps(r), flush=True)
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    with open(out / "results.jsonl", "a") as f:
        f.write(json.dumps(r) + "\n")


def cmd_table(a) -> None:
    rows = [json.loads(l) for l in open(Path(a.out) / "results.jsonl")]
    cells = {}
    for r in rows:
        if r["method"] in ("float", "ptq", "qat"):
            cells[(r["weights"], r["activations"], "qat" if r["method"] == "qat" else "ptq")] = r
    f32 = next((r["bytes"] for r in rows if r["weights"] == "float"), None)
    print("| weights | activations | method | WER full | CER full | WER 640 ms chunks | .qasr bytes | vs float32 |")
    print("|---|---|---|---|---|---|---|---|")
    for w in WEIGHTS:
        for act in ACTS:
            for m in ("ptq", "qat"):
                if w == "float" and act == "float" and m == "qat":
                    continue
                r = cells.get((w, act, m))
                label = "float" if (w == "float" and act == "float") else m.upper()
                if r is None:
                    print(f"| {w} | {act} | {label} | not run | | | | |")
                    continue
                ch = r.get("chunk16_left4", {})
                ratio = f"{f32 / r['bytes']:.2f}x" if f32 else ""
                print(f"| {w} | {act} | {label} | {100 * r['full']['wer']:.2f}% | {100 * r['full']['cer']:.2f}% | "
                      f"{100 * ch.get('wer', float('nan')):.2f}% | {r['bytes']} | {ratio} |")
    for r in rows:
        if r["method"] == "core":
            print(f"\ncore ({r['model']}, {r['bytes']} bytes): " + ", ".join(
                f"{k}: WER {100 * v['wer']:.2f}% CER {100 * v['cer']:.2f}% RTF {v['rtf']}"
                for k, v in r.items() if isinstance(v, dict) and "wer" in v))
        if r["method"] == "chunks":
            print(f"\nstreaming ({r['weights']}/{r['activations']}): " + ", ".join(
                f"{k}: WER {100 * v['wer']:.2f}%" for k, v in r.items() if isinstance(v, dict) and "wer" in v))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("command", choices=["ptq", "qat", "chunks", "core", "table"])
    ap.add_argument("--model", default="qasr_native/assets/builtin.qasr", help="core: the .qasr to run")
    ap.add_argument("--chunk-ms", default="160,320,640,1280", help="core: streaming chunk sizes")
    ap.add_argument("--left-chunks", type=int, default=4, help="core: left context in chunks")
    ap.add_argument("--ckpt", default="work/runs/builtin_float/ckpt_last.pt")
    ap.add_argument("--init", default="work/runs/builtin_float/ckpt_last.pt", help="float checkpoint QAT starts from")
    ap.add_argument("--test", default="work/synth/heldout_test/manifest.jsonl")
    ap.add_argument("--cache", default="work/cache/fbank")
    ap.add_argument("--out", default="work/grid")
    ap.add_argument("--weights", nargs="*")
    ap.add_argument("--activations", nargs="*")
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--from-run", help="qat: evaluate this finished QAT run instead of training one")
    ap.add_argument("--quiet", action="store_true")
    a = ap.parse_args()
    if a.command == "qat":
        a.weights = (a.weights or ["q4"])[0]
        a.activations = (a.activations or ["int8"])[0]
    {"ptq": cmd_ptq, "qat": cmd_qat, "chunks": cmd_chunks, "core": cmd_core, "table": cmd_table}[a.command](a)
    return 0


if __name__ == "__main__":
    sys.exit(main())
