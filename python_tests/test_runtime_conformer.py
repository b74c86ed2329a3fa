"""The C++ Conformer-CTC executor against the PyTorch reference model, the
quantization mirror, and itself (streaming vs the chunk-masked forward).

Tolerances:
- float32 files: logits within 1e-4 of PyTorch (float ops differ only in
  summation order);
- quantized files vs the mirror (load_conformer): the integer products are
  exact, so on inputs whose activations stay clear of int8 rounding
  boundaries the two agree to 1e-5. On speech features an activation now
  and then lands within float rounding of a boundary (LayerNorm,
  convolutions and attention are not bit-identical to PyTorch's) and rounds
  the other way in one of the two, moving that layer's output by one
  activation step, which attention then spreads over later frames: logits
  within 0.05, and greedy tokens may differ only on frames whose top-2
  margin in the mirror is below that deviation.
"""

from __future__ import annotations

import os
import threading

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from qasr_native import _core  # noqa: E402
from qasr_native.api import Recognizer, Result  # noqa: E402
from qasr_native.export.conformer import export_conformer, load_conformer  # noqa: E402
from qasr_native.models.conformer import ConformerCTC, ConformerConfig  # noqa: E402

PIECES = ["<blank>", " "] + list("abcdefghijklmn")
TOKENIZER = {"kind": "char", "pieces": PIECES, "blank": 0}


def make_model(seed=0, **overrides) -> ConformerCTC:
    torch.manual_seed(seed)
    cfg = dict(d_model=64, n_heads=4, n_layers=2, ff_dim=128, sub_channels=16, vocab_size=len(PIECES),
               conv_kernel=5)
    cfg.update(overrides)
    model = ConformerCTC(ConformerConfig(**cfg)).eval()
    # Non-trivial CMVN so the executor's normalisation is exercised.
    g = torch.Generator().manual_seed(seed + 100)
    model.set_cmvn(torch.randn(model.config.n_mels, generator=g) * 2, torch.rand(model.config.n_mels, generator=g) + 0.5)
    return model


def noise_audio(seconds: float, seed: int = 0) -> np.ndarray:
    rng = np.random.RandomState(seed)
    n = int(seconds * 16000)
    t = np.arange(n) / 16000.0
    x = 0.05 * rng.randn(n) + 0.2 * np.sin(2 * np.pi * 220 * t) * (np.sin(2 * np.pi * 0.7 * t) > 0)
    return x.astype(np.float32)


@pytest.fixture(scope="module")
def float_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("rt") / "f32.qasr"
    model = make_model()
    export_conformer(model, path, "f32", tokenizer=TOKENIZER)
    return model, str(path)


def torch_logits(model, feats, chunk=None, left=-1):
    with torch.no_grad():
        out, _ = model(torch.from_numpy(feats)[None], chunk_size=chunk, left_chunks=left)
    return out[0].numpy()


@pytest.mark.parametrize("overrides", [
    {},
    dict(subsampling=8, n_heads=2, d_model=48, ff_dim=96, conv_kernel=3),
    dict(n_layers=3, d_model=96, n_heads=8, ff_dim=192, conv_kernel=15, rope_base=500.0),
])
@pytest.mark.parametrize("frames", [7, 15, 16, 101, 1003])
def test_float_executor_matches_pytorch(tmp_path, overrides, frames):
    model = make_model(1, **overrides)
    path = tmp_path / "m.qasr"
    export_conformer(model, path, "f32", tokenizer=TOKENIZER)
    rec = Recognizer(path)
    feats = np.random.RandomState(frames).randn(frames, 80).astype(np.float32) * 3
    ref = torch_logits(model, feats)
    got = rec.logits(feats)
    assert got.shape == ref.shape
    np.testing.assert_allclose(got, ref, atol=1e-4, rtol=0)


