"""`qasr bench runtime`: the Conformer-CTC executor against the peers.

The same random-weight model (``tiny`` and ``small`` presets) runs as:

- qasr: our C++ executor through ``qasr_native.api.Recognizer``, weights
  f32, q8, q4 and mixed (q8 for attention and the head, q4 elsewhere),
  full-utterance (``transcribe``) and streaming (``Stream.accept_waveform``
  in chunk-sized pieces);
- PyTorch eager float32 (``ConformerCTC.forward``, full utterance);
- ONNX Runtime float32 and ``quantize_dynamic`` int8 of the same model
  exported to ONNX (full utterance).

Every contender starts from the same audio and computes the same fbank
(``_core.fbank``) and greedy CTC decoding is not timed for the peers
(it is part of ours; it costs microseconds). Each (contender, threads) runs
in its own worker process, so peak RSS (VmHWM) is the contender's
own; the driver runs all workers round-robin ``--rounds`` times and keeps
the median, so load on a shared machine lands on all of them alike.

Reported: real-time factor (processing seconds per audio second), per-chunk
latency of streaming (median and 95th percentile of one ``accept_waveform``
call carrying one chunk of audio), process peak RSS (VmHWM) and how much of it
came after the imports (model, buffers, run).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Dict, List, Optional

import numpy as np

SIZES = ("tiny", "small")
PRECISIONS = ("f32", "q8", "q4", "mixed")
SAMPLE_RATE = 16000


# ---------------------------------------------------------------------------
# Inputs


def bench_audio(seconds: float, seed: int = 0) -> np.ndarray:
    """Speech-like test signal: harmonic tones with a moving pitch in noise."""
    rng = np.random.default_rng(seed)
    n = int(seconds * SAMPLE_RATE)
    t = np.arange(n) / SAMPLE_RATE
    f0 = 120 + 40 * np.sin(2 * np.pi * 0.7 * t)
    phase = 2 * np.pi * np.cumsum(f0) / SAMPLE_RATE
    x = sum(np.sin(k * phase) / k for k in range(1, 8))
    x = 0.2 * x * (0.6 + 0.4 * np.sin(2 * np.pi * 3 * t)) + 0.01 * rng.standard_normal(n)
    return x.astype(np.float32)


def mixed_spec(model) -> dict:
    """q8 for attention projections and the CTC head, q4 (group 32) elsewhere."""
    from ..quant.torch_mirror import linear_layers

    return {n: ("q8", 0) if (".attn." in n or n == "head") else ("q4", 32) for n, _ in linear_layers(model)}


def prepare_models(size: str, out: Path, vocab: int = 256, seed: int = 0) -> Dict[str, str]:
    """Write the model in every form the contenders load; returns paths by name."""
    import torch

    from ..export.conformer import export_conformer
    from ..models.conformer import ConformerConfig, ConformerCTC

    torch.manual_seed(seed)
    model = ConformerCTC(ConformerConfig.preset(size, vocab)).eval()
    pieces = ["<blank>"] + [f"<t{i}>" for i in range(1, vocab)]
    tok = {"kind": "char", "pieces": pieces, "blank": 0}
    paths: Dict[str, str] = {}
    for prec in PRECISIONS:
        p = out / f"{size}-{prec}.qasr"
        export_conformer(model, p, mixed_spec(model) if prec == "mixed" else prec, tokenizer=tok)
        paths[f"qasr-{prec}"] = str(p)
    pt = out / f"{size}.pt"
    torch.save({"config": model.config.to_dict(), "state": model.state_dict()}, pt)
    paths["torch"] = str(pt)
    onnx_f32 = out / f"{size}.onnx"
    _export_onnx(model, onnx_f32)
    paths["ort-f32"] = str(onnx_f32)
    from onnxruntime.quantization import QuantType, quantize_dynamic

    onnx_i8 = out / f"{size}-int8.onnx"
    quantize_dynamic(str(onnx_f32), str(onnx_i8), weight_type=QuantType.QInt8)
    paths["ort-int8"] = str(onnx_i8)
    return paths


def _export_onnx(model, path: Path) -> None:
    import torch

    class Logits(torch.nn.Module):
        def __init__(self, m):
            super().__init__()
            self.m = m

        def forward(self, feats):
            return self.m(feats)[0]

    feats = torch.randn(1, 400, model.config.n_mels)
    torch.onnx.export(Logits(model), (feats,), str(path), input_names=["feats"], output_names=["logits"],
                      dynamic_axes={"feats": {1: "frames"}, "logits": {1: "out_frames"}}, dynamo=False,
                      opset_version=17)


# ---------------------------------------------------------------------------
# Workers (one process each)


def _status_mb(field: str) -> float:
    """VmRSS / VmHWM of this process in MB. Not ru_maxrss: Linux carries that
    high-water mark across exec, so a worker would report its parent's."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024.0
    raise RuntimeError(f"{field} not in /proc/self/status")


