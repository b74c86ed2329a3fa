"""The reference Conformer-CTC, the torch mirror and the .qasr exporter."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from qasr_native.export.conformer import export_conformer, load_conformer, resolve_precision  # noqa: E402
from qasr_native.export.qasr_file import read_qasr  # noqa: E402
from qasr_native.models.conformer import ConformerConfig, ConformerCTC, chunk_mask  # noqa: E402
from qasr_native.quant import mirror  # noqa: E402
from qasr_native.quant import torch_mirror as tm  # noqa: E402

torch.set_num_threads(1)


def small_config(**kw):
    base = dict(d_model=64, n_heads=4, n_layers=2, ff_dim=96, conv_kernel=5, sub_channels=8, vocab_size=12)
    base.update(kw)
    return ConformerConfig(**base)


def make_model(seed=0, **kw):
    torch.manual_seed(seed)
    m = ConformerCTC(small_config(**kw)).eval()
    with torch.no_grad():  # non-trivial norms and cmvn, so the export must carry them
        for n, p in m.named_parameters():
            if "norm" in n:
                p.add_(0.1 * torch.randn_like(p))
        m.set_cmvn(torch.randn(80), 0.5 + torch.rand(80))
    return m


def test_activation_quantizer_is_bit_equal_to_numpy_mirror():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((7, 100)).astype(np.float32) * rng.choice([1e-3, 1.0, 1e3], size=(7, 1)).astype(np.float32)
    x[2] = 0.0
    x[3, :32] = 1e-38  # 127 / amax overflows: a zero block
    x[4, 5] = 0.5  # exact ties for round-half-even
    q_np, s_np, _ = mirror.quantize_activations(x)
    q_t, s_t = tm.quantize_activations(torch.from_numpy(x))
    assert np.array_equal(q_t.reshape(7, -1).numpy().astype(np.int8), q_np)
    assert np.array_equal(s_t.numpy(), s_np)


@pytest.mark.parametrize("fmt,group", [("q8", 0), ("q8", 32), ("q4", 32), ("q4", 64), ("q4a", 128)])
def test_integer_linear_matches_numpy_mirror(fmt, group):
    rng = np.random.default_rng(1)
    w = rng.standard_normal((37, 150)).astype(np.float32)
    x = rng.standard_normal((9, 150)).astype(np.float32)
    b = rng.standard_normal(37).astype(np.float32)
    q = mirror.quantize_weight(w, fmt, group)
    ref = mirror.qmatmul(x, q, b)
    got = tm.integer_linear(torch.from_numpy(x), tm.TorchQuantizedWeight(q), torch.from_numpy(b)).numpy()
    bound = np.abs(x).sum(1, keepdims=True) * np.abs(w).sum(1)[None] + np.abs(b)
    assert np.all(np.abs(got - ref) <= 1e-5 * bound)


def test_quantized_linear_is_straight_through():
    torch.manual_seed(0)
    lin = torch.nn.Linear(40, 8)
    x = torch.randn(5, 40, requires_grad=True)
    layer = tm.MirrorLinear(lin, "q4", 32, qat=True)
    y = layer(x)
    exact = tm.integer_linear(x, tm.quantize_linear_weight(lin.weight, "q4", 32), lin.bias)
    assert torch.equal(y.detach(), exact)
    y.sum().backward()
    # Straight through: d(sum y)/dW = sum over rows of x, as for a float linear.
    assert torch.allclose(lin.weight.grad, x.detach().sum(0).expand(8, 40), atol=1e-5)
    assert torch.allclose(x.grad, lin.weight.detach().sum(0).expand(5, 40), atol=1e-5)


def test_chunk_mask_rule():
    m = chunk_mask(7, 2, 1)
    for i in range(7):
        for j in range(7):
            assert bool(m[i, j]) == (j // 2 <= i // 2 and j // 2 >= i // 2 - 1)
    assert chunk_mask(5, None) is None
    assert bool(chunk_mask(6, 2, -1)[5, 0])


@pytest.mark.parametrize("chunk,left", [(None, -1), (2, -1), (3, 1), (1, 0)])
def test_prefix_outputs_never_see_the_future(chunk, left):
    """What streaming relies on: finished chunks' outputs are final."""
    m = make_model()
    x = torch.randn(1, 120, 80)
    full, _ = m(x, chunk_size=chunk, left_chunks=left)
    T = full.shape[1]
    for cut in (47, 83):
        part, _ = m(x[:, :cut], chunk_size=chunk, left_chunks=left)
        n = part.shape[1] if chunk is None else part.shape[1] // chunk * chunk
        if chunk is None:
            continue  # full context attends to everything: no prefix property
        assert n > 0 and n <= T
        assert torch.allclose(part[:, :n], full[:, :n], atol=1e-5)


