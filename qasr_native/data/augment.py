"""Light, deterministic audio augmentation: speed perturbation, gain and
additive coloured noise at a chosen signal-to-noise ratio.

Every random choice is drawn from a numpy ``Generator`` that the caller
seeds per clip (``np.random.default_rng([seed, clip_index])`` in
``synth``), so a clip's augmentation does not depend on which worker made
it or in what order.

- **Speed** (Kaldi-style speed perturbation): the clip is resampled as if
  it had been recorded at ``factor`` times the rate, so it plays
  ``factor`` times faster and its pitch rises by the same factor
  (duration x 1/factor).
- **Gain** in dB, applied after the clip is peak-normalised to -6 dBFS.
- **Noise**: white, pink (1/f power) or brown (1/f^2) Gaussian noise,
  scaled so that (mean clip power) / (mean noise power) equals the drawn
  SNR exactly.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from fractions import Fraction
from typing import Any, Dict, Optional, Tuple

import numpy as np

from .audio import resample

__all__ = ["AugmentConfig", "draw_params", "apply_augmentation", "speed_perturb", "colored_noise", "add_noise",
           "peak_normalize"]

NOISE_COLORS = ("white", "pink", "brown")


@dataclass(frozen=True)
class AugmentConfig:
    """What to vary per clip. The defaults change nothing."""

    speeds: Tuple[float, ...] = (1.0,)
    gain_db: Tuple[float, float] = (0.0, 0.0)
    snr_db: Optional[Tuple[float, float]] = None
    noise_prob: float = 1.0
    noise_colors: Tuple[str, ...] = NOISE_COLORS

    def __post_init__(self) -> None:
        if not self.speeds or any(not 0.5 <= s <= 2.0 for s in self.speeds):
            raise ValueError(f"speed factors must be within 0.5..2.0, got {self.speeds}")
        if len(self.gain_db) != 2 or self.gain_db[0] > self.gain_db[1] or max(map(abs, self.gain_db)) > 40:
            raise ValueError(f"gain range must be (low, high) dB within +-40, got {self.gain_db}")
        if self.snr_db is not None and (len(self.snr_db) != 2 or self.snr_db[0] > self.snr_db[1]):
            raise ValueError(f"SNR range must be (low, high) dB, got {self.snr_db}")
        if not 0.0 <= self.noise_prob <= 1.0:
            raise ValueError(f"noise probability must be in [0, 1], got {self.noise_prob}")
        bad = [c for c in self.noise_colors if c not in NOISE_COLORS]
        if bad or not self.noise_colors:
            raise ValueError(f"noise colours must be among {NOISE_COLORS}, got {self.noise_colors}")

    @property
    def active(self) -> bool:
        return self.speeds != (1.0,) or self.gain_db != (0.0, 0.0) or (self.snr_db is not None and self.noise_prob > 0)

    def to_dict(self) -> Dict[str, Any]:
        d = asdict(self)
        return {k: list(v) if isinstance(v, tuple) else v for k, v in d.items()}


def draw_params(cfg: AugmentConfig, rng: np.random.Generator) -> Dict[str, Any]:
    """The random choices for one clip (always the same number of draws,
    so later clips do not shift when an option changes)."""
    speed = float(cfg.speeds[int(rng.integers(len(cfg.speeds)))])
    gain = float(rng.uniform(cfg.gain_db[0], cfg.gain_db[1])) if cfg.gain_db[0] < cfg.gain_db[1] else float(cfg.gain_db[0])
    u_noise = float(rng.random())
    snr = float(rng.uniform(*cfg.snr_db)) if cfg.snr_db is not None else 0.0
    color = cfg.noise_colors[int(rng.integers(len(cfg.noise_colors)))]
    noise_seed = int(rng.integers(2**63 - 1))
    p: Dict[str, Any] = {"speed": speed, "gain_db": round(gain, 3)}
    if cfg.snr_db is not None and u_noise < cfg.noise_prob:
        p.update(snr_db=round(snr, 3), noise=color, noise_seed=noise_seed)
    return p


def speed_perturb(x: np.ndarray, factor: float) -> np.ndarray:
    """Play ``x`` ``factor`` times faster (duration / factor, pitch x factor)."""
    if factor == 1.0:
        return np.asarray(x, dtype=np.float64).copy()
    r = Fraction(factor).limit_denominator(100)
    # Output rate / input rate = 1 / factor.
    return resample(x, r.numerator, r.denominator).astype(np.float64)


def colored_noise(n: int, color: str, rng: np.random.Generator) -> np.ndarray:
    """Unit-RMS Gaussian noise whose power falls as 1/f^0 (white), 1/f
    (pink) or 1/f^2 (brown)."""
    if color not in NOISE_COLORS:
        raise ValueError(f"unknown noise colour {color!r}")
    if color == "white" or n <= 1:
        w = rng.standard_normal(n)
    else:
        # Shape white noise in the frequency domain at a power-of-two length
        # (fast FFT for any n) and keep the first n samples.
        nfft = 1 << (n - 1).bit_length()
        spec = np.fft.rfft(rng.standard_normal(nfft))
        f = np.arange(spec.shape[0], dtype=np.float64)
        f[0] = 1.0
        spec /= f ** (0.5 if color == "pink" else 1.0)
        spec[0] = 0.0
        w = np.fft.irfft(spec, nfft)[:n]
        w -= w.mean()
    rms = float(np.sqrt(np.mean(w * w))) if n else 0.0
    return w / rms if rms > 0 else w


def add_noise(x: np.ndarray, snr_db: float, noise: np.ndarray) -> np.ndarray:
    """``x + g * noise`` with ``g`` such that mean(x^2) / mean((g*noise)^2)
    is exactly ``10**(snr_db/10)``."""
    x = np.asarray(x, dtype=np.float64)
    if noise.shape != x.shape:
        raise ValueError(f"add_noise: noise shape {noise.shape} != signal shape {x.shape}")
    px = float(np.mean(x * x))
    pn = float(np.mean(noise * noise))
    if px == 0.0 or pn == 0.0:
        return x.copy()
    g = np.sqrt(px / (pn * 10.0 ** (snr_db / 10.0)))
    return x + g * noise


def peak_normalize(x: np.ndarray, peak: float = 0.5) -> np.ndarray:
    """Scale so that max |x| == ``peak`` (silence stays silence)."""
    x = np.asarray(x, dtype=np.float64)
    m = float(np.max(np.abs(x))) if x.size else 0.0
    return x * (peak / m) if m > 0 else x.copy()


def apply_augmentation(x: np.ndarray, params: Dict[str, Any]) -> np.ndarray:
    """Apply drawn ``params`` (from ``draw_params``) to a peak-normalised
    clip: speed, then gain, then noise; the result is clipped to [-1, 1]."""
    y = speed_perturb(x, params.get("speed", 1.0))
    y = y * 10.0 ** (params.get("gain_db", 0.0) / 20.0)
    if "snr_db" in params:
        rng = np.random.default_rng(params["noise_seed"])
        y = add_noise(y, params["snr_db"], colored_noise(y.shape[0], params["noise"], rng))
    return np.clip(y, -1.0, 1.0)