def _rss_mb() -> float:
    return _status_mb("VmRSS")


def _peak_rss_mb() -> float:
    return _status_mb("VmHWM")


def _fbank(audio: np.ndarray) -> np.ndarray:
    from .. import _core

    return _core.fbank(audio, SAMPLE_RATE, 80)


def _worker(spec: dict) -> dict:
    threads = int(spec["threads"])
    audio = bench_audio(spec["seconds"])
    duration = audio.shape[0] / SAMPLE_RATE
    impl, runs = spec["impl"], int(spec["runs"])
    chunk_lat: List[float] = []
    if impl.startswith("qasr"):
        from ..api import Recognizer

        base = _rss_mb()
        rec = Recognizer(spec["path"], threads=threads, chunk_ms=spec["chunk_ms"], left_chunks=spec["left_chunks"])
        if spec["mode"] == "full":
            def run() -> None:
                rec.transcribe(audio, sample_rate=SAMPLE_RATE)
        else:
            piece = int(spec["chunk_ms"] * SAMPLE_RATE / 1000)

            def run() -> None:
                s = rec.stream()
                for i in range(0, audio.shape[0], piece):
                    t0 = time.perf_counter()
                    s.accept_waveform(audio[i:i + piece], SAMPLE_RATE)
                    chunk_lat.append(time.perf_counter() - t0)
                s.finish()
    elif impl == "torch":
        import torch

        from ..models.conformer import ConformerConfig, ConformerCTC

        torch.set_num_threads(threads)
        base = _rss_mb()
        ckpt = torch.load(spec["path"])
        model = ConformerCTC(ConformerConfig.from_dict(ckpt["config"])).eval()
        model.load_state_dict(ckpt["state"])

        def run() -> None:
            with torch.inference_mode():
                model(torch.from_numpy(_fbank(audio))[None])[0].argmax(-1)
    elif impl.startswith("ort"):
        import onnxruntime as ort

        base = _rss_mb()
        so = ort.SessionOptions()
        so.intra_op_num_threads = threads
        so.inter_op_num_threads = 1
        sess = ort.InferenceSession(spec["path"], so, providers=["CPUExecutionProvider"])

        def run() -> None:
            sess.run(None, {"feats": _fbank(audio)[None]})[0].argmax(-1)
    else:
        raise ValueError(f"unknown contender {impl!r}")
    run()  # warm-up: first-call allocations, lazy initialisation
    chunk_lat.clear()
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        run()
        times.append(time.perf_counter() - t0)
    out = {"rtf": statistics.median(times) / duration, "peak_rss_mb": _peak_rss_mb(),
           "model_rss_mb": _peak_rss_mb() - base}
    if chunk_lat:
        lat = sorted(chunk_lat)
        out["chunk_ms_median"] = 1000 * statistics.median(lat)
        out["chunk_ms_p95"] = 1000 * lat[min(len(lat) - 1, int(0.95 * len(lat)))]
    return out


# ---------------------------------------------------------------------------
# Driver


def _contenders(paths: Dict[str, str], modes: List[str]) -> List[dict]:
    out = []
    for prec in PRECISIONS:
        for mode in modes:
            out.append({"name": f"qasr {prec} {mode}", "impl": f"qasr-{prec}", "path": paths[f"qasr-{prec}"],
                        "mode": mode})
    out.append({"name": "torch f32 full", "impl": "torch", "path": paths["torch"], "mode": "full"})
    out.append({"name": "ORT f32 full", "impl": "ort-f32", "path": paths["ort-f32"], "mode": "full"})
    out.append({"name": "ORT int8 full", "impl": "ort-int8", "path": paths["ort-int8"], "mode": "full"})
    return out


def _run_worker(spec: dict) -> dict:
    env = dict(os.environ)
    env["OMP_NUM_THREADS"] = str(spec["threads"])
    r = subprocess.run([sys.executable, "-m", "qasr_native.bench.runtime", "--worker", json.dumps(spec)],
                       capture_output=True, text=True, env=env)
    if r.returncode != 0:
        raise RuntimeError(f"worker {spec['name']} ({spec['threads']} threads) failed:\n{r.stderr[-3000:]}")
    return json.loads(r.stdout.strip().splitlines()[-1])