def test_batch_padding_does_not_change_outputs():
    m = make_model(subsampling=8)
    x = torch.randn(3, 150, 80)
    lengths = torch.tensor([150, 99, 31])
    y, out_len = m(x, lengths, chunk_size=4, left_chunks=2)
    for b in range(3):
        yb, lb = m(x[b: b + 1, : lengths[b]], chunk_size=4, left_chunks=2)
        assert int(lb[0]) == int(out_len[b])
        assert torch.allclose(y[b, : lb[0]], yb[0], atol=1e-5)


def test_short_input_gives_no_frames():
    m = make_model()
    y, n = m(torch.randn(1, 6, 80))
    assert y.shape[1] == 0 and int(n[0]) == 0
    y, n = m(torch.randn(1, 7, 80))
    assert y.shape[1] == 1


def test_export_float_round_trip(tmp_path):
    m = make_model()
    tok = {"kind": "char", "pieces": ["<blk>", "|"] + list("abcdefghij"), "blank": 0}
    path = tmp_path / "m.qasr"
    size = export_conformer(m, path, "f32", tokenizer=tok)
    assert size == path.stat().st_size
    m2, header = load_conformer(path)
    assert header["model"]["family"] == "conformer_ctc"
    assert header["tokenizer"] == tok
    x = torch.randn(1, 90, 80)
    assert torch.equal(m(x)[0], m2(x)[0])
    # Every state_dict entry is a tensor of the file, under its own name.
    assert set(read_qasr(path).names) == set(m.state_dict())


@pytest.mark.parametrize("precision", ["q8", "q4", "q4a", "mixed"])
def test_export_quantized_equals_mirror_model(tmp_path, precision):
    m = make_model()
    names = [n for n, _ in tm.linear_layers(m)]
    if precision == "mixed":
        spec = {n: ("q4", 64) if i % 2 else ("q8", 0) for i, n in enumerate(names)}
        spec[names[0]] = "f32"
    else:
        spec = resolve_precision(m, precision)
    path = tmp_path / "m.qasr"
    export_conformer(m, path, spec)
    ref = tm.apply_quantization(make_model(), spec)
    loaded, header = load_conformer(path)
    layers = header["quantization"]["layers"]
    assert {n: (v["format"], v["group"]) for n, v in layers.items()} == {n: tm.layer_spec(s) for n, s in spec.items()}
    x = torch.randn(1, 75, 80)
    with torch.no_grad():
        assert torch.equal(ref(x)[0], loaded(x)[0])
        float_out = make_model()(x)[0]
        err = (ref(x)[0] - float_out).abs().max()
    assert 0 < err < 1.0  # quantized, and not garbage


def test_unknown_layer_and_format_are_errors():
    m = make_model()
    with pytest.raises(ValueError, match="not a linear layer"):
        tm.apply_quantization(m, {"blocks.0.attn.nope": "q8"})
    with pytest.raises(ValueError, match="unknown weight format"):
        resolve_precision(m, "q3")
    with pytest.raises(ValueError, match="does not have"):
        resolve_precision(m, {"head.bad": "q8"})


def test_tokenizer_must_match_vocabulary(tmp_path):
    m = make_model()
    with pytest.raises(ValueError, match="pieces"):
        export_conformer(m, tmp_path / "x.qasr", tokenizer={"kind": "char", "pieces": ["a"], "blank": 0})


def test_presets_are_in_the_documented_ranges():
    tiny = ConformerCTC(ConformerConfig.preset("tiny", 32)).num_parameters()
    small = ConformerCTC(ConformerConfig.preset("small", 256)).num_parameters()
    assert 1e6 <= tiny <= 3e6 and 10e6 <= small <= 30e6
