"""The C++ front end against independent references: Kaldi fbank against
kaldi-native-fbank, the WAV reader against soundfile (libsndfile), the
resampler against the math of sines; streaming against whole-utterance."""

import shutil
import struct
import subprocess
import warnings

import numpy as np
import pytest
import soundfile as sf

from qasr_native import _core

knf = pytest.importorskip("kaldi_native_fbank")

EPS_LOG = float(np.log(np.finfo(np.float32).eps))


def knf_fbank(samples, sample_rate=16000, num_bins=80, window="povey", use_energy=False, low_freq=20.0,
              high_freq=0.0, frame_length_ms=25.0, frame_shift_ms=10.0, raw_energy=True):
    """kaldi-native-fbank on int16-scaled samples, dither 0."""
    o = knf.FbankOptions()
    o.frame_opts.dither = 0.0
    o.frame_opts.samp_freq = sample_rate
    o.frame_opts.window_type = window
    o.frame_opts.frame_length_ms = frame_length_ms
    o.frame_opts.frame_shift_ms = frame_shift_ms
    o.frame_opts.snip_edges = True
    o.mel_opts.num_bins = num_bins
    o.mel_opts.low_freq = low_freq
    o.mel_opts.high_freq = high_freq
    o.use_energy = use_energy
    o.raw_energy = raw_energy
    f = knf.OnlineFbank(o)
    f.accept_waveform(sample_rate, (np.asarray(samples, np.float64) * 32768.0).tolist())
    f.input_finished()
    if f.num_frames_ready == 0:
        return np.zeros((0, num_bins + use_energy), np.float32)
    return np.stack([np.asarray(f.get_frame(i), np.float32) for i in range(f.num_frames_ready)])


def voiced(n, rate=16000, seed=0):
    """Speech-like test signal: harmonics of a moving pitch, an envelope,
    a little noise."""
    rng = np.random.default_rng(seed)
    t = np.arange(n) / rate
    f0 = 120 + 30 * np.sin(2 * np.pi * 0.7 * t)
    phase = 2 * np.pi * np.cumsum(f0) / rate
    env = 0.5 + 0.5 * np.sin(2 * np.pi * 2.5 * t) ** 2
    x = sum(0.3 / h * np.sin(h * phase) for h in range(1, 25)) * env
    return (x + 0.003 * rng.standard_normal(n)).astype(np.float32)


def espeak(tmp_path, text="the quick brown fox jumps over the lazy dog"):
    if shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng is not installed")
    path = tmp_path / "speech.wav"
    subprocess.run(["espeak-ng", "-w", str(path), text], check=True, capture_output=True)
    return path


# ---- fbank -------------------------------------------------------------------

SIGNALS = {
    "voiced": lambda: voiced(32000),
    "white": lambda: (np.random.default_rng(1).uniform(-0.5, 0.5, 16000)).astype(np.float32),
    "tiny": lambda: (np.random.default_rng(2).standard_normal(16000) * 3e-4).astype(np.float32),
    "loud_clipped": lambda: np.clip(voiced(16000) * 8, -1, 1).astype(np.float32),
    "sub_lsb": lambda: (np.random.default_rng(3).standard_normal(16000) * 2e-6).astype(np.float32),
}


def chirp():
    return (0.5 * np.sin(2 * np.pi * np.cumsum(np.linspace(50, 7900, 16000)) / 16000)).astype(np.float32)


