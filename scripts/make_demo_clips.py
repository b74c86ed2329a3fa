#!/usr/bin/env python3
"""Regenerate the demo clips shipped in qasr_native/assets/clips/.

Speaks qasr_native.data.demo.DEMO_PROMPTS with the held-out speaker
DEMO_SPEAKER through espeak-ng, resamples to 16 kHz, trims leading and
trailing silence, peak-normalises to -6 dBFS and writes PCM16 WAVs plus
manifest.jsonl. Deterministic: with the same espeak-ng version (1.51) the
files come out byte for byte as committed.

    python scripts/make_demo_clips.py [--out DIR]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

try:  # the installed package, else this source tree (after scripts/dev_build.sh)
    import qasr_native  # noqa: F401
except ImportError:
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from qasr_native.data.audio import SAMPLE_RATE, resample, trim_silence, write_wav  # noqa: E402
from qasr_native.data.augment import peak_normalize  # noqa: E402
from qasr_native.data.demo import DEMO_PROMPTS, DEMO_SPEAKER, demo_clips_dir  # noqa: E402
from qasr_native.data.espeak import espeak_version, synthesize  # noqa: E402
from qasr_native.data.manifest import ManifestEntry, write_manifest  # noqa: E402
from qasr_native.data.speakers import Speaker  # noqa: E402
from qasr_native.data.text import normalize_text  # noqa: E402

MAX_TOTAL_BYTES = 100_000


def make(out: Path) -> int:
    speaker = Speaker.from_id(DEMO_SPEAKER)
    entries = []
    for i, prompt in enumerate(DEMO_PROMPTS, 1):
        x, rate = synthesize(prompt, speaker)
        x = peak_normalize(trim_silence(resample(x, rate, SAMPLE_RATE), SAMPLE_RATE), 0.5)
        path = out / f"{i:02d}.wav"
        write_wav(path, x, SAMPLE_RATE)
        entries.append(ManifestEntry(str(path), normalize_text(prompt), speaker.id, x.shape[0] / SAMPLE_RATE,
                                     {"prompt": prompt, **speaker.describe(), "espeak": espeak_version()}))
    write_manifest(out / "manifest.jsonl", entries)
    total = sum(p.stat().st_size for p in out.glob("*.wav"))
    print(f"{len(entries)} clips, {sum(e.duration for e in entries):.2f} s, {total} bytes in {out}")
    if total > MAX_TOTAL_BYTES:
        print(f"error: clips take {total} bytes, over the {MAX_TOTAL_BYTES} byte limit", file=sys.stderr)
        return 1
    return 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=demo_clips_dir())
    return make(ap.parse_args().out)


if __name__ == "__main__":
    sys.exit(main())
