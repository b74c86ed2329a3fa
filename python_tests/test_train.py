"""qasr_native.train: tokenizer, batching, SpecAugment, the training loop, resume and QAT parity.

The loop runs on a toy corpus written here (one tone per character, so no
espeak-ng is needed) with a very small Conformer: each run is a few seconds.
"""

import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("jiwer")
pytest.importorskip("tqdm")

from qasr_native.data.audio import write_wav  # noqa: E402
from qasr_native.data.manifest import ManifestEntry, write_manifest  # noqa: E402
from qasr_native.export.conformer import load_conformer  # noqa: E402
from qasr_native.export.qasr_file import read_qasr  # noqa: E402
from qasr_native.models.conformer import ConformerConfig, ConformerCTC  # noqa: E402
from qasr_native.quant.torch_mirror import MirrorLinear  # noqa: E402
from qasr_native.train.config import load_config  # noqa: E402
from qasr_native.train.dataset import compute_fbank, length_batches, load_features  # noqa: E402
from qasr_native.train.evaluate import ctc_greedy_ids, error_rates  # noqa: E402
from qasr_native.train.quant import SimLinear, apply_setting, servable, weight_specs  # noqa: E402
from qasr_native.train.specaugment import SpecAugmentConfig, spec_augment  # noqa: E402
from qasr_native.train.tokenizer import CharTokenizer  # noqa: E402
from qasr_native.train.trainer import Trainer  # noqa: E402

torch.set_num_threads(1)

SMALL = {"d_model": 32, "n_heads": 2, "n_layers": 1, "ff_dim": 64, "conv_kernel": 5, "sub_channels": 8}
FREQ = {"a": 300.0, "b": 700.0, "c": 1300.0, "d": 2200.0}
TEXTS = ["ab cd", "ba dc", "abc", "dab", "cab d", "a b c", "bad", "cc ad"]


def tone_clip(text, rng):
    """80 ms tone per letter, 60 ms silence per space, 20 ms gaps; light noise."""
    sr, parts = 16000, []
    for ch in text:
        n = int(0.06 * sr) if ch == " " else int(0.08 * sr)
        t = np.arange(n) / sr
        parts.append(np.zeros(n) if ch == " " else 0.4 * np.sin(2 * np.pi * FREQ[ch] * t))
        parts.append(np.zeros(int(0.02 * sr)))
    x = np.concatenate([np.zeros(1600)] + parts + [np.zeros(1600)])
    return (x + 0.003 * rng.standard_normal(len(x))).astype(np.float32)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    d = tmp_path_factory.mktemp("toy")
    rng = np.random.default_rng(0)
    entries = []
    for i, t in enumerate(TEXTS):
        p = d / f"c{i}.wav"
        write_wav(p, tone_clip(t, rng))
        entries.append(ManifestEntry(str(p), t, speaker=f"s{i % 2}"))
    write_manifest(d / "manifest.jsonl", entries)
    return d


def toy_config(corpus, out, **over):
    cfg = {
        "out_dir": str(out), "model": dict(SMALL),
        "data": {"train": str(corpus / "manifest.jsonl"), "valid": str(corpus / "manifest.jsonl"),
                 "cache_dir": str(corpus / "cache")},
        "steps": 40, "batch": {"max_frames": 100000, "max_batch": 4},
        "optim": {"lr": 3e-3, "warmup_steps": 5},
        "log_every": 1, "eval_every": 1000, "ckpt_every": 1000, "eval_streaming": [],
    }
    cfg.update(over)
    return load_config(base=cfg)


# -- pieces -------------------------------------------------------------------

def test_tokenizer_round_trip_and_header_format():
    tok = CharTokenizer.train(["hello world", "it's"])
    assert tok.pieces[:2] == ["<blank>", "|"]
    assert tok.to_dict() == {"kind": "char", "pieces": tok.pieces, "blank": 0}
    ids = tok.encode("  it's  hello ")
    assert 0 not in ids and tok.decode(ids) == "it's hello"
    assert CharTokenizer.from_dict(tok.to_dict()).pieces == tok.pieces
    with pytest.raises(ValueError, match="not in the tokenizer"):
        tok.encode("xyz")
    with pytest.raises(ValueError):
        CharTokenizer(["a", "b"])


def test_tokenizer_decodes_like_the_core():
    from qasr_native import _core

    tok = CharTokenizer.train(TEXTS)
    core = _core.Tokenizer(tok.pieces, "char", 0)
    for t in TEXTS:
        assert core.decode(tok.encode(t)) == tok.decode(tok.encode(t)) == " ".join(t.split())


def test_length_batches_cover_everything_within_budget():
    rng = np.random.default_rng(1)
    lens = rng.integers(50, 500, size=200)
    for r in (None, np.random.default_rng(2)):
        batches = length_batches(lens, 2000, 16, r)
        assert sorted(i for b in batches for i in b) == list(range(200))
        for b in batches:
            assert len(b) <= 16
            assert len(b) == 1 or max(lens[i] for i in b) * len(b) <= 2000


