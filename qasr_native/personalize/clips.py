"""The user's calibration clips: a folder of audio files or a manifest.

Clips are loaded one at a time (16 kHz mono float32 through
qasr_native.audio) when iterated, so a large folder never sits in memory.
A file that cannot be decoded is an error naming it; clips too short for
the model are skipped and counted by the caller.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, List, Optional

import numpy as np

from ..data.manifest import read_clips

SAMPLE_RATE = 16000


@dataclass
class Clip:
    path: str
    audio: np.ndarray

    @property
    def seconds(self) -> float:
        return self.audio.size / SAMPLE_RATE


class ClipSet:
    """Calibration clips from ``source`` (folder, searched recursively, or a JSONL/TSV manifest).

    ``max_clips`` keeps the first N (sorted by path); ``max_seconds`` cuts
    each clip to its first seconds (the seed cut clips to 1.5625 s).
    """

    def __init__(self, source, max_clips: Optional[int] = None, max_seconds: Optional[float] = None) -> None:
        p = Path(source)
        if not p.exists():
            raise FileNotFoundError(f"calibration clips: {source} does not exist")
        entries = read_clips(p)
        if not entries:
            raise ValueError(f"calibration clips: {source} holds no clips")
        if max_clips is not None:
            if max_clips <= 0:
                raise ValueError("max_clips must be positive")
            entries = entries[:max_clips]
        if max_seconds is not None and max_seconds <= 0:
            raise ValueError("max_seconds must be positive")
        self.source = str(source)
        self.paths: List[str] = [e.path for e in entries]
        self.max_seconds = max_seconds

    def __len__(self) -> int:
        return len(self.paths)

    def load(self, path: str) -> Clip:
        from ..audio import load_audio

        try:
            audio = load_audio(path, target_rate=SAMPLE_RATE)
        except Exception as e:  # the reader's message says what is wrong with the file
            raise ValueError(f"calibration clip {path}: cannot be read as audio ({e})") from None
        audio = np.asarray(audio, dtype=np.float32)
        if self.max_seconds is not None:
            audio = audio[: int(round(self.max_seconds * SAMPLE_RATE))]
        return Clip(path, audio)

    def __iter__(self) -> Iterator[Clip]:
        for path in self.paths:
            yield self.load(path)

    def describe(self) -> dict:
        return {"source": os.path.abspath(self.source), "files": len(self.paths),
                "max_seconds": self.max_seconds}
