"""Whisper's log-mel front end in numpy (the reference the C++ core mirrors).

Written from the published recipe, not from an implementation:

1. the waveform (16 kHz, float) is padded with zeros (or cut) to 30 s;
2. a short-time Fourier transform with a 400-point periodic Hann window and
   a 160-sample hop, frames centred (the signal is reflect-padded by 200
   samples on both sides), gives 3001 frames of which the last is dropped;
3. the power spectrum goes through 80 (or 128) triangular mel filters on
   the Slaney mel scale between 0 and 8 kHz, each normalised to unit area
   (Slaney normalisation);
4. ``log10(max(mel, 1e-10))``, clamped from below at ``max - 8`` (the
   maximum over the whole 30 s window), then ``(x + 4) / 4``.

The equality with ``transformers.WhisperFeatureExtractor`` is tested in
``python_tests/test_whisper_import.py``. Only numpy is needed.
"""

from __future__ import annotations

import numpy as np

SAMPLE_RATE = 16000
N_FFT = 400
HOP_LENGTH = 160
CHUNK_LENGTH = 30  # seconds
N_SAMPLES = SAMPLE_RATE * CHUNK_LENGTH  # 480000
N_FRAMES = N_SAMPLES // HOP_LENGTH  # 3000

__all__ = [
    "SAMPLE_RATE",
    "N_FFT",
    "HOP_LENGTH",
    "CHUNK_LENGTH",
    "N_SAMPLES",
    "N_FRAMES",
    "mel_filters",
    "log_mel_spectrogram",
]


def _hz_to_mel(f: np.ndarray) -> np.ndarray:
    """Slaney's mel scale: linear below 1 kHz, logarithmic above."""
    f = np.asarray(f, dtype=np.float64)
    linear = 3.0 * f / 200.0
    log = 15.0 + 27.0 * np.log(np.maximum(f, 1e-10) / 1000.0) / np.log(6.4)
    return np.where(f < 1000.0, linear, log)


def _mel_to_hz(m: np.ndarray) -> np.ndarray:
    m = np.asarray(m, dtype=np.float64)
    linear = 200.0 * m / 3.0
    log = 1000.0 * np.exp(np.log(6.4) * (m - 15.0) / 27.0)
    return np.where(m < 15.0, linear, log)


def mel_filters(n_mels: int = 80, n_fft: int = N_FFT, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """Slaney-normalised triangular mel filters, shape ``[n_mels, n_fft // 2 + 1]`` (float64)."""
    if n_mels <= 0 or n_fft <= 0 or sample_rate <= 0:
        raise ValueError(f"mel_filters: n_mels, n_fft and sample_rate must be positive, got {n_mels}, {n_fft}, {sample_rate}")
    bins = np.linspace(0.0, sample_rate / 2.0, n_fft // 2 + 1)
    edges = _mel_to_hz(np.linspace(_hz_to_mel(0.0), _hz_to_mel(sample_rate / 2.0), n_mels + 2))
    lower, centre, upper = edges[:-2, None], edges[1:-1, None], edges[2:, None]
    rising = (bins[None, :] - lower) / (centre - lower)
    falling = (upper - bins[None, :]) / (upper - centre)
    weights = np.maximum(0.0, np.minimum(rising, falling))
    return weights * (2.0 / (edges[2:] - edges[:-2]))[:, None]


def log_mel_spectrogram(audio: np.ndarray, n_mels: int = 80, *, pad: bool = True) -> np.ndarray:
    """Whisper's normalised log-mel spectrogram of a 16 kHz mono waveform.

    Returns float32 ``[n_mels, 3000]`` for one 30 s window (``pad=True``,
    Whisper's input) or ``[n_mels, len // 160]`` without padding.
    """
    x = np.asarray(audio, dtype=np.float64)
    if x.ndim != 1:
        raise ValueError(f"log_mel_spectrogram: expected a 1-D mono waveform, got shape {x.shape}")
    if not np.all(np.isfinite(x)):
        raise ValueError("log_mel_spectrogram: the waveform contains NaN or infinite samples")
    if pad:
        x = np.pad(x[:N_SAMPLES], (0, max(0, N_SAMPLES - x.shape[0])))
    if x.shape[0] <= N_FFT // 2:
        raise ValueError(f"log_mel_spectrogram: need more than {N_FFT // 2} samples, got {x.shape[0]}")
    padded = np.pad(x, (N_FFT // 2, N_FFT // 2), mode="reflect")
    n_frames = 1 + (padded.shape[0] - N_FFT) // HOP_LENGTH
    idx = np.arange(N_FFT)[None, :] + HOP_LENGTH * np.arange(n_frames)[:, None]
    window = 0.5 - 0.5 * np.cos(2.0 * np.pi * np.arange(N_FFT) / N_FFT)  # periodic Hann
    spectrum = np.fft.rfft(padded[idx] * window, axis=1)
    power = (spectrum.real**2 + spectrum.imag**2)[:-1]  # the last frame is dropped
    mel = mel_filters(n_mels) @ power.T
    log = np.log10(np.maximum(mel, 1e-10))
    log = np.maximum(log, log.max() - 8.0)
    return ((log + 4.0) / 4.0).astype(np.float32)
