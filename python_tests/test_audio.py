"""qasr_native.audio.load_audio: files through the core's WAV reader or
soundfile, arrays, downmixing, resampling and its errors."""

import numpy as np
import pytest
import soundfile as sf

from qasr_native import _core
from qasr_native.audio import load_audio


def tone(rate, seconds=0.5, freq=440.0, channels=1):
    t = np.arange(int(rate * seconds)) / rate
    x = 0.4 * np.sin(2 * np.pi * freq * t)
    return np.stack([x * (c + 1) / channels for c in range(channels)], 1) if channels > 1 else x


def test_wav_at_16k_is_read_by_the_core(tmp_path):
    x = tone(16000)
    path = tmp_path / "a.wav"
    sf.write(path, x, 16000, subtype="PCM_16")
    y = load_audio(path)
    assert y.dtype == np.float32 and y.ndim == 1 and len(y) == len(x)
    np.testing.assert_array_equal(y, _core.read_wav(str(path))[0])
    np.testing.assert_allclose(y, x, atol=1 / 32768)


@pytest.mark.parametrize("fmt,ext", [("FLAC", "flac"), ("OGG", "ogg"), ("WAV", "wav")])
def test_containers_downmix_and_resample(tmp_path, fmt, ext):
    rate = 44100
    x = tone(rate, channels=2)
    path = tmp_path / f"a.{ext}"
    sf.write(path, x, rate, format=fmt)
    y = load_audio(str(path))
    ref = _core.resample(sf.read(path, dtype="float32")[0].mean(axis=1).astype(np.float32), rate, 16000)
    assert len(y) == len(ref) == -(-len(x) * 16000 // rate)
    np.testing.assert_allclose(y, ref, atol=1e-6)
    # The mean of the two channels is a 440 Hz tone of amplitude 0.3.
    mid = y[1600:-1600]
    assert np.abs(mid).max() == pytest.approx(0.3, abs=0.02 if fmt == "OGG" else 2e-3)


def test_target_rate_none_keeps_the_rate(tmp_path):
    path = tmp_path / "a.wav"
    sf.write(path, tone(8000), 8000)
    assert len(load_audio(path, target_rate=None)) == 4000
    assert len(load_audio(path, target_rate=16000)) == 8000
    with pytest.raises(ValueError, match="was given but the file is at 8000 Hz"):
        load_audio(path, sample_rate=16000)
    assert len(load_audio(path, sample_rate=8000)) == 8000


def test_arrays():
    x = tone(16000).astype(np.float32)
    np.testing.assert_array_equal(load_audio(x, sample_rate=16000), x)
    y = load_audio(x, sample_rate=8000)  # resampled to 16 kHz
    assert len(y) == 2 * len(x)
    pcm = (x * 32767).astype(np.int16)
    np.testing.assert_allclose(load_audio(pcm, sample_rate=16000), pcm / 32768.0, atol=1e-7)
    stereo = tone(16000, channels=2)
    np.testing.assert_allclose(load_audio(stereo, sample_rate=16000), stereo.mean(axis=1), atol=1e-7)
    assert load_audio([0.0, 0.5, -0.5], sample_rate=16000).tolist() == [0.0, 0.5, -0.5]


@pytest.mark.parametrize("rate", [None, 0, -16000, 16000.5, "16000", True, float("nan"), 10**7])
def test_arrays_need_a_valid_sample_rate(rate):
    with pytest.raises(ValueError, match="sample_rate"):
        load_audio(np.zeros(100, np.float32), sample_rate=rate)


def test_array_errors():
    with pytest.raises(ValueError, match="no audio samples"):
        load_audio(np.zeros(0, np.float32), sample_rate=16000)
    x = np.zeros(32000, np.float32)
    x[20000] = np.nan
    with pytest.raises(ValueError, match=r"sample 20000 \(at 1.250 s\) is NaN"):
        load_audio(x, sample_rate=16000)
    with pytest.raises(ValueError, match=r"\[channels, samples\]"):
        load_audio(np.zeros((2, 1000), np.float32), sample_rate=16000)
    with pytest.raises(ValueError, match="1-D"):
        load_audio(np.zeros((2, 3, 4), np.float32), sample_rate=16000)
    with pytest.raises(ValueError, match="sample type"):
        load_audio(np.zeros(10, np.complex64), sample_rate=16000)
    with pytest.raises(TypeError):
        load_audio(12345)
    with pytest.raises(ValueError, match="target_rate"):
        load_audio(np.zeros(10, np.float32), sample_rate=16000, target_rate=0)


def test_file_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="no such file"):
        load_audio(tmp_path / "missing.wav")
    with pytest.raises(IsADirectoryError):
        load_audio(tmp_path)
    empty = tmp_path / "empty.wav"
    empty.write_bytes(b"")
    with pytest.raises(ValueError, match="empty"):
        load_audio(empty)
    text = tmp_path / "notes.flac"
    text.write_text("these are not audio samples, just text " * 10)
    with pytest.raises(ValueError, match="not a readable audio file"):
        load_audio(text)
    bad_wav = tmp_path / "bad.wav"
    bad_wav.write_bytes(b"RIFF\x24\0\0\0WAVEfmt \x10\0\0\0\x06\0\x01\0\x40\x1f\0\0\x40\x1f\0\0\x01\0\x08\0")
    with pytest.raises(ValueError, match="A-law"):
        load_audio(bad_wav)
    no_samples = tmp_path / "zero.wav"
    sf.write(no_samples, np.zeros(0), 16000)
    with pytest.raises(ValueError, match="no audio samples"):
        load_audio(no_samples)
    nan_wav = tmp_path / "nan.wav"
    sf.write(nan_wav, np.array([0.0, np.nan, 0.1]), 16000, subtype="FLOAT")
    with pytest.raises(ValueError, match="NaN"):
        load_audio(nan_wav)
