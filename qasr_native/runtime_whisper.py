"""Serving Whisper `.qasr` files with the C++ executor (numpy only).

``qasr_native.api.Recognizer`` dispatches here when the file's
``model.family`` is ``"whisper"``::

    rec = WhisperRecognizer("tiny.en-int8.qasr", threads=2)
    text, tokens = rec.transcribe(audio_16k_float32)

Audio of any length is decoded in consecutive 30 s windows (docs/whisper.md,
"The C++ executor"); each call releases the GIL while the core runs.
"""

from __future__ import annotations

import json
import os
from typing import Any, Dict, List, Optional, Tuple, Union

import numpy as np

from . import _core

__all__ = ["WhisperRecognizer", "FAMILY", "SAMPLE_RATE", "DEFAULT_REPETITION_GUARD"]

FAMILY = "whisper"
SAMPLE_RATE = 16000
#: Copies of a repeated block that stop greedy decoding (docs/whisper.md, "Repetition guard").
DEFAULT_REPETITION_GUARD = _core.WHISPER_REPETITION_GUARD


class WhisperRecognizer:
    """A loaded Whisper model plus one decoder (one call at a time per object).

    ``threads``: worker threads of this recognizer's own pool (>= 1), or 0 for
    the process-wide pool. ``verify_checksums``: CRC-check the whole file at
    load (off for faster loads on devices; structure is always validated).
    ``repetition_guard``: greedy decoding stops when the output ends with the
    same block of tokens this many times in a row, and drops that last copy
    (docs/whisper.md, "Repetition guard"); 0 turns it off.
    """

    def __init__(self, path: Union[str, os.PathLike], threads: int = 1, verify_checksums: bool = True,
                 repetition_guard: int = DEFAULT_REPETITION_GUARD) -> None:
        path = os.fspath(path)
        if not os.path.exists(path):
            raise FileNotFoundError(f"no such model file: {path}")
        if isinstance(threads, bool) or not isinstance(threads, (int, np.integer)) or threads < 0:
            raise ValueError(f"threads must be a non-negative integer, got {threads!r}")
        f = _core.QasrFile(path, verify_checksums=False)
        self.header: Dict[str, Any] = dict(f.header) if isinstance(f.header, dict) else json.loads(f.header)
        family = self.header.get("model", {}).get("family")
        if family != FAMILY:
            raise ValueError(f"{path}: model family is {family!r}, not {FAMILY!r}")
        del f
        self.path = path
        self.threads = int(threads)
        self._model = _core.WhisperModel(path, verify_checksums=verify_checksums)
        self._runner = _core.WhisperRunner(self._model, int(threads), int(repetition_guard))

    @property
    def sample_rate(self) -> int:
        return SAMPLE_RATE

    @property
    def timings(self) -> Dict[str, float]:
        """Seconds spent in the front end, encoder and decoder so far, and decoder steps."""
        return dict(self._runner.timings)

    def _audio(self, audio: Any, sample_rate: int) -> np.ndarray:
        if isinstance(audio, (str, os.PathLike)):
            from .audio import load_audio

            return load_audio(audio, target_rate=SAMPLE_RATE)
        if sample_rate != SAMPLE_RATE:
            from .audio import load_audio

            return load_audio(np.asarray(audio), sample_rate=sample_rate, target_rate=SAMPLE_RATE)
        a = np.asarray(audio)
        if a.dtype == np.int16:
            a = a.astype(np.float32) / 32768.0
        elif a.dtype.kind != "f":
            raise ValueError(f"audio must be float samples in [-1, 1] or int16 PCM, got {a.dtype}")
        if a.ndim != 1:
            raise ValueError(f"audio must be 1-D mono samples, got shape {a.shape}")
        a = np.ascontiguousarray(a, dtype=np.float32)
        if not np.all(np.isfinite(a)):
            raise ValueError("audio contains NaN or infinite samples")
        return a

    def transcribe(self, audio: Any, sample_rate: int = SAMPLE_RATE) -> Tuple[str, List[int]]:
        """(text, tokens) of 16 kHz mono audio (float32 in [-1, 1], int16, or a path).

        Tokens are all windows' generated ids (no prompt, no end-of-text).
        """
        text, tokens, _ = self._runner.transcribe(self._audio(audio, sample_rate))
        return text, list(tokens)

    def transcribe_windows(self, audio: Any, sample_rate: int = SAMPLE_RATE) -> Tuple[str, List[List[int]]]:
        """(text, tokens per 30 s window)."""
        text, _, windows = self._runner.transcribe(self._audio(audio, sample_rate))
        return text, [list(w) for w in windows]

    def decode_features(self, features: np.ndarray) -> List[int]:
        """Greedy tokens of one window from log-mel features [n_mels, 3000]."""
        return list(self._runner.decode_features(np.ascontiguousarray(features, dtype=np.float32)))

    def encode(self, features: np.ndarray) -> np.ndarray:
        """Encoder output [1500, d_model] for log-mel features [n_mels, 3000]."""
        return self._runner.encode(np.ascontiguousarray(features, dtype=np.float32))

    def forced_logits(self, features: np.ndarray, tokens: List[int]) -> np.ndarray:
        """Logits [len(tokens) + 1, vocab] (before suppression) predicting each
        token and the one after, with the prompt and ``tokens`` fed in."""
        return self._runner.forced_logits(np.ascontiguousarray(features, dtype=np.float32), list(tokens))

    def log_mel(self, audio: np.ndarray) -> np.ndarray:
        """The core's log-mel of the first 30 s: [n_mels, 3000]."""
        return self._model.log_mel(np.ascontiguousarray(audio, dtype=np.float32))

    def detokenize(self, tokens: List[int]) -> str:
        return self._model.detokenize(list(tokens))