def test_spec_augment_masks_only_valid_frames_and_is_seeded():
    x = torch.randn(2, 120, 80)
    lens = torch.tensor([120, 70])
    cfg = SpecAugmentConfig(freq_masks=2, freq_width=10, time_masks=3, time_width=0.2, time_width_max=20)
    a = spec_augment(x, lens, cfg, torch.Generator().manual_seed(5))
    b = spec_augment(x, lens, cfg, torch.Generator().manual_seed(5))
    assert torch.equal(a, b)
    assert not torch.equal(a, x)
    assert torch.equal(a[1, 70:], x[1, 70:])  # padding untouched


def test_ctc_greedy_and_error_rates():
    logits = torch.full((6, 4), -5.0)
    for t, k in enumerate([1, 1, 0, 1, 2, 2]):
        logits[t, k] = 5.0
    assert ctc_greedy_ids(logits, 6) == [1, 1, 2]
    assert ctc_greedy_ids(logits, 2) == [1]
    r = error_rates(["a b c", "d"], ["a x c", "d"])
    assert r["wer"] == pytest.approx(1 / 4) and r["clips"] == 2


def test_features_are_the_cores_fbank_and_cached(corpus):
    fs = load_features(corpus / "manifest.jsonl", corpus / "cache", progress=False)
    assert len(fs) == len(TEXTS)
    from qasr_native.data.audio import load_audio

    np.testing.assert_array_equal(fs.feats(3), compute_fbank(load_audio(fs.entries[3].path)))
    assert list((corpus / "cache").glob("fbank-*.npz"))
    again = load_features(corpus / "manifest.jsonl", corpus / "cache", progress=False)
    np.testing.assert_array_equal(again.frames, fs.frames)


def test_config_rejects_unknown_fields(tmp_path):
    p = tmp_path / "c.json"
    p.write_text(json.dumps({"data": {"train": "x.jsonl"}, "stepz": 3}))
    with pytest.raises(ValueError, match="stepz"):
        load_config(str(p))
    p.write_text(json.dumps({"data": {"train": "x.jsonl"}}))
    with pytest.raises(ValueError, match="optim.lrr"):
        load_config(str(p), ["optim.lrr=1"])
    assert load_config(str(p), ["optim.lr=0.5"])["optim"]["lr"] == 0.5


def test_quant_settings_grid():
    torch.manual_seed(0)
    m = ConformerCTC(ConformerConfig(vocab_size=8, **SMALL)).eval()
    x = torch.randn(1, 60, 80)
    ref = m(x)[0]
    specs = weight_specs(m, "mixed")
    assert specs["head"][0] == "q8" and specs["blocks.0.ff1.linear1"][0] == "q4"
    outs = {}
    for w in ("float", "q8", "q4", "mixed"):
        for a in ("float", "int8"):
            apply_setting(m, w, a, qat=False)
            kinds = {type(mod) for _, mod in m.named_modules()}
            if w != "float" and a == "int8":
                assert MirrorLinear in kinds and SimLinear not in kinds  # the core's arithmetic
            if w == "float" and a == "float":
                assert MirrorLinear not in kinds and SimLinear not in kinds
            assert servable(w, a) == ((w == "float") == (a == "float"))
            with torch.no_grad():
                outs[w, a] = m(x)[0]
    assert torch.equal(outs["float", "float"], ref)  # back to float: same weights
    err = {k: float((v - ref).abs().max()) for k, v in outs.items()}
    assert err["q4", "float"] > err["q8", "float"] > 0
    assert err["q8", "int8"] > 0 and err["float", "int8"] > 0


# -- the loop -----------------------------------------------------------------

def test_training_decreases_loss(corpus, tmp_path):
    tr = Trainer(toy_config(corpus, tmp_path / "run"), progress=False, log=lambda s: None)
    tr.fit()
    losses = [r["loss"] for r in tr.history if "loss" in r]
    first, last = np.mean(losses[:3]), np.mean(losses[-3:])
    assert last < 0.7 * first, (first, last)
    assert (tmp_path / "run" / "ckpt_last.pt").exists()


def test_resume_continues_exactly(corpus, tmp_path):
    over = {"steps": 6, "specaugment": {"freq_masks": 1, "freq_width": 8, "time_masks": 1, "time_width": 0.1,
                                         "time_width_max": 10}}
    straight = Trainer(toy_config(corpus, tmp_path / "a", **over), progress=False, log=lambda s: None)
    straight.fit()
    part = Trainer(toy_config(corpus, tmp_path / "b", **over), progress=False, log=lambda s: None)
    part.fit(max_steps=3)
    assert part.step == 3
    resumed = Trainer(toy_config(corpus, tmp_path / "b", **over), progress=False, log=lambda s: None)
    assert resumed.resume() and resumed.step == 3
    resumed.fit()
    assert resumed.step == 6
    for k, v in straight.model.state_dict().items():
        assert torch.equal(v, resumed.model.state_dict()[k]), k


