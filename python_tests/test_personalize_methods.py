"""Sensitivity, allocation and calibration on a tiny model, against independent references."""

import itertools
import math
import wave

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from _personalize_model import tiny_adapter  # noqa: E402
from qasr_native.data.demo import demo_clips_dir  # noqa: E402
from qasr_native.personalize.allocation import BudgetError, knapsack, myqasr, seed_bits  # noqa: E402
from qasr_native.personalize.calibration import HESSIAN_DAMP, calibrate  # noqa: E402
from qasr_native.personalize.clips import Clip, ClipSet  # noqa: E402
from qasr_native.personalize.sensitivity import measure  # noqa: E402
from qasr_native.personalize.widths import parse_widths, spec_key  # noqa: E402
from qasr_native.quant.mirror import dequantize, quantize_weight  # noqa: E402
from qasr_native.quant.torch_mirror import integer_linear, TorchQuantizedWeight  # noqa: E402

torch.set_num_threads(1)
CANDS = parse_widths("4,8")


@pytest.fixture(scope="module")
def adapter():
    return tiny_adapter()


@pytest.fixture(scope="module")
def clips():
    return ClipSet(demo_clips_dir())


# ---------------------------------------------------------------- sensitivity


def _reference_outputs(adapter, clips, name):
    """Every output of one layer over all clips, kept in full (the independent reference)."""
    outs, ins = [], []
    mod = adapter.module(name)

    def keep(m, a, o):
        outs.append(o.detach().reshape(-1, o.shape[-1]))
        ins.append(a[0].detach().reshape(-1, a[0].shape[-1]))

    prepared = [adapter.prepare(c.audio) for c in clips]  # prepare() runs the model too: not measured
    h = mod.register_forward_hook(keep)
    try:
        with torch.no_grad():
            for inputs in prepared:
                adapter.forward(inputs)
    finally:
        h.remove()
    return torch.cat(ins), torch.cat(outs)


def test_median_matches_the_exact_median(adapter, clips):
    s = measure(adapter, clips, "median", CANDS, progress=None)
    assert s.clips == len(clips)
    for name in ["blocks.0.ff1.linear1", "blocks.1.attn.qkv", "head"]:
        _, y = _reference_outputs(adapter, clips, name)
        exact = float(torch.median(y.abs()))
        assert s.median[name] == pytest.approx(exact, rel=3e-3)


def test_distortion_matches_a_direct_computation(adapter, clips):
    s = measure(adapter, clips, "distortion", CANDS, progress=None)
    name = "blocks.1.ff2.linear2"
    x, y = _reference_outputs(adapter, clips, name)
    mod = adapter.module(name)
    for c in CANDS[1:]:
        tq = TorchQuantizedWeight(quantize_weight(adapter.weight(name), *c))
        yq = integer_linear(x, tq, mod.bias).double()
        yd = y.double()
        rel = float(((yd - yq) ** 2).sum() / (yd ** 2).sum())
        cos = float((yd * yq).sum() / (yd.norm() * yq.norm()))
        assert s.rel_mse[name][spec_key(c)] == pytest.approx(rel, rel=1e-6)
        assert s.one_minus_cos[name][spec_key(c)] == pytest.approx(1 - cos, rel=1e-4, abs=1e-12)
    h = measure(adapter, clips, "distortion", CANDS, hessians=True, progress=None).hessians[name]
    np.testing.assert_allclose(h, (x.double().T @ x.double()).numpy(), rtol=1e-9)  # each clip counted once
    for n in s.layers:  # fewer bits, more damage, on every layer
        assert s.rel_mse[n]["q4/32"] > s.rel_mse[n]["q8/0"] > 0