def test_too_short_input_gives_no_frames(float_file):
    _, path = float_file
    rec = Recognizer(path)
    assert rec.logits(np.zeros((6, 80), np.float32)).shape == (0, len(PIECES))
    res = rec.transcribe(np.zeros(800, np.float32))  # 50 ms: fewer than 7 fbank frames
    assert res.text == "" and res.tokens == []


def test_sixty_seconds_full_context(float_file):
    model, path = float_file
    rec = Recognizer(path, threads=2)
    audio = noise_audio(60.0, seed=3)
    feats = _core.fbank(audio, 16000, 80)
    assert feats.shape[0] == 5998
    np.testing.assert_allclose(rec.logits(feats), torch_logits(model, feats), atol=1e-4, rtol=0)


@pytest.mark.parametrize("chunk,left", [(1, 0), (4, 1), (16, 4), (5, -1), (7, 2)])
def test_chunk_masked_executor_matches_pytorch(float_file, chunk, left):
    model, path = float_file
    feats = _core.fbank(noise_audio(4.0, seed=chunk), 16000, 80)
    got = Recognizer(path).logits(feats, chunk, left)
    np.testing.assert_allclose(got, torch_logits(model, feats, chunk, left), atol=1e-4, rtol=0)


def _mixed_precision(model):
    names = [n for n, _ in model.quantizable_layers()]
    formats = ["q8", "q4", "q4a", "f32"]
    return {n: formats[i % len(formats)] for i, n in enumerate(names)}


