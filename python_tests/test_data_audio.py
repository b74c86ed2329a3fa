"""The data tools' audio helpers: resampling (the core's resampler, tested in
depth in test_frontend.py) on the rates espeak and the real clips use, PCM16
round trips, the espeak-ng streaming header, load_audio."""

import wave

import numpy as np
import pytest

from qasr_native.data.audio import (audio_duration, load_audio, read_wav_bytes, resample, to_pcm16,
                                    wav_bytes, write_wav)

@pytest.mark.parametrize("f_in,f_out,freq", [(22050, 16000, 1000.0), (22050, 16000, 6500.0), (8000, 16000, 3000.0),
                                             (11025, 16000, 440.0), (16000, 8000, 3000.0)])
def test_sine_passband(f_in, f_out, freq):
    t_in = np.arange(int(f_in * 0.5)) / f_in
    y = resample(np.sin(2 * np.pi * freq * t_in), f_in, f_out)
    t_out = np.arange(y.shape[0]) / f_out
    edge = int(0.02 * f_out)  # the filter sees zeros past the ends
    err = y[edge:-edge] - np.sin(2 * np.pi * freq * t_out)[edge:-edge]
    assert np.max(np.abs(err)) < 3e-3, np.max(np.abs(err))


def test_stopband_attenuation():
    # 10 kHz at 22.05 kHz is above the 8 kHz Nyquist of the 16 kHz output:
    # it must be removed, not folded back to 6 kHz.
    f_in = 22050
    x = np.sin(2 * np.pi * 10000.0 * np.arange(f_in) / f_in)
    y = resample(x, f_in, 16000)[800:-800]
    assert np.sqrt(np.mean(y ** 2)) < 10 ** (-40 / 20) * np.sqrt(0.5)


def test_resample_errors_and_identity():
    with pytest.raises(ValueError):
        resample(np.ones(3), 16000, -1)
    x = np.random.default_rng(0).standard_normal(100).astype(np.float32)
    np.testing.assert_array_equal(resample(x, 16000, 16000), x)


def test_pcm16_round_trip(tmp_path):
    rng = np.random.default_rng(0)
    pcm = rng.integers(-32768, 32768, 5000).astype(np.int16)
    path = tmp_path / "a.wav"
    write_wav(path, pcm.astype(np.float64) / 32768.0, 16000)
    with wave.open(str(path)) as w:
        assert (w.getnchannels(), w.getsampwidth(), w.getframerate()) == (1, 2, 16000)
        back = np.frombuffer(w.readframes(w.getnframes()), "<i2")
    np.testing.assert_array_equal(back, pcm)
    assert audio_duration(path) == pytest.approx(5000 / 16000)
    x = load_audio(path)
    assert x.dtype == np.float32
    np.testing.assert_array_equal(to_pcm16(x), pcm)
    assert not list(tmp_path.glob(".*tmp"))  # atomic write left nothing behind


def test_to_pcm16_clips_and_rejects_nan():
    np.testing.assert_array_equal(to_pcm16(np.array([2.0, -2.0, 0.5])), [32767, -32768, 16384])
    with pytest.raises(ValueError, match="NaN"):
        to_pcm16(np.array([0.0, np.nan]))


def test_streaming_header():
    # espeak-ng --stdout writes 0x7fffffff sizes: the data runs to the end.
    pcm = np.arange(-50, 50, dtype="<i2")
    data = bytearray(wav_bytes(pcm, 22050))
    data[4:8] = (0x7FFFFFFF).to_bytes(4, "little")
    data[40:44] = (0x7FFFFFFF).to_bytes(4, "little")
    x, rate = read_wav_bytes(bytes(data))
    assert rate == 22050
    np.testing.assert_array_equal(np.round(x * 32768).astype(np.int16), pcm)
    with pytest.raises(ValueError, match="RIFF"):
        read_wav_bytes(b"not a wav file at all")
    with pytest.raises(ValueError, match="no 'data' chunk"):
        read_wav_bytes(bytes(data[:36]))


def test_load_audio_stereo_other_rate(tmp_path):
    sf = pytest.importorskip("soundfile")
    t = np.arange(8000) / 8000
    left = 0.5 * np.sin(2 * np.pi * 440 * t)
    sf.write(str(tmp_path / "s.flac"), np.stack([left, left], axis=1), 8000, subtype="PCM_16")
    x = load_audio(tmp_path / "s.flac")
    assert x.shape == (16000,)
    ref = 0.5 * np.sin(2 * np.pi * 440 * np.arange(16000) / 16000)
    assert np.max(np.abs(x[400:-400] - ref[400:-400])) < 2e-3
    with pytest.raises(FileNotFoundError):
        load_audio(tmp_path / "missing.wav")
    (tmp_path / "bad.wav").write_bytes(b"garbage")
    with pytest.raises(ValueError, match="bad.wav"):
        load_audio(tmp_path / "bad.wav")
