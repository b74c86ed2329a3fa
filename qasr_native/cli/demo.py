"""`qasr demo`: the first command after install (offline, about a minute).

1. Clips of a voice the built-in model never heard: synthesized with
   espeak-ng (held-out speaker, calibration sentences apart from test
   sentences), or the clips shipped in the package when espeak-ng is
   missing (then the same four clips calibrate and test: said so).
2. Personalize the built-in model to a size budget from the calibration
   clips (label-free: transcripts unused).
3. Stream one test clip through the C++ core, printing partial results.
4. A table: float32 (the built-in model's weights dequantized), the
   built-in 4-bit model and the personalized one: size, WER, real-time factor.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

DEMO_VOICE = "sc-f4-p60-s160"  # held out: Scottish accent, f4 vocal tract never used in training


def _clips(workdir: Path, voice: str, n_calib: int, n_test: int, log) -> tuple[Path, list, str]:
    """(calibration folder or manifest, test entries, description)."""
    from ..data.demo import demo_entries, demo_manifest_path
    from ..data.espeak import espeak_available

    if espeak_available():
        from ..data.manifest import read_manifest
        from ..data.speakers import Speaker
        from ..data.synth import synthesize_dataset

        spk = Speaker.from_id(voice)
        t = time.perf_counter()
        synthesize_dataset(workdir / "calib", [spk], n_calib, text_split="dev", seed=11, jobs=1)
        synthesize_dataset(workdir / "test", [spk], n_test, text_split="test", seed=12, jobs=1)
        log(f"synthesized {n_calib} calibration + {n_test} test clips of held-out voice {voice} "
            f"with espeak-ng in {time.perf_counter() - t:.1f} s")
        return workdir / "calib" / "manifest.jsonl", read_manifest(workdir / "test" / "manifest.jsonl"), voice
    entries = demo_entries()
    log("espeak-ng not found: using the 4 clips shipped in the package for calibration and test "
        "(the same clips: the WER is optimistic)")
    return demo_manifest_path(), entries, entries[0].speaker or "shipped clips"


def _evaluate(rec, entries) -> dict:
    from ..data.audio import load_audio
    from ..train.evaluate import error_rates

    hyps, refs, audio_s, dec_s = [], [], 0.0, 0.0
    for e in entries:
        x = load_audio(e.path)
        t = time.perf_counter()
        res = rec.transcribe(x, sample_rate=16000)
        dec_s += time.perf_counter() - t
        audio_s += len(x) / 16000
        hyps.append(res.text)
        refs.append(e.text)
    r = error_rates(refs, hyps)
    r["rtf"] = dec_s / audio_s
    r["hyps"] = hyps
    return r


def run_demo(args) -> int:
    from ..api import Recognizer
    from ..data.audio import load_audio

    try:  # personalization needs torch; the WER, jiwer
        import jiwer  # noqa: F401
        import torch

        from ..personalize.adapters import load_adapter
        from ..personalize.clips import ClipSet
        from ..personalize.pipeline import personalize
    except ImportError as e:
        raise RuntimeError(f"qasr demo personalizes the built-in model and needs torch and jiwer ({e}); "
                           "install them with: pip install 'qasr-native[personalize]'") from None

    torch.set_num_threads(max(1, args.threads))
    t_all = time.perf_counter()
    log = lambda s: print(s, flush=True)  # noqa: E731
    with tempfile.TemporaryDirectory(prefix="qasr-demo-") as tmp:
        work = Path(args.keep) if args.keep else Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        calib, test, voice = _clips(work, args.voice, args.calib_clips, args.test_clips, log)

        # The built-in model and its float32 twin (same weights, dequantized).
        adapter = load_adapter("builtin")
        builtin_path = Path(adapter.source)
        f32_path = work / "builtin_f32.qasr"
        from ..export.conformer import export_conformer

        export_conformer(adapter.model, f32_path, "f32", tokenizer=adapter.tokenizer,
                         provenance={"derived_from": "builtin.qasr, dequantized to float32 for comparison"})

        t = time.perf_counter()
        out = work / "personalized.qasr"
        report = personalize(adapter, ClipSet(calib), args.budget, out, progress=False)
        log(f"personalized the built-in model to {report['actual_size']} bytes (budget {args.budget}) from "
            f"{report['sensitivity'].get('clips', '?')} unlabelled clips in {time.perf_counter() - t:.1f} s "
            f"({report['method']})")

        # Streaming through the C++ core, partial results as they change.
        rec = Recognizer(str(out), threads=args.threads, chunk_ms=args.chunk_ms)
        e = test[0]
        x = load_audio(e.path)
        log(f"\nstreaming {Path(e.path).name} ({len(x) / 16000:.1f} s) in {args.chunk_ms} ms chunks:")
        st = rec.stream()
        step = 1600  # feed 100 ms at a time, as a microphone would
        last = None
        for i in range(0, len(x), step):
            st.accept_waveform(x[i:i + step], 16000)
            if st.partial and st.partial != last:
                last = st.partial
                log(f"  [{(i + step) / 16000:5.1f} s] {last}")
        final = st.finish()
        log(f"  final : {final.text}\n  truth : {e.text}\n")

        rows = []
        for name, path in (("float32", f32_path), ("built-in 4-bit QAT", builtin_path), ("personalized", out)):
            r = _evaluate(Recognizer(str(path), threads=args.threads), test)
            rows.append((name, path.stat().st_size, r))
        f32_size = rows[0][1]
        log(f"{len(test)} test clips of {voice}:")
        log(f"{'model':22s} {'bytes':>10s} {'vs f32':>7s} {'WER':>7s} {'CER':>7s} {'RTF':>7s}")
        for name, size, r in rows:
            log(f"{name:22s} {size:10d} {f32_size / size:6.2f}x {100 * r['wer']:6.1f}% {100 * r['cer']:6.1f}% "
                f"{r['rtf']:7.3f}")
        log(f"\ndemo finished in {time.perf_counter() - t_all:.0f} s (synthetic voices only: the built-in model "
            "is not meant for real microphones; see docs/training.md)")
    return 0


def register(sub) -> None:
    p = sub.add_parser("demo", help="offline demo: personalize the built-in model to a new voice and stream",
                       description="Synthesize a held-out voice, personalize the built-in model to a budget, "
                                   "stream a clip through the C++ core, compare float / built-in / personalized.")
    p.add_argument("--budget", default="1.6MB", help="size budget of the personalized model (default 1.6MB)")
    p.add_argument("--voice", default=DEMO_VOICE, help=f"espeak-ng speaker id (default {DEMO_VOICE}, held out)")
    p.add_argument("--calib-clips", type=int, default=8)
    p.add_argument("--test-clips", type=int, default=8)
    p.add_argument("--chunk-ms", type=int, default=640)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--keep", help="keep the clips and models in this folder")
    p.set_defaults(func=run_demo)