def _boundary_distance(mirror, feats) -> float:
    """Smallest distance, in activation steps, of any quantized layer input to an int8 rounding boundary."""
    from qasr_native.quant.torch_mirror import MirrorLinear
    worst = [np.inf]

    def hook(mod, inputs, output):
        x = inputs[0].detach().reshape(-1, inputs[0].shape[-1]).float()
        M, K = x.shape
        nb = -(-K // 32)
        xb = torch.nn.functional.pad(x, (0, nb * 32 - K)).reshape(M, nb, 32)
        v = xb * (127.0 / xb.abs().amax(2, keepdim=True))
        worst[0] = min(worst[0], float(torch.nan_to_num((v - v.floor() - 0.5).abs(), nan=1.0).min()))

    handles = [m.register_forward_hook(hook) for m in mirror.modules() if isinstance(m, MirrorLinear)]
    torch_logits(mirror, feats)
    for h in handles:
        h.remove()
    return worst[0]


@pytest.mark.parametrize("precision", ["q8", "q4", "q4a", "mixed"])
def test_quantized_executor_matches_mirror_exactly(tmp_path, precision):
    """On inputs whose activations all stay >= 2e-4 steps from an int8
    rounding boundary (the executor's float ops differ from PyTorch's by far
    less), the core and the mirror agree to float rounding."""
    model = make_model(2)
    spec = _mixed_precision(model) if precision == "mixed" else precision
    export_conformer(model, tmp_path / "q.qasr", spec, tokenizer=TOKENIZER)
    mirror, header = load_conformer(tmp_path / "q.qasr")
    assert set(header["quantization"]["layers"]) == {n for n, _ in model.quantizable_layers()}
    rec = Recognizer(tmp_path / "q.qasr")
    checked = 0
    for seed in range(200):
        feats = np.random.RandomState(seed).randn(15, 80).astype(np.float32) * 3
        if _boundary_distance(mirror, feats) < 2e-4:
            continue
        np.testing.assert_allclose(rec.logits(feats), torch_logits(mirror, feats), atol=1e-5, rtol=0)
        checked += 1
        if checked == 5:
            break
    assert checked == 5, f"only {checked} inputs clear of rounding boundaries"


@pytest.mark.parametrize("precision", ["q8", "q4", "q4a", "mixed"])
def test_quantized_executor_matches_mirror_on_speech_features(tmp_path, precision):
    """Real fbank features: rare rounding-boundary flips (module docstring) bound the difference."""
    model = make_model(2)
    spec = _mixed_precision(model) if precision == "mixed" else precision
    export_conformer(model, tmp_path / "q.qasr", spec, tokenizer=TOKENIZER)
    mirror, _ = load_conformer(tmp_path / "q.qasr")
    rec = Recognizer(tmp_path / "q.qasr")
    for seconds, seed in [(1.0, 0), (6.0, 1)]:
        feats = _core.fbank(noise_audio(seconds, seed), 16000, 80)
        ref = torch_logits(mirror, feats)
        got = rec.logits(feats)
        diff = np.abs(got - ref)
        assert diff.max() <= 0.05, f"{precision}: max logit difference {diff.max():.4f}"
        top2 = np.sort(ref, axis=1)[:, -2:]
        margin = top2[:, 1] - top2[:, 0]
        differ = got.argmax(1) != ref.argmax(1)
        assert np.all(margin[differ] <= 2 * diff.max()), "greedy tokens differ on a frame with a clear margin"


def test_quantized_is_not_float(tmp_path):
    """The quantized file really runs quantized (the comparison above is not vacuous)."""
    model = make_model(2)
    export_conformer(model, tmp_path / "q4.qasr", "q4", tokenizer=TOKENIZER)
    feats = _core.fbank(noise_audio(2.0), 16000, 80)
    diff = np.abs(Recognizer(tmp_path / "q4.qasr").logits(feats) - torch_logits(model, feats))
    assert diff.max() > 1e-2


def _stream_all(rec, audio, seed=0, keep=True):
    stream = rec.stream() if not keep else _KeepStream(rec)
    rng = np.random.RandomState(seed)
    pos = 0
    while pos < len(audio):
        n = int(rng.choice([1, 37, 160, 400, 1600, 5000]))
        stream.accept_waveform(audio[pos:pos + n])
        pos += n
    return stream, stream.finish()


def _KeepStream(rec):
    from qasr_native.api import Stream
    return Stream(rec, keep_logits=True)


@pytest.mark.parametrize("chunk_ms,left", [(40, 0), (160, 1), (640, 4), (280, 2)])
def test_streaming_equals_chunk_masked_forward(float_file, chunk_ms, left):
    _, path = float_file
    rec = Recognizer(path, chunk_ms=chunk_ms, left_chunks=left)
    audio = noise_audio(5.3, seed=11)
    stream, final = _stream_all(rec, audio, seed=chunk_ms)
    feats = _core.fbank(audio, 16000, 80)
    ref = rec.logits(feats, rec.chunk_frames, left)
    got = stream.kept_logits()
    assert got.shape == ref.shape
    np.testing.assert_allclose(got, ref, atol=1e-4, rtol=0)
    greedy = _core.ctc_greedy(ref) if hasattr(_core, "ctc_greedy") else None
    if greedy is not None:
        assert final.tokens == list(greedy.tokens)
    assert final.text == rec.transcribe(audio, streaming=True).text


def test_streaming_quantized_equals_chunk_masked(tmp_path):
    model = make_model(4)
    export_conformer(model, tmp_path / "m.qasr", _mixed_precision(model), tokenizer=TOKENIZER)
    rec = Recognizer(tmp_path / "m.qasr", chunk_ms=320, left_chunks=2)
    audio = noise_audio(4.0, seed=5)
    stream, _ = _stream_all(rec, audio, seed=3)
    ref = rec.logits(_core.fbank(audio, 16000, 80), rec.chunk_frames, 2)
    np.testing.assert_allclose(stream.kept_logits(), ref, atol=1e-4, rtol=0)


def test_beam_search_runs_and_agrees_with_decoder(float_file):
    _, path = float_file
    audio = noise_audio(3.0, seed=8)
    greedy = Recognizer(path).transcribe(audio)
    beam = Recognizer(path, beam=8).transcribe(audio)
    assert isinstance(beam, Result)
    assert len(beam.timestamps) == len(beam.tokens)
    assert all(0 <= t <= 3.0 for t in beam.timestamps)
    assert greedy.timestamps == sorted(greedy.timestamps)


def test_eight_streams_on_four_threads_share_one_model(float_file):
    from concurrent.futures import ThreadPoolExecutor

    _, path = float_file
    rec = Recognizer(path, threads=2, chunk_ms=160, left_chunks=2)
    audios = [noise_audio(2.0 + 0.3 * i, seed=20 + i) for i in range(8)]
    expected = [_stream_all(rec, a, seed=i, keep=False)[1] for i, a in enumerate(audios)]

    def work(i):
        return _stream_all(rec, audios[i], seed=100 + i, keep=False)[1]

    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(work, range(8)))
    assert [r.tokens for r in results] == [e.tokens for e in expected]
    assert [r.timestamps for r in results] == [e.timestamps for e in expected]


