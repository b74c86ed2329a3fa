"""`qasr transcribe MODEL AUDIO...`: speech to text through the C++ core.

MODEL is a .qasr file or ``builtin``. Prints one line per file (``--json``:
one JSON object per file with tokens and timestamps) and the real-time
factor on stderr. ``--stream`` feeds each file in 100 ms pieces through a
stream and prints the partial results as they change, as a live microphone
would see them.
"""

from __future__ import annotations

import json
import sys
import time


def register(sub) -> None:
    p = sub.add_parser("transcribe", help="transcribe audio files with a .qasr model (C++ core)",
                       description=__doc__.split("\n\n")[0])
    p.add_argument("model", help=".qasr file or 'builtin'")
    p.add_argument("audio", nargs="+", help="audio files (WAV; FLAC/OGG via soundfile)")
    p.add_argument("--stream", action="store_true", help="run the streaming path and show partial results")
    p.add_argument("--chunk-ms", type=float, default=640, help="streaming chunk (default 640 ms)")
    p.add_argument("--left-chunks", type=int, default=4, help="streaming left context in chunks (default 4)")
    p.add_argument("--threads", type=int, default=1, help="threads for the matrix products (default 1)")
    p.add_argument("--beam", type=int, default=1, help="CTC prefix beam width (1 = greedy)")
    p.add_argument("--repetition-guard", type=int, default=None,
                   help="Whisper: stop greedy decoding at this many copies of a repeated block (0 = off; "
                        "default: the core's, 3)")
    p.add_argument("--json", action="store_true", help="one JSON object per file")
    p.set_defaults(func=run)


def run(args) -> int:
    from ..api import Recognizer
    from ..audio import load_audio

    rec = Recognizer(args.model, threads=args.threads, chunk_ms=args.chunk_ms, left_chunks=args.left_chunks,
                     beam=args.beam, **({} if args.repetition_guard is None else
                                        {"repetition_guard": args.repetition_guard}))
    for path in args.audio:
        samples = load_audio(path, target_rate=rec.sample_rate)
        t0 = time.perf_counter()
        if args.stream:
            stream = rec.stream()
            piece = rec.sample_rate // 10
            last = ""
            for pos in range(0, len(samples), piece):
                stream.accept_waveform(samples[pos:pos + piece])
                if not args.json and stream.partial != last:
                    last = stream.partial
                    print(f"[{(pos + piece) / rec.sample_rate:6.2f} s] {last}", file=sys.stderr)
            result = stream.finish()
        else:
            result = rec.transcribe(samples)
        seconds = time.perf_counter() - t0
        duration = len(samples) / rec.sample_rate
        rtf = seconds / duration if duration else 0.0
        if args.json:
            print(json.dumps({"file": path, **result.to_dict(), "seconds": round(seconds, 4), "rtf": round(rtf, 4),
                              "mode": "stream" if args.stream else "full"}))
        else:
            print(result.text if len(args.audio) == 1 else f"{path}\t{result.text}")
            print(f"{path}: audio {duration:.2f} s, compute {seconds:.3f} s, RTF {rtf:.4f}", file=sys.stderr)
    return 0