@pytest.mark.parametrize("signal", sorted(SIGNALS))
def test_fbank_matches_kaldi_native_fbank(signal):
    x = SIGNALS[signal]()
    ours = _core.fbank(x)
    ref = knf_fbank(x)
    assert ours.shape == ref.shape == (1 + (len(x) - 400) // 160, 80)
    assert ours.dtype == np.float32
    assert np.abs(ours - ref).max() <= 1e-3, np.abs(ours - ref).max()


def test_fbank_pure_tone_differs_only_in_float_rounding_noise():
    """A pure tone leaves many mel bins 100-150 dB below the frame's
    strongest bin. There the float32 time-domain steps (pre-emphasis,
    window), which Kaldi and kaldi-native-fbank perform in float as we do,
    leave rounding noise of that order, and the implementations round
    differently: such bins differ by up to ~0.6 in log (each about as far
    from a float64 computation as the other). Bins within 80 dB of the
    frame's strongest agree to 1e-3, within 100 dB to 1e-2."""
    x = chirp()
    ours, ref = _core.fbank(x), knf_fbank(x)
    below_db = 10 / np.log(10) * (ref.max(axis=1, keepdims=True) - ref)
    diff = np.abs(ours - ref)
    assert (below_db < 80).mean() > 0.15  # enough resolved bins for the check to mean something
    assert diff[below_db < 80].max() <= 1e-3
    assert diff[below_db < 100].max() <= 1e-2
    assert diff.max() < 1.0


@pytest.mark.parametrize("window", ["povey", "hamming", "hanning", "rectangular", "blackman", "sine"])
@pytest.mark.parametrize("use_energy", [False, True])
def test_fbank_options_match_kaldi_native_fbank(window, use_energy):
    x = voiced(8000, seed=3)
    ours = _core.fbank(x, num_bins=40, window=window, use_energy=use_energy)
    ref = knf_fbank(x, num_bins=40, window=window, use_energy=use_energy)
    assert np.abs(ours - ref).max() <= 1e-3


@pytest.mark.parametrize("kw", [dict(num_bins=23), dict(num_bins=120), dict(low_freq=100.0, high_freq=-400.0),
                                dict(low_freq=0.0, high_freq=7000.0), dict(sample_rate=8000, num_bins=40),
                                dict(frame_length_ms=32.0, frame_shift_ms=20.0),
                                dict(use_energy=True, raw_energy=False)])
def test_fbank_more_options_match(kw):
    rate = kw.get("sample_rate", 16000)
    x = voiced(rate, rate=rate, seed=4)
    ours = _core.fbank(x, **kw)
    ref = knf_fbank(x, **kw)
    assert ours.shape == ref.shape
    assert np.abs(ours - ref).max() <= 1e-3


def test_fbank_on_real_speech_matches(tmp_path):
    """Synthetic speech from espeak-ng (22.05 kHz), resampled to 16 kHz.
    Speech has bins far below the frame's strongest (below ~60 Hz, where
    espeak puts nothing, and above the resampler's 7.36 kHz pass band);
    there float rounding differs as in the pure-tone test."""
    path = espeak(tmp_path, "personalized low bit speech recognition runs on small devices. "
                            "it is fast and accurate.")
    samples, rate = _core.read_wav(str(path))
    x = _core.resample(samples, rate, 16000)
    ours, ref = _core.fbank(x), knf_fbank(x)
    assert ours.shape == ref.shape and len(ours) > 300
    below_db = 10 / np.log(10) * (ref.max(axis=1, keepdims=True) - ref)
    diff = np.abs(ours - ref)
    assert diff[below_db < 80].max() <= 1e-3
    assert diff.max() <= 1e-2


def test_silence_gives_the_energy_floor():
    zeros = np.zeros(16000, np.float32)
    ours = _core.fbank(zeros, use_energy=True)
    np.testing.assert_array_equal(ours, np.float32(EPS_LOG))
    np.testing.assert_allclose(knf_fbank(zeros, use_energy=True), ours, atol=1e-6)


def test_short_input_gives_no_frames():
    for n in (0, 1, 399):
        f = _core.fbank(np.zeros(n, np.float32))
        assert f.shape == (0, 80)
    assert _core.fbank(np.zeros(400, np.float32)).shape == (1, 80)


@pytest.mark.parametrize("seed", range(6))
def test_fbank_stream_equals_whole_utterance(seed):
    rng = np.random.default_rng(seed)
    x = voiced(24000 + seed * 37, seed=seed)
    whole = _core.fbank(x)
    s = _core.FbankStream()
    got = []
    pos = 0
    max_piece = [5, 160, 400, 1000, 4000, 30000][seed]
    while pos < len(x):
        n = int(rng.integers(0, max_piece + 1))
        s.accept(x[pos:pos + n])
        pos += n
        assert s.num_buffered < 400
        if rng.random() < 0.3:
            got.append(s.take(int(rng.integers(0, 3))))
    got.append(s.take())
    got = np.concatenate(got)
    assert s.num_frames == len(whole) and s.num_samples == len(x)
    np.testing.assert_array_equal(got, whole)  # exactly: same code path


def test_fbank_stream_options_and_reset():
    x = voiced(8000)
    s = _core.FbankStream(sample_rate=16000, num_bins=40, window="hamming")
    assert s.dim == 40
    s.accept(x)
    a = s.take()
    s.reset()
    assert s.num_frames == 0 and s.num_ready == 0
    s.accept(x)
    np.testing.assert_array_equal(s.take(), a)
    np.testing.assert_array_equal(a, _core.fbank(x, num_bins=40, window="hamming"))


def test_fbank_input_scale_option():
    x = voiced(8000)
    np.testing.assert_array_equal(_core.fbank(x * 32768.0, input_scale=1.0), _core.fbank(x))


def test_too_many_bins_are_refused_like_kaldi():
    x = voiced(4000)
    with pytest.raises(ValueError, match="You may have set num_mel_bins too large"):
        knf_fbank(x, num_bins=128)
    with pytest.raises(ValueError, match="covers no FFT bin"):
        _core.fbank(x, num_bins=128)


def test_fbank_bad_input():
    with pytest.raises(ValueError, match="unknown option"):
        _core.fbank(np.zeros(800, np.float32), dither=1.0)
    with pytest.raises(ValueError, match="num_bins"):
        _core.fbank(np.zeros(800, np.float32), num_bins=0)
    with pytest.raises(ValueError, match="window"):
        _core.FbankStream(window="gauss")
    with pytest.raises(ValueError, match="1-D"):
        _core.fbank(np.zeros((2, 800), np.float32))
    bad = np.zeros(800, np.float32)
    bad[10] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        _core.fbank(bad)
    with pytest.raises(ValueError, match="NaN"):
        _core.FbankStream().accept(bad)


# ---- WAV reader ----------------------------------------------------------------

SUBTYPES = [("WAV", "PCM_U8", 1 / 128), ("WAV", "PCM_16", 0), ("WAV", "PCM_24", 0), ("WAV", "PCM_32", 0),
            ("WAV", "FLOAT", 0), ("WAV", "DOUBLE", 0), ("WAVEX", "PCM_16", 0), ("WAVEX", "PCM_24", 0),
            ("WAVEX", "FLOAT", 0)]


@pytest.mark.parametrize("fmt,subtype,tol", SUBTYPES)
@pytest.mark.parametrize("channels", [1, 2, 6])
def test_read_wav_matches_soundfile(tmp_path, fmt, subtype, tol, channels):
    rng = np.random.default_rng(channels)
    data = np.clip(rng.standard_normal((3001, channels)) * 0.3, -1, 1)
    path = tmp_path / f"x_{fmt}_{subtype}.wav"
    sf.write(path, data, 22050, format=fmt, subtype=subtype)
    ours, rate = _core.read_wav(str(path))
    assert rate == 22050
    ref = sf.read(path, dtype="float64", always_2d=True)[0].mean(axis=1)
    assert ours.dtype == np.float32 and ours.shape == ref.shape
    assert np.abs(ours - ref).max() <= tol + 1e-7


def test_read_wav_of_espeak_speech(tmp_path):
    path = espeak(tmp_path)
    ours, rate = _core.read_wav(str(path))
    ref, ref_rate = sf.read(path, dtype="float32")
    assert rate == ref_rate
    np.testing.assert_array_equal(ours, ref)


def _wav_bytes(samples_int16, rate=16000, data_size=None, extra_chunks=b""):
    data = np.asarray(samples_int16, "<i2").tobytes()
    fmt = struct.pack("<4sIHHIIHH", b"fmt ", 16, 1, 1, rate, rate * 2, 2, 16)
    size = len(data) if data_size is None else data_size
    body = b"WAVE" + extra_chunks + fmt + struct.pack("<4sI", b"data", size) + data
    return b"RIFF" + struct.pack("<I", len(body)) + body


def test_truncated_data_is_clamped_with_a_warning(tmp_path):
    path = tmp_path / "cut.wav"
    path.write_bytes(_wav_bytes(np.arange(100), data_size=10_000))
    with pytest.warns(RuntimeWarning, match="truncated"):
        x, rate = _core.read_wav(str(path))
    assert len(x) == 100 and rate == 16000
    np.testing.assert_array_equal(x, np.arange(100, dtype=np.float32) / 32768)


def test_odd_chunks_and_in_memory_bytes():
    blob = _wav_bytes([1, 2, 3], extra_chunks=b"LIST" + struct.pack("<I", 3) + b"abc\0")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        x, rate = _core.read_wav_bytes(blob)
    np.testing.assert_array_equal(x, np.array([1, 2, 3], np.float32) / 32768)


@pytest.mark.parametrize("content,message", [
    (b"", "empty"),
    (b"RIFF\x10\0\0\0WA", "too short"),
    (b"hello, this is a text file, not audio at all", "not a WAV"),
    (b"RIFF\x04\0\0\0WAVE", "no 'fmt '"),
    (b"RIFF\x20\0\0\0WAVEfmt \x10\0\0\0\x01\0\x01\0", "'fmt ' chunk claims"),
])
def test_malformed_wav_files_raise_value_error_naming_the_file(tmp_path, content, message):
    path = tmp_path / "bad.wav"
    path.write_bytes(content)
    with pytest.raises(ValueError, match=message) as e:
        _core.read_wav(str(path))
    assert str(path) in str(e.value)


def test_missing_file_is_named():
    with pytest.raises(ValueError, match="cannot open"):
        _core.read_wav("/nonexistent/dir/x.wav")


def test_random_corruptions_never_crash():
    rng = np.random.default_rng(0)
    base = bytearray(_wav_bytes(rng.integers(-3000, 3000, 200), extra_chunks=b"junk\x02\0\0\0ab"))
    outcomes = {"ok": 0, "error": 0}
    for _ in range(500):
        b = bytearray(base)
        for _ in range(int(rng.integers(1, 6))):
            b[int(rng.integers(0, len(b)))] = int(rng.integers(0, 256))
        b = bytes(b[: int(rng.integers(0, len(b) + 1))]) if rng.random() < 0.3 else bytes(b)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                x, rate = _core.read_wav_bytes(b)
            assert x.dtype == np.float32 and rate > 0
            outcomes["ok"] += 1
        except ValueError:
            outcomes["error"] += 1
    assert outcomes["ok"] > 0 and outcomes["error"] > 0


def test_validate_samples():
    _core.validate_samples(np.zeros(10, np.float32))
    _core.validate_samples(np.zeros(0, np.float32))  # empty is valid
    x = np.zeros(32000, np.float32)
    x[16000] = np.inf
    with pytest.raises(ValueError, match=r"mic: sample 16000 \(at 1.000 s\) is \+Inf"):
        _core.validate_samples(x, "mic", 16000)


# ---- resampling -------------------------------------------------------------------

def tone(freq, rate, seconds=1.0, amp=0.5):
    return (amp * np.sin(2 * np.pi * freq * np.arange(int(seconds * rate)) / rate + 0.2)).astype(np.float32)


def spectrum_peak(y, rate):
    """(frequency, amplitude) of the strongest component, Hann-windowed,
    edges dropped; amplitude corrected for the window."""
    y = y[rate // 20: -rate // 20].astype(np.float64)
    w = np.hanning(len(y))
    spec = np.abs(np.fft.rfft(y * w)) * 2 / w.sum()
    k = int(np.argmax(spec))
    # Parabolic interpolation on the log spectrum for sub-bin frequency.
    a, b, c = np.log(spec[k - 1: k + 2] + 1e-30)
    delta = 0.5 * (a - c) / (a - 2 * b + c)
    return (k + delta) * rate / len(y), spec[k - 1: k + 2].max()


@pytest.mark.parametrize("src,dst", [(44100, 16000), (48000, 16000), (8000, 16000), (22050, 16000),
                                     (16000, 44100), (44101, 16000)])
@pytest.mark.parametrize("frac", [0.05, 0.3, 0.8])
def test_resampled_tone_keeps_frequency_and_amplitude(src, dst, frac):
    freq = frac * min(src, dst) / 2
    y = _core.resample(tone(freq, src), src, dst)
    assert len(y) == -(-src * dst // src)  # ceil(n * dst / src) for n = src
    f, amp = spectrum_peak(y, dst)
    assert abs(f - freq) < 0.5, (f, freq)
    assert abs(amp - 0.5) < 0.01  # Hann-windowed peak estimate: within 2%
    # And the full check on a fit: residual tiny.
    t = np.arange(len(y)) / dst
    basis = np.stack([np.sin(2 * np.pi * freq * t), np.cos(2 * np.pi * freq * t)], 1)[dst // 20: -dst // 20]
    coef, res, *_ = np.linalg.lstsq(basis, y[dst // 20: -dst // 20], rcond=None)
    assert abs(np.hypot(*coef) - 0.5) < 1e-3
    assert np.sqrt(res[0] / len(basis)) < 0.5 / np.sqrt(2) * 1e-3


@pytest.mark.parametrize("src", [44100, 48000, 22050, 32000])
@pytest.mark.parametrize("over", [1.02, 1.3, 1.8])
def test_tones_above_new_nyquist_are_removed(src, over):
    freq = over * 8000
    if freq >= src / 2:
        pytest.skip("above the source Nyquist")
    y = _core.resample(tone(freq, src), src, 16000)
    rms = np.sqrt(np.mean(y[800:-800].astype(np.float64) ** 2))
    assert 20 * np.log10(rms / (0.5 / np.sqrt(2))) < -60


def test_streaming_resampler_equals_one_shot():
    rng = np.random.default_rng(5)
    x = rng.standard_normal(30000).astype(np.float32) * 0.2
    want = _core.resample(x, 44100, 16000)
    r = _core.Resampler(44100, 16000)
    pieces, pos = [], 0
    while pos < len(x):
        n = int(rng.integers(0, 2000))
        pieces.append(r.process(x[pos:pos + n]))
        pos += n
    pieces.append(r.flush())
    np.testing.assert_array_equal(np.concatenate(pieces), want)


def test_resample_bad_rates():
    with pytest.raises(ValueError, match="rates"):
        _core.resample(np.zeros(10, np.float32), 0, 16000)
    with pytest.raises(ValueError, match="ratio"):
        _core.resample(np.zeros(10, np.float32), 1000, 96000)
