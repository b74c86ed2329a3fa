"""Audio loading for qasr_native: any file or array in, float32 mono at the
model's rate out.

WAV files go through the C++ core's reader (the same code the standalone
``qasr-transcribe`` uses, so Python and C++ see identical samples); other
containers (FLAC, OGG/Vorbis, ...) through ``soundfile``. Everything is
downmixed to mono by averaging the channels and resampled with the core's
band-limited resampler. Bad input raises a clear exception instead of
producing garbage features later.

Only numpy and soundfile are needed (serving code imports this).
"""

from __future__ import annotations

import numbers
import os
from typing import Optional, Union

import numpy as np

from . import _core

__all__ = ["load_audio", "AudioSource"]

AudioSource = Union[str, "os.PathLike[str]", np.ndarray]

_MAX_RATE = 1_000_000


def _check_rate(rate: object, what: str) -> int:
    """Return `rate` as a positive int, or raise ValueError saying why not."""
    if isinstance(rate, (bool, np.bool_)) or not isinstance(rate, (numbers.Integral, numbers.Real)):
        raise ValueError(f"{what} must be a positive integer number of Hz, got {rate!r}")
    value = float(rate)
    if not np.isfinite(value) or value != int(value) or not 1 <= value <= _MAX_RATE:
        raise ValueError(f"{what} must be a whole number of Hz in [1, {_MAX_RATE}], got {rate!r}")
    return int(value)


def _array_to_mono(x: np.ndarray, name: str) -> np.ndarray:
    """Convert an array of samples to float32 mono in [-1, 1] units.

    Integer arrays are scaled like WAV PCM (int16 / 32768, int32 / 2**31,
    uint8 centred on 128); 2-D arrays are [samples, channels], as soundfile
    returns them, and are averaged over channels.
    """
    if x.dtype == np.int16:
        x = x.astype(np.float32) / 32768.0
    elif x.dtype == np.int32:
        x = (x.astype(np.float64) / 2147483648.0).astype(np.float32)
    elif x.dtype == np.uint8:
        x = (x.astype(np.float32) - 128.0) / 128.0
    elif x.dtype in (np.float32, np.float64, np.float16):
        pass
    else:
        raise ValueError(f"{name}: unsupported sample type {x.dtype} (float32/64, int16, int32 or uint8)")
    if x.ndim == 2:
        if x.shape[1] > x.shape[0]:
            raise ValueError(
                f"{name}: 2-D audio must be [samples, channels]; got shape {x.shape}, which looks like "
                f"[channels, samples] (pass the transpose)")
        x = x.astype(np.float64).mean(axis=1) if x.shape[1] > 1 else x[:, 0]
    elif x.ndim != 1:
        raise ValueError(f"{name}: audio must be 1-D (mono) or 2-D [samples, channels], got shape {x.shape}")
    return np.ascontiguousarray(x, dtype=np.float32)


def _is_riff_wave(path: str) -> bool:
    with open(path, "rb") as f:
        head = f.read(12)
    return len(head) == 12 and head[:4] == b"RIFF" and head[8:12] == b"WAVE"


def _read_file(path: str) -> "tuple[np.ndarray, int]":
    if not os.path.exists(path):
        raise FileNotFoundError(f"{path}: no such file")
    if os.path.isdir(path):
        raise IsADirectoryError(f"{path}: is a directory, not an audio file")
    if os.path.getsize(path) == 0:
        raise ValueError(f"{path}: the file is empty (0 bytes)")
    if _is_riff_wave(path):
        samples, rate = _core.read_wav(path)  # ValueError on malformed files
        return samples, int(rate)
    import soundfile  # lazily: only needed for non-WAV containers

    try:
        data, rate = soundfile.read(path, dtype="float32", always_2d=True)
    except (RuntimeError, TypeError, ValueError) as e:  # soundfile.LibsndfileError is a RuntimeError
        raise ValueError(f"{path}: not a readable audio file ({e})") from None
    mono = data[:, 0] if data.shape[1] == 1 else data.astype(np.float64).mean(axis=1)
    return np.ascontiguousarray(mono, dtype=np.float32), int(rate)


def load_audio(source: AudioSource, sample_rate: Optional[int] = None,
               target_rate: Optional[int] = 16000) -> np.ndarray:
    """Load audio as float32 mono samples at `target_rate`.

    Args:
        source: a path to an audio file (WAV via the C++ reader; FLAC, OGG
            and anything else libsndfile reads via soundfile), or an array of
            samples (float in [-1, 1], or int16/int32/uint8 PCM; 1-D, or
            2-D [samples, channels]; lists and tuples are float samples).
        sample_rate: the rate of an array source, required for arrays. For a
            file the rate comes from the file; if given anyway it must match.
        target_rate: the rate to return (the model's, 16 kHz by default);
            None keeps the source's rate.

    Returns:
        1-D float32 array, channels averaged, resampled with the core's
        Kaiser-windowed sinc resampler when the rates differ.

    Raises:
        FileNotFoundError: the path does not exist.
        ValueError: not audio, malformed WAV, a missing or invalid sample
            rate, no samples at all, or NaN/Inf samples.
    """
    if target_rate is not None:
        target_rate = _check_rate(target_rate, "target_rate")
    if isinstance(source, (str, os.PathLike)):
        name = os.fspath(source)
        samples, rate = _read_file(name)
        if sample_rate is not None and _check_rate(sample_rate, "sample_rate") != rate:
            raise ValueError(f"{name}: sample_rate={sample_rate} was given but the file is at {rate} Hz "
                             f"(leave sample_rate out for files)")
    elif isinstance(source, (np.ndarray, list, tuple)):
        name = "audio array"
        if sample_rate is None:
            raise ValueError("sample_rate is required when passing an array of samples")
        rate = _check_rate(sample_rate, "sample_rate")
        array = np.asarray(source, dtype=np.float32) if isinstance(source, (list, tuple)) else source
        samples = _array_to_mono(array, name)
    else:
        raise TypeError(f"load_audio takes a path or a numpy array, got {type(source).__name__}")

    if samples.size == 0:
        raise ValueError(f"{name}: contains no audio samples")
    _core.validate_samples(samples, name, rate)
    if target_rate is not None and rate != target_rate:
        samples = _core.resample(samples, rate, target_rate)
    return samples
