#!/usr/bin/env python3
"""Seed corpora for the fuzzers (scripts/fuzz.sh): small valid .qasr files
written by the Python writer (every dtype and packed format, odd shapes,
unicode names, an empty table) and JSON documents for the parser alone.

Usage: make_fuzz_corpus.py OUT_DIR   (writes OUT_DIR/qasr_file, OUT_DIR/json and OUT_DIR/wav)

The writer is pure Python, so this runs without the compiled core: the
package is imported without executing qasr_native/__init__.py (which loads
_core).
"""

from __future__ import annotations

import json
import sys
import types
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent


def import_writer():
    if "qasr_native" not in sys.modules:
        pkg = types.ModuleType("qasr_native")
        pkg.__path__ = [str(ROOT / "qasr_native")]
        sys.modules["qasr_native"] = pkg
    from qasr_native.export import qasr_file
    from qasr_native import quant

    return qasr_file, quant


def qasr_seeds(out: Path) -> int:
    qf, quant = import_writer()
    rng = np.random.default_rng(0)
    out.mkdir(parents=True, exist_ok=True)
    n = 0

    def write(w) -> None:
        nonlocal n
        w.write(out / f"seed{n:02d}.qasr")
        n += 1

    write(qf.QasrWriter(model={"family": "empty"}))
    for fmt, group in [("q8", 0), ("q8", 32), ("q4", 32), ("q4", 64), ("q4a", 32), ("q4a", 128)]:
        for N, K in [(1, 1), (17, 33)]:
            w = qf.QasrWriter(model={"family": "conformer_ctc", "d_model": 16}, provenance={"method": "seed"})
            w.add_matrix("w", quant.quantize_weight(rng.standard_normal((N, K)).astype(np.float32), fmt, group))
            w.add_array("b", rng.standard_normal(N).astype(np.float32))
            write(w)
    w = qf.QasrWriter(model={"family": "t"}, tokenizer={"kind": "chars", "vocab": ["a", "é", "\U0001F600"]})
    w.add_matrix("f", rng.standard_normal((3, 5)).astype(np.float32))
    w.add_array("h", rng.standard_normal((2, 2)).astype(np.float16))
    w.add_array("i", np.arange(4, dtype=np.int32))
    w.add_array("u", np.arange(3, dtype=np.uint8))
    w.add_array("s", np.float32(1.0))
    w.add_array("z", np.zeros((0, 4), np.float32))
    w.add_array("ñame \"quoted\"", np.ones(1, np.float32))
    write(w)
    return n


def json_seeds(out: Path) -> int:
    out.mkdir(parents=True, exist_ok=True)
    docs = [
        {"format_version": "1.0", "model": {"family": "t", "n": [1, 2.5, -3e-7, True, None]}, "tensors": []},
        ["\"\\/\b\f\n\r\t", "é日\U0001F600", "\u0000", ""],
        [9223372036854775807, -9223372036854775808, 1e308, 5e-324, 0, -0.0],
        {"a": {"b": {"c": [[[]]]}}, "": {}},
    ]
    texts = [json.dumps(d).encode() for d in docs] + [json.dumps(d, ensure_ascii=False).encode("utf-8") for d in docs]
    texts += [b'"\\ud83d\\ude00"', b"[" * 60 + b"]" * 60, b'{"k":"v"}']
    for i, t in enumerate(texts):
        (out / f"seed{i:02d}.json").write_bytes(t)
    return len(texts)


def wav_seeds(out: Path) -> int:
    """Valid WAV files of every encoding the reader accepts (written with the
    standard library's wave module and by hand for float and extensible)."""
    import struct
    import wave

    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(1)
    n = 0
    for width, channels, rate in [(1, 1, 8000), (2, 1, 16000), (2, 2, 44100), (3, 1, 22050), (4, 2, 48000)]:
        frames = rng.integers(0, 256, size=64 * width * channels, dtype=np.uint8).tobytes()
        with wave.open(str(out / f"pcm{width * 8}_{channels}ch.wav"), "wb") as w:
            w.setnchannels(channels)
            w.setsampwidth(width)
            w.setframerate(rate)
            w.writeframes(frames)
        n += 1
    data = rng.standard_normal(48).astype("<f4").tobytes()
    fmt = struct.pack("<HHIIHH", 3, 1, 16000, 64000, 4, 32)
    riff = b"WAVE" + b"fmt " + struct.pack("<I", len(fmt)) + fmt + b"data" + struct.pack("<I", len(data)) + data
    (out / "float32.wav").write_bytes(b"RIFF" + struct.pack("<I", len(riff)) + riff)
    return n + 1


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    out = Path(argv[1])
    n = qasr_seeds(out / "qasr_file")
    m = json_seeds(out / "json")
    k = wav_seeds(out / "wav")
    print(f"wrote {n} .qasr seeds, {m} JSON seeds and {k} WAV seeds to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