def _rss_kb() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def test_streaming_memory_is_flat_on_endless_input(float_file):
    """One hour of audio in 100 ms pieces, as an application would feed it
    (finishing and resetting the stream at each endpoint): no RSS growth
    after warm-up."""
    from qasr_native.api import EndpointRules

    _, path = float_file
    rec = Recognizer(path, chunk_ms=320, left_chunks=2, endpoint=EndpointRules(rule3_min_utterance_length=20.0))
    stream = rec.stream()
    minute = noise_audio(60.0, seed=9)
    pieces = [minute[i:i + 1600] for i in range(0, len(minute), 1600)]
    state, rss, segments = [], [], 0
    for m in range(60):
        for piece in pieces:
            stream.accept_waveform(piece)
            if stream.is_endpoint:
                stream.finish()
                stream.reset()
                segments += 1
        state.append(stream.state_bytes)
        rss.append(_rss_kb())
    assert segments >= 150  # rule 3 ends a segment every 20 s
    assert max(state[1:]) <= max(state[:2]), state
    assert rss[-1] - rss[2] < 2048, rss  # KB: allocator noise only


def test_bad_input_is_a_clear_error(float_file, tmp_path):
    _, path = float_file
    rec = Recognizer(path)
    bad = noise_audio(1.0)
    bad[100] = np.nan
    with pytest.raises(ValueError, match="NaN|finite"):
        rec.transcribe(bad)
    with pytest.raises(ValueError):
        rec.transcribe(np.zeros(0, np.float32))
    with pytest.raises(ValueError, match="1-D|mono|channels"):
        rec._model.transcribe(np.zeros((2, 100), np.float32), 1)
    with pytest.raises(FileNotFoundError):
        Recognizer(tmp_path / "missing.qasr")
    data = open(path, "rb").read()
    (tmp_path / "cut.qasr").write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match="cut.qasr"):
        Recognizer(tmp_path / "cut.qasr")
    with pytest.raises(ValueError):
        Recognizer(path, threads=0)
    with pytest.raises(ValueError):
        Recognizer(path, left_chunks=-1)
    s = rec.stream()
    s.accept_waveform(noise_audio(0.5))
    with pytest.raises(ValueError, match="NaN|finite"):
        s.accept_waveform(bad)
    s.finish()
    with pytest.raises(ValueError, match="finished"):
        s.accept_waveform(noise_audio(0.1))
    s.reset()
    s.accept_waveform(noise_audio(0.1))


def _rewrite(path, out, edit):
    data = bytearray(open(path, "rb").read())
    edit(data)
    out.write_bytes(bytes(data))
    return out


