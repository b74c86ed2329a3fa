"""Audio I/O and band-limited resampling in numpy.

Everything downstream (feature extraction, the C++ front end, the
recognizers) expects 16 kHz mono; espeak-ng speaks at 22.05 kHz and the
real clips come at 8, 11.025 or 16 kHz. ``resample_poly`` converts between
rates with a polyphase windowed-sinc filter (Kaiser window, beta 5, ten
zero crossings each side of the lower Nyquist rate) -- the same filter
design as ``scipy.signal.resample_poly``'s default, so scipy serves as an
independent reference in the tests without being a dependency here.

WAV files are written as 16-bit PCM with the standard library's ``wave``
module (a fixed 44-byte header, so identical samples give identical
bytes) and atomically (temporary file + rename), so an interrupted run
never leaves a truncated file that a resumed run would take as finished.
"""

from __future__ import annotations

import functools
import io
import math
import os
import struct
import wave
from fractions import Fraction
from pathlib import Path
from typing import Tuple, Union

import numpy as np

__all__ = [
    "SAMPLE_RATE",
    "resample_poly",
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


@functools.lru_cache(maxsize=32)
def _filter(up: int, down: int, zeros: int, beta: float) -> Tuple[np.ndarray, int]:
    """Low-pass FIR for the rate change up/down, designed at the upsampled
    rate: cutoff at the lower of the two Nyquist frequencies, unit DC gain
    times ``up`` (zero-stuffing divides the level by ``up``)."""
    max_rate = max(up, down)
    half_len = zeros * max_rate
    m = np.arange(-half_len, half_len + 1, dtype=np.float64)
    cutoff = 1.0 / max_rate
    h = cutoff * np.sinc(cutoff * m) * np.kaiser(2 * half_len + 1, beta)
    h *= up / h.sum()
    h.flags.writeable = False
    return h, half_len


def resample_poly(x: np.ndarray, up: int, down: int, *, zeros: int = 10, beta: float = 5.0,
                  ) -> np.ndarray:
    """Resample ``x`` (1-D, or 2-D with time on the last axis) by the
    rational factor ``up / down`` with a band-limited polyphase filter.

    Output sample ``n`` sits at input time ``n * down / up`` (no delay); the
    signal is taken as zero outside its ends. Output length is
    ``ceil(len(x) * up / down)``. Returns float64.
    """
    if up <= 0 or down <= 0 or int(up) != up or int(down) != down:
        raise ValueError(f"resample_poly: up and down must be positive integers, got {up}/{down}")
    g = math.gcd(int(up), int(down))
    up, down = int(up) // g, int(down) // g
    x = np.asarray(x, dtype=np.float64)
    if x.ndim == 2:
        return np.stack([resample_poly(row, up, down, zeros=zeros, beta=beta) for row in x])
    if x.ndim != 1:
        raise ValueError(f"resample_poly: expected 1-D or 2-D audio, got shape {x.shape}")
    if up == 1 and down == 1:
        return x.copy()
    n_in = x.shape[0]
    n_out = -(-n_in * up // down)
    if n_in == 0:
        return np.zeros(0)
    h, half_len = _filter(up, down, zeros, beta)
    # Output n reads inputs i = first(n) + k, k < taps, with filter tap
    # half_len + n*down - i*up, where first(n) = ceil((n*down - half_len) / up).
    # Outputs n = p, p + up, p + 2*up, ... (one polyphase branch) share
    # their taps and step through the input by `down`: each branch is one
    # strided matrix-vector product over a sliding-window view.
    taps = (2 * half_len) // up + 1
    lead = half_len // up + 1
    xp = np.concatenate([np.zeros(lead), x, np.zeros(taps + down + 1)])
    windows = np.lib.stride_tricks.sliding_window_view(xp, taps)
    out = np.empty(n_out)
    k = np.arange(taps)
    for p in range(min(up, n_out)):
        count = len(range(p, n_out, up))
        first = -((half_len - p * down) // up)
        t = half_len + p * down - (first + k) * up
        hp = np.where((t >= 0) & (t < h.shape[0]), h[np.clip(t, 0, h.shape[0] - 1)], 0.0)
        rows = windows[first + lead:first + lead + (count - 1) * down + 1:down]
        out[p::up] = rows @ hp
    return out


def resample(x: np.ndarray, from_rate: int, to_rate: int) -> np.ndarray:
    """Resample between two integer sample rates (e.g. 22050 -> 16000)."""
    if from_rate <= 0 or to_rate <= 0:
        raise ValueError(f"resample: sample rates must be positive, got {from_rate} -> {to_rate}")
    r = Fraction(int(to_rate), int(from_rate))
    return resample_poly(x, r.numerator, r.denominator)


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
    """Parse a PCM16 RIFF/WAVE byte string, tolerating the streaming header
    that ``espeak-ng --stdout`` writes (data size 0x7fffffff: the data runs
    to the end). Returns (float64 samples in [-1, 1], mono; sample rate)."""
    if len(data) < 12 or data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        raise ValueError(f"{what}: not a RIFF/WAVE file")
    pos, rate, channels, bits = 12, None, None, None
    while pos + 8 <= len(data):
        cid, size = data[pos:pos + 4], struct.unpack("<I", data[pos + 4:pos + 8])[0]
        body = pos + 8
        if cid == b"fmt ":
            if size < 16:
                raise ValueError(f"{what}: fmt chunk too short")
            fmt, channels, rate, _, _, bits = struct.unpack("<HHIIHH", data[body:body + 16])
            if fmt not in (1, 0xFFFE) or bits != 16:
                raise ValueError(f"{what}: only 16-bit PCM is supported (format {fmt}, {bits} bits)")
        elif cid == b"data":
            if rate is None:
                raise ValueError(f"{what}: data chunk before fmt chunk")
            end = min(len(data), body + size)
            end -= (end - body) % (2 * channels)
            pcm = np.frombuffer(data[body:end], dtype="<i2").astype(np.float64) / 32768.0
            if channels > 1:
                pcm = pcm.reshape(-1, channels).mean(axis=1)
            return pcm, int(rate)
        pos = body + size + (size & 1)
    raise ValueError(f"{what}: no data chunk")


def load_audio(path: PathLike, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """Read an audio file (any format soundfile reads: WAV, FLAC, OGG, ...;
    the standard library's ``wave`` for PCM WAV when soundfile is missing),
    mix to mono and resample to ``sample_rate``. Returns float32 in [-1, 1].
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"audio file not found: {path}")
    try:
        import soundfile as sf
    except ImportError:  # pragma: no cover - soundfile is a hard dependency
        sf = None
    if sf is not None:
        try:
            x, rate = sf.read(str(path), dtype="float64", always_2d=True)
        except Exception as e:  # soundfile raises its own error types
            raise ValueError(f"cannot read audio file {path}: {e}") from None
        x = x.mean(axis=1)
    else:
        x, rate = read_wav_bytes(path.read_bytes(), str(path))
    if rate != sample_rate:
        x = resample(x, rate, sample_rate)
    return x.astype(np.float32)


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