def run(sizes: List[str], threads: List[int], seconds: float, rounds: int, runs: int, chunk_ms: int,
        left_chunks: int, modes: List[str], progress: bool = True) -> List[dict]:
    rows: List[dict] = []
    with tempfile.TemporaryDirectory(prefix="qasr-bench-runtime-") as tmp:
        for size in sizes:
            paths = prepare_models(size, Path(tmp))
            sizes_b = {k: os.path.getsize(v) for k, v in paths.items()}
            for t in threads:
                specs = [dict(c, threads=t, seconds=seconds, runs=runs, chunk_ms=chunk_ms, left_chunks=left_chunks)
                         for c in _contenders(paths, modes)]
                results: Dict[str, List[dict]] = {s["name"]: [] for s in specs}
                for r in range(rounds):
                    order = specs[r % len(specs):] + specs[: r % len(specs)]
                    for s in order:
                        if progress:
                            print(f"[{size} t={t} round {r + 1}/{rounds}] {s['name']}", file=sys.stderr, flush=True)
                        results[s["name"]].append(_run_worker(s))
                for s in specs:
                    res = results[s["name"]]
                    row = {"model": size, "threads": t, "contender": s["name"], "mode": s["mode"],
                           "file_bytes": sizes_b[s["impl"]]}
                    for key in res[0]:
                        row[key] = statistics.median(x[key] for x in res)
                    rows.append(row)
    return rows


def markdown(rows: List[dict]) -> str:
    lines = []
    for (size, t) in sorted({(r["model"], r["threads"]) for r in rows}, key=lambda k: (SIZES.index(k[0]), k[1])):
        group = [r for r in rows if r["model"] == size and r["threads"] == t]
        peers = [r for r in group if not r["contender"].startswith("qasr")]
        best_peer = min(peers, key=lambda r: r["rtf"]) if peers else None
        ort_rss = next((r["peak_rss_mb"] for r in group if r["contender"] == "ORT f32 full"), None)
        lines.append(f"\n#### {size}, {t} thread{'s' if t > 1 else ''}\n")
        lines.append("| contender | file MB | RTF | speed vs best peer | chunk ms (median / p95) | peak RSS MB | model RSS MB |")
        lines.append("|---|---|---|---|---|---|---|")
        for r in group:
            ratio = f"{best_peer['rtf'] / r['rtf']:.2f}x" if best_peer else "-"
            lat = (f"{r['chunk_ms_median']:.1f} / {r['chunk_ms_p95']:.1f}" if "chunk_ms_median" in r else "-")
            lines.append(f"| {r['contender']} | {r['file_bytes'] / 1e6:.2f} | {r['rtf']:.4f} | {ratio} | {lat} | "
                         f"{r['peak_rss_mb']:.0f} | {r['model_rss_mb']:.0f} |")
        if best_peer:
            lines.append(f"\nBest peer: {best_peer['contender']}; ORT f32 peak RSS {ort_rss:.0f} MB.")
    return "\n".join(lines)


def register(sub) -> None:
    p = sub.add_parser("runtime", help="Conformer-CTC executor vs PyTorch and ONNX Runtime (RTF, latency, RSS)")
    p.add_argument("--sizes", default="tiny,small", help="model presets (default: tiny,small)")
    p.add_argument("--threads", default="1,2", help="thread counts (default: 1,2)")
    p.add_argument("--seconds", type=float, default=8.0, help="audio length (default: 8 s)")
    p.add_argument("--rounds", type=int, default=3, help="round-robin rounds over all contenders (default: 3)")
    p.add_argument("--runs", type=int, default=3, help="timed runs inside each worker (default: 3)")
    p.add_argument("--chunk-ms", type=int, default=640, help="streaming chunk (default: 640 ms)")
    p.add_argument("--left-chunks", type=int, default=4, help="streaming left context in chunks (default: 4)")
    p.add_argument("--modes", default="stream,full", help="our modes (default: stream,full)")
    p.add_argument("--json", metavar="PATH", help="also write the rows as JSON")
    p.set_defaults(func=_main)


def _main(args) -> int:
    rows = run(args.sizes.split(","), [int(t) for t in args.threads.split(",")], args.seconds, args.rounds,
               args.runs, args.chunk_ms, args.left_chunks, args.modes.split(","))
    print(f"Conformer-CTC runtime, {args.seconds:g} s of audio, chunk {args.chunk_ms} ms, "
          f"{args.left_chunks} left chunks; {platform.processor() or platform.machine()}, "
          f"load {os.getloadavg()[0]:.1f}")
    print(markdown(rows))
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--worker":
        print(json.dumps(_worker(json.loads(sys.argv[2]))))
    else:
        ap = argparse.ArgumentParser(prog="qasr bench runtime")
        register(ap.add_subparsers())
        sys.exit(1)