@pytest.mark.parametrize("weights", ["q4", "mixed"])
def test_qat_export_matches_training_forward(corpus, tmp_path, weights):
    cfg = toy_config(corpus, tmp_path / "qat", steps=3, quant={"weights": weights, "activations": "int8"},
                     export=str(tmp_path / "m.qasr"))
    tr = Trainer(cfg, progress=False, log=lambda s: None)
    res = tr.fit()
    assert res["export"]["bytes"] == (tmp_path / "m.qasr").stat().st_size
    loaded, header = load_conformer(tmp_path / "m.qasr")
    assert header["tokenizer"] == tr.tokenizer.to_dict()
    layers = header["quantization"]["layers"]
    assert layers["blocks.0.ff1.linear1"]["format"] == "q4"
    assert layers["head"]["format"] == ("q8" if weights == "mixed" else "q4")
    tr.model.eval()
    fs = tr.train_fs
    for i in range(3):
        x = torch.from_numpy(fs.feats(i))[None]
        with torch.no_grad():
            a, _ = tr.model(x)
            b, _ = loaded(x)
            sa, _ = tr.model(x, chunk_size=4, left_chunks=1)
            sb, _ = loaded(x, chunk_size=4, left_chunks=1)
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(sa, sb, rtol=1e-5, atol=1e-5)
        assert ctc_greedy_ids(a[0], a.shape[1]) == ctc_greedy_ids(b[0], b.shape[1])


def test_cli_train_runs_and_exports(corpus, tmp_path, capsys):
    from qasr_native.cli import main

    cfg = toy_config(corpus, tmp_path / "cli", steps=2, export=str(tmp_path / "cli.qasr"))
    p = tmp_path / "cfg.json"
    p.write_text(json.dumps(cfg))
    assert main(["train", "--config", str(p), "--quiet"]) == 0
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert out["step"] == 2 and read_qasr(tmp_path / "cli.qasr").header["model"]["family"] == "conformer_ctc"
    assert main(["train", "--config", str(p), "--set", "stepz=1"]) == 1


def test_weight_setting_groups():
    m = ConformerCTC(ConformerConfig(vocab_size=8, **SMALL))
    assert set(weight_specs(m, "q4@64").values()) == {("q4", 64)}
    assert set(weight_specs(m, "q4").values()) == {("q4", 32)}
    assert weight_specs(m, "mixed")["blocks.0.ff2.linear2"] == ("q4", 64)
    for bad in ("q4@x", "mixed@64", "q3"):
        with pytest.raises(ValueError):
            weight_specs(m, bad)


@pytest.mark.parametrize("weights", ["q4@64", "mixed"])
def test_qat_model_serves_identically_in_the_core(corpus, tmp_path, weights):
    """The C++ core runs the exported QAT model as trained: logits within the
    executor's documented tolerance of the training-time forward (0.05: an
    activation within float rounding of an int8 boundary may round the other
    way, python_tests/test_runtime_conformer.py), greedy tokens equal except
    on near-ties, and then the same transcripts, full context and streaming."""
    api = pytest.importorskip("qasr_native.api")
    from qasr_native.data.audio import load_audio

    cfg = toy_config(corpus, tmp_path / "qat", steps=3, quant={"weights": weights, "activations": "int8"},
                     export=str(tmp_path / "m.qasr"))
    tr = Trainer(cfg, progress=False, log=lambda s: None)
    tr.fit()
    tr.model.eval()
    rec = api.Recognizer(str(tmp_path / "m.qasr"), chunk_ms=160, left_chunks=2)
    assert rec.chunk_frames == 4
    nonempty = 0
    for i, e in enumerate(tr.train_fs.entries):
        feats = tr.train_fs.feats(i)
        for chunk, left in ((None, -1), (4, 2)):
            with torch.no_grad():
                ref = tr.model(torch.from_numpy(feats)[None], chunk_size=chunk, left_chunks=left)[0][0].numpy()
            got = rec.logits(feats, chunk or 0, left)
            assert got.shape == ref.shape
            dev = float(np.abs(got - ref).max())
            assert dev < 0.05, (i, chunk, dev)
            top2 = np.sort(ref, axis=1)[:, -2:]
            differ = got.argmax(1) != ref.argmax(1)
            assert np.all(top2[differ, 1] - top2[differ, 0] <= 2 * dev)
            if differ.any():
                continue
            want = tr.tokenizer.decode(ctc_greedy_ids(torch.from_numpy(ref), len(ref)))
            audio = load_audio(e.path)
            res = rec.transcribe(audio, streaming=chunk is not None)
            assert res.text == want
            nonempty += bool(want)
    assert nonempty >= 4  # the model says something, so equal transcripts mean something
