"""Audio files for the data tools: PCM16 WAV writing, durations, trimming.

Everything downstream expects 16 kHz mono; espeak-ng speaks at 22.05 kHz
and the real clips come at 8, 11.025 or 16 kHz. Reading and resampling use
the C++ core (``_core.read_wav_bytes``, ``_core.resample``), the same code
that serving uses, so training data and served audio go through one path.

WAV files are written as 16-bit PCM with the standard library's ``wave``
module (a fixed 44-byte header, so identical samples give identical
bytes) and atomically (temporary file + rename), so an interrupted run
never leaves a truncated file that a resumed run would take as finished.
"""

from __future__ import annotations

import io
import os
import warnings
import wave
from pathlib import Path
from typing import Tuple, Union

import numpy as np

from .. import _core

__all__ = [
    "SAMPLE_RATE",
        "resample",
    "to_pcm16",
    "write_wav",
    "wav_bytes",
    "read_wav_bytes",
    "load_audio",
    "audio_duration",
    "trim_silence",
]

#: The sample rate of every clip qasr_native writes or feeds to a model.
SAMPLE_RATE = 16000

PathLike = Union[str, os.PathLike]


def resample(x: np.ndarray, from_rate: int, to_rate: int) -> np.ndarray:
    """Resample between two integer sample rates (e.g. 22050 -> 16000) with
    the core's band-limited resampler (the one serving uses); float32 out."""
    if from_rate <= 0 or to_rate <= 0:
        raise ValueError(f"resample: sample rates must be positive, got {from_rate} -> {to_rate}")
    x = np.ascontiguousarray(x, dtype=np.float32)
    if from_rate == to_rate:
        return x.copy()
    return _core.resample(x, int(from_rate), int(to_rate))


def to_pcm16(x: np.ndarray) -> np.ndarray:
    """Float samples in [-1, 1] to int16: scaled by 32768 (the inverse of
    reading, so int16 -> float -> int16 is exact), rounded to nearest (ties
    to even), clipped to [-32768, 32767]."""
    x = np.asarray(x, dtype=np.float64)
    if not np.all(np.isfinite(x)):
        raise ValueError("to_pcm16: audio contains NaN or infinity")
    return np.clip(np.round(x * 32768.0), -32768, 32767).astype("<i2")


def wav_bytes(x: np.ndarray, sample_rate: int = SAMPLE_RATE) -> bytes:
    """A mono 16-bit PCM WAV file as bytes (float input in [-1, 1], or int16)."""
    x = np.asarray(x)
    if x.ndim != 1:
        raise ValueError(f"wav_bytes: expected mono 1-D audio, got shape {x.shape}")
    pcm = x.astype("<i2") if x.dtype == np.int16 else to_pcm16(x)
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(int(sample_rate))
        w.writeframes(pcm.tobytes())
    return buf.getvalue()


def write_wav(path: PathLike, x: np.ndarray, sample_rate: int = SAMPLE_RATE) -> None:
    """Write mono 16-bit PCM atomically (temporary file, then rename)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    data = wav_bytes(x, sample_rate)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def read_wav_bytes(data: bytes, what: str = "WAV data") -> Tuple[np.ndarray, int]:
    """Parse WAV bytes with the core's reader; returns (float32 mono samples, rate).

    The streaming header that ``espeak-ng --stdout`` writes (sizes
    0x7fffffff: the data runs to the end) is expected here, so the core's
    "data chunk clamped" warning is not shown.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        samples, rate = _core.read_wav_bytes(bytes(data), what)
    return samples, int(rate)


def load_audio(path: PathLike, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """Any audio file as float32 mono at ``sample_rate`` (see :func:`qasr_native.audio.load_audio`)."""
    from ..audio import load_audio as _load

    return _load(path, target_rate=sample_rate)


def audio_duration(path: PathLike) -> float:
    """Duration in seconds from the file header (no decoding)."""
    try:
        import soundfile as sf

        info = sf.info(str(path))
        return info.frames / info.samplerate
    except ImportError:  # pragma: no cover
        with wave.open(str(path), "rb") as w:
            return w.getnframes() / w.getframerate()


def trim_silence(x: np.ndarray, sample_rate: int = SAMPLE_RATE, *, threshold_db: float = -40.0,
                 pad_seconds: float = 0.05, frame_seconds: float = 0.01) -> np.ndarray:
    """Cut leading and trailing silence: keep from the first to the last
    frame whose RMS is within ``threshold_db`` of the loudest frame's, plus
    ``pad_seconds`` each side. All-silent input comes back unchanged."""
    x = np.asarray(x)
    frame = max(1, int(round(frame_seconds * sample_rate)))
    n = x.shape[0] // frame
    if n == 0:
        return x.copy()
    rms = np.sqrt(np.mean(x[:n * frame].astype(np.float64).reshape(n, frame) ** 2, axis=1))
    peak = float(rms.max())
    if peak == 0.0:
        return x.copy()
    loud = np.nonzero(rms >= peak * 10.0 ** (threshold_db / 20.0))[0]
    pad = int(round(pad_seconds * sample_rate))
    start = max(0, loud[0] * frame - pad)
    end = min(x.shape[0], (loud[-1] + 1) * frame + pad)
    return x[start:end].copy()