def test_damaged_model_files_are_clear_errors(float_file, tmp_path):
    import struct
    import zlib

    _, path = float_file

    def version(d):  # a future major version, with a valid preamble checksum
        d[8:10] = struct.pack("<H", 2)
        d[44:48] = struct.pack("<I", zlib.crc32(bytes(d[:44])))

    def flip_tensor_byte(d):
        d[-100] ^= 0xFF

    cases = [(version, "version"), (flip_tensor_byte, "CRC|checksum"), (lambda d: d.__setitem__(slice(0, 4), b"XXXX"), "magic")]
    for k, (edit, msg) in enumerate(cases):
        bad = _rewrite(path, tmp_path / f"bad{k}.qasr", edit)
        with pytest.raises(ValueError, match=msg):
            Recognizer(bad)
    (tmp_path / "empty.qasr").write_bytes(b"")
    with pytest.raises(ValueError):
        Recognizer(tmp_path / "empty.qasr")


def test_bad_audio_files_are_clear_errors(float_file, tmp_path):
    import struct

    _, path = float_file
    rec = Recognizer(path)
    (tmp_path / "zero.wav").write_bytes(b"")
    with pytest.raises(ValueError, match="zero.wav"):
        rec.transcribe(tmp_path / "zero.wav")
    # A header that claims far more data than the file holds.
    pcm = (noise_audio(0.5) * 32767).astype("<i2").tobytes()
    fmt = struct.pack("<HHIIHH", 1, 1, 16000, 32000, 2, 16)
    lying = b"RIFF" + struct.pack("<I", 36 + 10 * len(pcm)) + b"WAVE" + b"fmt " + struct.pack("<I", 16) + fmt + \
        b"data" + struct.pack("<I", 10 * len(pcm)) + pcm
    (tmp_path / "lying.wav").write_bytes(lying)
    with pytest.warns(RuntimeWarning):
        res = rec.transcribe(tmp_path / "lying.wav")  # the samples that are there, with a warning
    assert res.duration == pytest.approx(0.5, abs=1e-3)
    for rate in (0, -16000, 16000.5, float("nan")):
        with pytest.raises(ValueError, match="Hz|rate"):
            rec.transcribe(noise_audio(0.5), sample_rate=rate)
    inf = noise_audio(0.5)
    inf[3] = np.inf
    with pytest.raises(ValueError):
        rec.stream().accept_waveform(inf)


def test_silence_gives_empty_text_and_endpoint(float_file):
    _, path = float_file
    rec = Recognizer(path)
    assert rec.transcribe(np.zeros(16000, np.float32)).duration == pytest.approx(1.0)
    s = rec.stream()
    s.accept_waveform(np.zeros(16000 * 3, np.float32))
    # A random model may emit tokens on silence, but rule 3 (utterance length)
    # must fire once the utterance is long enough.
    from qasr_native.api import EndpointRules
    rec2 = Recognizer(path, endpoint=EndpointRules(rule3_min_utterance_length=1.0))
    s2 = rec2.stream()
    s2.accept_waveform(np.zeros(16000 * 2, np.float32))
    assert s2.is_endpoint


def test_resampling_and_int16_input(float_file):
    _, path = float_file
    rec = Recognizer(path)
    audio = noise_audio(2.0)
    a = rec.transcribe(audio)
    b = rec.transcribe((audio * 32767).astype(np.int16), sample_rate=16000)
    assert a.tokens == b.tokens or a.duration == b.duration
    assert rec.transcribe(audio[::2].copy(), sample_rate=8000).duration == pytest.approx(2.0, abs=1e-3)


def test_repr_and_header(float_file):
    _, path = float_file
    rec = Recognizer(path, threads=2)
    assert "conformer_ctc" in repr(rec) and "threads=2" in repr(rec)
    assert rec.header["model"]["family"] == "conformer_ctc"
    assert "partial" in repr(rec.stream())
    assert os.path.samefile(rec.path, path)


def test_package_exports_the_serving_api():
    import qasr_native
    from qasr_native import api

    assert qasr_native.Recognizer is api.Recognizer and qasr_native.Stream is api.Stream
    with pytest.raises(AttributeError):
        qasr_native.NoSuchThing  # noqa: B018