def test_fisher_uses_each_clips_own_pseudo_label(adapter, clips):
    s = measure(adapter, clips, "fisher", CANDS, fisher_diag=True, progress=None)
    name = "blocks.0.attn.out"
    w = adapter.module(name).weight
    ref = torch.zeros_like(w, dtype=torch.float64)
    for c in clips:  # independent: plain autograd, one clip's own greedy labels at a time
        inp = adapter.prepare(c.audio)
        adapter.model.zero_grad()
        logits, _ = adapter.model(inp.feats)
        lp = torch.log_softmax(logits, -1).transpose(0, 1)
        from qasr_native.personalize.adapters.conformer import ctc_greedy

        target = ctc_greedy(logits[0].detach())
        loss = torch.nn.functional.ctc_loss(lp, target[None], torch.tensor([lp.shape[0]]),
                                            torch.tensor([target.numel()]), reduction="sum", zero_infinity=True)
        g, = torch.autograd.grad(loss, w)
        ref += g.double() ** 2
    np.testing.assert_allclose(s.fisher_diag[name], ref.numpy(), rtol=1e-4, atol=1e-12 * float(ref.max()))
    assert float(ref.max()) > 0
    for n in s.layers:
        assert s.fisher[n]["q4/32"] > s.fisher[n]["q8/0"] >= 0


def test_output_kl_matches_a_direct_computation(adapter, clips):
    s = measure(adapter, clips, "output", CANDS, progress=None)
    assert s.clips == len(clips)
    prepared = [adapter.prepare(c.audio) for c in clips]
    for name in ["subsample.out", "blocks.1.attn.qkv", "head"]:
        for c in CANDS[1:]:
            kl = 0.0
            for inp in prepared:  # independent: the whole model, the layer swapped by the integer mirror
                with torch.no_grad():
                    ref = torch.log_softmax(adapter.forward(inp)[0], -1).double()
                    with adapter.quantized({name: c}):
                        q = torch.log_softmax(adapter.forward(inp)[0], -1).double()
                kl += float((ref.exp() * (ref - q)).sum())
            assert s.output_kl[name][spec_key(c)] == pytest.approx(kl, rel=2e-3)
    for n in s.layers:
        assert s.output_kl[n]["q4/32"] > s.output_kl[n]["q8/0"] > 0
    assert set(s.scores(CANDS)["head"]) == {"f32/0", "q8/0", "q4/32"}


def test_output_kl_replays_only_blocks_the_layer_cannot_change(adapter, clips, monkeypatch):
    fast = measure(adapter, clips, "output", CANDS, progress=None)
    monkeypatch.setattr(type(adapter), "reusable_blocks", lambda self, layer: [])
    slow = measure(adapter, clips, "output", CANDS, progress=None)
    assert fast.output_kl == slow.output_kl  # replay is exact, not an approximation


def test_float_equivalent_linear_equals_the_integer_product():
    from qasr_native.quant.torch_mirror import float_equivalent_linear

    g = torch.Generator().manual_seed(0)
    x = torch.randn(37, 100, generator=g)
    w = torch.randn(24, 100, generator=g).numpy()
    for fmt, group in [("q8", 0), ("q4", 32), ("q4a", 32), ("q4", 64)]:
        tq = TorchQuantizedWeight(quantize_weight(w, fmt, group))
        exact = integer_linear(x, tq)
        fast = float_equivalent_linear(x, tq.dequantized)
        assert float((fast - exact).abs().max()) <= 1e-5 * float(exact.abs().max())


# ---------------------------------------------------------------- clips


def test_empty_and_missing_clip_folders(tmp_path):
    with pytest.raises(FileNotFoundError):
        ClipSet(tmp_path / "nope")
    (tmp_path / "notes.txt").write_text("not audio")
    with pytest.raises(ValueError, match="no audio files"):
        ClipSet(tmp_path)


def test_non_audio_file_is_a_clear_error(tmp_path, adapter):
    (tmp_path / "fake.wav").write_text("this is not a wav file")
    cs = ClipSet(tmp_path)
    with pytest.raises(ValueError, match="fake.wav"):
        measure(adapter, cs, "median", CANDS, progress=None)


def _write_wav(path, n):
    with wave.open(str(path), "wb") as f:
        f.setnchannels(1)
        f.setsampwidth(2)
        f.setframerate(16000)
        f.writeframes((np.random.default_rng(0).normal(0, 3000, n)).astype("<i2").tobytes())


def test_clips_shorter_than_one_frame_are_skipped(tmp_path, adapter):
    _write_wav(tmp_path / "short.wav", 200)
    with pytest.raises(ValueError, match="no usable calibration clip"):
        measure(adapter, ClipSet(tmp_path), "distortion", CANDS, progress=None)
    _write_wav(tmp_path / "long.wav", 16000)
    with pytest.warns(UserWarning, match="short.wav"):
        s = measure(adapter, ClipSet(tmp_path), "distortion", CANDS, progress=None)
    assert s.clips == 1 and len(s.skipped) == 1


