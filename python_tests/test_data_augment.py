"""Augmentation: exact SNR, speed perturbation changes duration and pitch
by the factor, noise colours have the stated spectral slope, and drawing is
deterministic."""

import numpy as np
import pytest

from qasr_native.data.augment import (AugmentConfig, add_noise, apply_augmentation, colored_noise, draw_params,
                                      peak_normalize, speed_perturb)


def test_add_noise_exact_snr():
    rng = np.random.default_rng(0)
    x = np.sin(np.arange(16000) * 0.05)
    for snr in (-5.0, 0.0, 10.0, 33.3):
        noise = colored_noise(x.shape[0], "pink", rng)
        y = add_noise(x, snr, noise)
        measured = 10 * np.log10(np.mean(x ** 2) / np.mean((y - x) ** 2))
        assert measured == pytest.approx(snr, abs=1e-9)
    with pytest.raises(ValueError):
        add_noise(x, 10.0, np.zeros(3))
    np.testing.assert_array_equal(add_noise(np.zeros(5), 10.0, np.ones(5)), np.zeros(5))


def _dominant_freq(x, rate):
    spec = np.abs(np.fft.rfft(x * np.hanning(x.shape[0])))
    return np.argmax(spec) * rate / x.shape[0]


@pytest.mark.parametrize("factor", [0.9, 1.1, 0.8, 1.25])
def test_speed_perturb(factor):
    rate = 16000
    x = np.sin(2 * np.pi * 500.0 * np.arange(rate) / rate)
    y = speed_perturb(x, factor)
    assert y.shape[0] == pytest.approx(rate / factor, abs=1)
    assert _dominant_freq(y, rate) == pytest.approx(500.0 * factor, abs=2.0)


@pytest.mark.parametrize("color,slope", [("white", 0.0), ("pink", -1.0), ("brown", -2.0)])
def test_noise_colours(color, slope):
    n = 1 << 16
    w = colored_noise(n, color, np.random.default_rng(1))
    assert np.sqrt(np.mean(w ** 2)) == pytest.approx(1.0)
    p = np.abs(np.fft.rfft(w)) ** 2
    f = np.arange(p.shape[0])
    band = (f > 50) & (f < n // 4)
    fit = np.polyfit(np.log(f[band]), np.log(p[band]), 1)[0]
    assert fit == pytest.approx(slope, abs=0.1)


def test_draw_and_apply_deterministic():
    cfg = AugmentConfig(speeds=(0.9, 1.0, 1.1), gain_db=(-6.0, 3.0), snr_db=(5.0, 30.0), noise_prob=0.5)
    draws = [draw_params(cfg, np.random.default_rng([7, i])) for i in range(200)]
    assert draws == [draw_params(cfg, np.random.default_rng([7, i])) for i in range(200)]
    assert {d["speed"] for d in draws} == {0.9, 1.0, 1.1}
    assert all(-6.0 <= d["gain_db"] <= 3.0 for d in draws)
    noisy = [d for d in draws if "snr_db" in d]
    assert 60 < len(noisy) < 140 and all(5.0 <= d["snr_db"] <= 30.0 for d in noisy)
    x = peak_normalize(np.sin(np.arange(8000) * 0.1) * 0.1)
    assert np.max(np.abs(x)) == pytest.approx(0.5)
    a = apply_augmentation(x, noisy[0])
    np.testing.assert_array_equal(a, apply_augmentation(x, noisy[0]))
    assert np.max(np.abs(a)) <= 1.0


def test_config_validation():
    assert not AugmentConfig().active
    for bad in (dict(speeds=(3.0,)), dict(gain_db=(3.0, -3.0)), dict(snr_db=(30.0, 5.0)), dict(noise_prob=2.0),
                dict(noise_colors=("blue",))):
        with pytest.raises(ValueError):
            AugmentConfig(**bad)