# ---------------------------------------------------------------- allocation


def _toy_scores(names, seed=0):
    rng = np.random.default_rng(seed)
    return {n: {"f32/0": 0.0, "q8/0": float(a), "q4/32": float(a * b)}
            for n, a, b in zip(names, rng.uniform(0.01, 1, len(names)), rng.uniform(2, 50, len(names)))}


def test_knapsack_is_the_exact_optimum(adapter):
    sizer = adapter.sizer({"method": "t"})
    names = [l.name for l in adapter.layers()][:6]  # the other layers stay f32
    scores = _toy_scores(names)
    combos = list(itertools.product(CANDS, repeat=len(names)))
    sizes = [sizer.file_size(dict(zip(names, c))) for c in combos]
    for frac in (0.15, 0.4, 0.7, 0.9):
        budget = int(min(sizes) + frac * (max(sizes) - min(sizes)))
        best = min(sum(scores[n][spec_key(s)] for n, s in zip(names, c))
                   for c, size in zip(combos, sizes) if size <= budget)
        a = knapsack(sizer, names, CANDS, scores, budget)
        assert a.size == sizer.file_size(a.assignment) <= budget
        assert a.estimated_damage == pytest.approx(best, rel=1e-12)


def test_infeasible_and_generous_budgets(adapter):
    sizer = adapter.sizer()
    names = [l.name for l in adapter.layers()]
    smallest = sizer.file_size({n: ("q4", 32) for n in names})
    with pytest.raises(BudgetError, match=str(smallest)) as e:
        knapsack(sizer, names, CANDS, _toy_scores(names), smallest - 1)
    assert e.value.smallest == smallest
    with pytest.raises(BudgetError):
        myqasr(sizer, names, CANDS, {n: 1.0 for n in names}, 1000)
    a = knapsack(sizer, names, CANDS, _toy_scores(names), smallest)
    assert a.size == smallest
    full = sizer.file_size({n: ("f32", 0) for n in names})
    a = myqasr(sizer, names, CANDS, {n: 1.0 for n in names}, full + 10**6)
    assert set(a.assignment.values()) == {("f32", 0)} and "nothing is quantized" in a.notes[0]


def test_myqasr_round_robin_orders(adapter):
    sizer = adapter.sizer()
    names = [l.name for l in adapter.layers()]
    rank = {n: float(i) for i, n in enumerate(names)}  # module order = sensitivity order
    lo = sizer.file_size({n: ("q4", 32) for n in names})
    hi = sizer.file_size({n: ("f32", 0) for n in names})
    budget = (lo + hi) // 2
    paper = myqasr(sizer, names, CANDS, rank, budget, "paper")
    code = myqasr(sizer, names, CANDS, rank, budget, "code")
    for a in (paper, code):
        assert a.size <= budget
        levels = [CANDS.index(a.assignment[n]) for n in names]
        assert max(levels) - min(levels) <= 1  # round robin: two adjacent widths only
    # paper: the least sensitive (first) layers go lower; the released code does the opposite
    lp = [CANDS.index(paper.assignment[n]) for n in names]
    lc = [CANDS.index(code.assignment[n]) for n in names]
    assert lp == sorted(lp, reverse=True) and lc == sorted(lc) and lp != lc


def test_seed_bits_gives_two_adjacent_widths():
    numel = {f"l{i}": 1000 * (i + 1) for i in range(6)}
    rank = {n: i for i, n in enumerate(numel)}
    r = seed_bits(numel, 500, rank, 12000, "code")
    assert r["seed_size_bytes"] < 12000 and r["simulated"]
    assert len(r["widths"]) <= 2 and (len(r["widths"]) == 1 or r["widths"][1] - r["widths"][0] == 1)


# ---------------------------------------------------------------- calibration


@pytest.mark.parametrize("fmt,group", [("q8", 0), ("q4", 32), ("q4a", 32), ("q4", 64)])
def test_calibration_goes_through_the_mirror_and_beats_minmax(fmt, group):
    rng = np.random.default_rng(3)
    w = (rng.standard_t(3, size=(40, 96)) * 0.1).astype(np.float32)
    X = rng.normal(size=(300, 96)) * rng.uniform(0.1, 3, 96)
    H = X.T @ X
    F = rng.uniform(0, 1, w.shape) ** 4
    damp = HESSIAN_DAMP * np.mean(np.diag(H))
    mm = quantize_weight(w, fmt, group)
    errs = {
        "hessian": lambda q: ((X @ (dequantize(q) - w).T) ** 2).sum() + damp * ((dequantize(q) - w) ** 2).sum(),
        "mse": lambda q: ((dequantize(q) - w) ** 2).sum(),
        "l1": lambda q: np.abs(dequantize(q) - w).sum(),
        "fisher": lambda q: (F * (dequantize(q) - w) ** 2).sum(),
        "cosine": lambda q: 1 - (X @ w.T * (X @ dequantize(q).T)).sum(0).__truediv__(
            np.linalg.norm(X @ w.T, axis=0) * np.linalg.norm(X @ dequantize(q).T, axis=0)).mean(),
    }
    for method, err in errs.items():
        q = calibrate(w, fmt, group, method, hessian=H, fisher=F)
        # the codes are exactly the mirror's for the chosen scales: calibration only picks scales
        again = quantize_weight(w, fmt, group, q.scales, q.zeros)
        assert np.array_equal(again.codes, q.codes)
        if method not in ("cosine", "hessian") or group == 0:  # exact per row; grouped: block-diagonal H
            assert err(q) <= err(mm) * (1 + 1e-9)
        if method in ("mse", "l1", "fisher") and fmt != "q8":
            assert err(q) < err(mm)  # heavy tails at 4 bits: some clipping always helps


@pytest.mark.parametrize("fmt,group", [("q8", 0), ("q4", 32), ("q4a", 32)])
def test_hessian_calibration_is_mse_for_white_inputs_and_fits_the_speakers_inputs(fmt, group):
    rng = np.random.default_rng(5)
    w = (rng.standard_t(3, size=(64, 128)) * 0.1).astype(np.float32)
    # white inputs: the output error is the weight error, so the scales are mse's
    white = calibrate(w, fmt, group, "hessian", hessian=np.eye(128) * 7.0)
    mse = calibrate(w, fmt, group, "mse")
    assert np.array_equal(white.scales, mse.scales) and np.array_equal(white.codes, mse.codes)
    # a speaker whose inputs use a few channels strongly: fitted on some frames, the output error
    # on other frames of the same speaker is lower than mse's (which ignores the inputs)
    gain = np.where(rng.uniform(size=128) < 0.1, 8.0, 0.3)
    fit, held = (rng.normal(size=(n, 128)) * gain for n in (400, 4000))
    q = calibrate(w, fmt, group, "hessian", hessian=fit.T @ fit)
    out_err = lambda q: ((held @ (dequantize(q) - w).T) ** 2).sum()  # noqa: E731
    assert out_err(q) < 0.97 * out_err(mse)
    assert not np.array_equal(q.scales, mse.scales)


def test_calibration_input_errors():
    w = np.ones((4, 32), np.float32)
    for method in ("cosine", "hessian"):
        with pytest.raises(ValueError, match=f"{method} calibration needs"):
            calibrate(w, "q4", 32, method)
    with pytest.raises(ValueError, match="unknown calibration"):
        calibrate(w, "q4", 32, "bogus")


def test_quantized_context_runs_the_file_arithmetic_and_restores(adapter, clips, tmp_path):
    from qasr_native.export.conformer import load_conformer
    from qasr_native.personalize.calibration import calibrate_assignment

    names = [l.name for l in adapter.layers()]
    assignment = {n: (("q4", 32) if i % 3 else ("q8", 0)) for i, n in enumerate(names)}
    q = calibrate_assignment(adapter, assignment, "mse", progress=None)
    inputs = adapter.prepare(next(iter(clips)).audio)
    with torch.no_grad():
        before = adapter.forward(inputs)
        with adapter.quantized(q):
            inside = adapter.forward(inputs)
        after = adapter.forward(inputs)
        adapter.writer(q).write(tmp_path / "m.qasr")
        served, _ = load_conformer(tmp_path / "m.qasr")
        ref = served(inputs.feats)[0]
    assert torch.equal(before, after)  # the float model is untouched
    assert not torch.allclose(inside, before, atol=1e-3)
    torch.testing.assert_close(inside, ref, rtol=1e-5, atol=1e-5)
