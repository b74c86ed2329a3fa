"""The research widths {2, 3, 5, 6}: simulated by the mirror, priced by the size model, never written.

Checked against independent references: the symmetric b-bit formula written
out here with numpy, and the bit-packed byte count computed from the
layout's definition (16 x 32 blocks of b-bit codes + f16 scales).
"""

import json
import os

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from _personalize_model import TOKENIZER, tiny_adapter, tiny_model  # noqa: E402
from qasr_native.cli import main  # noqa: E402
from qasr_native.data.demo import demo_clips_dir  # noqa: E402
from qasr_native.export.qasr_file import QasrWriter  # noqa: E402
from qasr_native.personalize.allocation import knapsack, myqasr  # noqa: E402
from qasr_native.personalize.calibration import calibrate  # noqa: E402
from qasr_native.personalize.clips import ClipSet  # noqa: E402
from qasr_native.personalize.pipeline import personalize  # noqa: E402
from qasr_native.personalize.sensitivity import measure  # noqa: E402
from qasr_native.personalize.widths import is_servable, parse_widths, spec_key  # noqa: E402
from qasr_native.quant import formats  # noqa: E402
from qasr_native.quant.mirror import dequantize, pack, quantize_weight  # noqa: E402
from qasr_native.quant.torch_mirror import MirrorLinear, integer_linear, layer_spec, TorchQuantizedWeight  # noqa: E402

torch.set_num_threads(1)
RESEARCH = parse_widths("2,3,4,5,6,8")
SIM = {"q2": 2, "q3": 3, "q5": 5, "q6": 6}


def _weights(seed=0, shape=(37, 100)):
    w = np.random.default_rng(seed).standard_normal(shape).astype(np.float32)
    w[3, 7] = 9.0  # an outlier: one group gets a large scale
    return w


@pytest.mark.parametrize("group", [32, 64, 128])
def test_fake_quant_levels_and_error_decrease_with_width(group):
    w = _weights()
    errs = []
    for fmt, b in (("q2", 2), ("q3", 3), ("q4", 4), ("q5", 5), ("q6", 6)):
        q = quantize_weight(w, fmt, group)
        wq = dequantize(q)
        G = -(-w.shape[1] // group)
        for n in range(w.shape[0]):
            for g in range(G):
                vals = np.unique(wq[n, g * group:(g + 1) * group])
                assert len(vals) <= 2 ** b
        errs.append(float(((wq - w) ** 2).mean()))
    errs.append(float(((dequantize(quantize_weight(w, "q8", 0)) - w) ** 2).mean()))
    assert all(a > b for a, b in zip(errs, errs[1:])), errs


@pytest.mark.parametrize("fmt", sorted(SIM))
def test_simulated_codes_follow_the_symmetric_formula(fmt):
    """Reference: s = (signed max |w| of the group) / -2^(b-1) in f16, code = clip(rint(w / s), -2^(b-1), 2^(b-1)-1)."""
    b, g = SIM[fmt], 32
    w = _weights(1, (20, 64))
    lo, hi = -(2 ** (b - 1)), 2 ** (b - 1) - 1
    q = quantize_weight(w, fmt, g)
    wg = w.reshape(20, 2, g)
    m = np.take_along_axis(wg, np.abs(wg).argmax(axis=2)[..., None], axis=2)[..., 0]
    s = (m / np.float32(lo)).astype(np.float16)
    np.testing.assert_array_equal(q.scales, s)
    s32 = np.repeat(s.astype(np.float32), g, axis=1)
    ref = np.clip(np.rint(w / s32), lo, hi)
    np.testing.assert_array_equal(q.codes.astype(np.int32) - 2 ** (b - 1), ref.astype(np.int32))
    np.testing.assert_array_equal(dequantize(q), (s32 * ref).astype(np.float32))
    assert ref.min() == lo  # the signed extreme of each group lands on the most negative code


def test_torch_mirror_runs_simulated_widths_exactly():
    """integer_linear on a simulated width equals the exact integer reference (int8 activations x b-bit codes)."""
    w = _weights(2, (24, 64))
    x = np.random.default_rng(3).standard_normal((5, 64)).astype(np.float32)
    from qasr_native.quant.mirror import qmatmul

    for fmt in SIM:
        q = quantize_weight(w, fmt, 32)
        y = integer_linear(torch.from_numpy(x), TorchQuantizedWeight(q)).numpy()
        np.testing.assert_allclose(y, qmatmul(x, q), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("fmt", sorted(SIM))
@pytest.mark.parametrize("N,K,group", [(16, 32, 32), (33, 70, 32), (40, 200, 64), (7, 300, 128)])
def test_size_model_prices_bit_packed_codes_and_scales(fmt, N, K, group):
    b = SIM[fmt]
    panels, blocks, groups = -(-N // 16), -(-K // 32), -(-K // group)
    codes = panels * 16 * blocks * 32 * b // 8  # b bits per padded weight
    scales = panels * 16 * groups * 2  # one f16 per padded row and group
    assert formats.layout(fmt, N, K, group).total_bytes == -(-codes // 64) * 64 + scales
    assert formats.layout(fmt, N, K, group).simulated and not formats.layout("q4", N, K, group).simulated


def test_simulated_widths_cannot_be_packed_or_written(tmp_path):
    w = _weights()
    for fmt in SIM:
        q = quantize_weight(w, fmt, 32)
        with pytest.raises(ValueError, match="simulated"):
            pack(q)
        wr = QasrWriter()
        with pytest.raises(ValueError, match="simulated: not servable"):
            wr.add_matrix("m", q)
        with pytest.raises(ValueError, match="simulated: not servable"):
            wr.add_matrix("m", w, fmt, 32)
        with pytest.raises(ValueError, match="unknown weight format"):  # outside the research tools: unknown
            layer_spec(fmt)
    adapter = tiny_adapter()
    name = adapter.layers()[0].name
    with pytest.raises(ValueError, match="simulated: not servable"):
        adapter.writer({name: quantize_weight(adapter.weight(name), "q3", 32)}).write(tmp_path / "x.qasr")
    assert not (tmp_path / "x.qasr").exists()


def test_calibration_accepts_simulated_widths():
    w = _weights(4, (32, 96))
    for fmt in SIM:
        base = ((dequantize(quantize_weight(w, fmt, 32)) - w) ** 2).sum()
        q = calibrate(w, fmt, 32, "mse")
        assert q.format == fmt and ((dequantize(q) - w) ** 2).sum() <= base


@pytest.fixture(scope="module")
def adapter():
    return tiny_adapter()


@pytest.fixture(scope="module")
def sens(adapter):
    return measure(adapter, ClipSet(demo_clips_dir()), "distortion", RESEARCH, progress=None)


def test_distortion_over_the_research_set(sens):
    keys = [spec_key(c) for c in RESEARCH if c[0] != "f32"]  # widest first
    total = [sum(sens.rel_mse[n][k] for n in sens.layers) for k in keys]
    assert all(a < b for a, b in zip(total, total[1:])), dict(zip(keys, total))


def test_allocation_over_the_research_set_meets_budgets_in_predicted_bytes(adapter, sens):
    names = [l.name for l in adapter.layers()]
    sizer = adapter.sizer()
    all4 = sizer.file_size({n: ("q4", 32) for n in names})
    all2 = sizer.file_size({n: ("q2", 32) for n in names})
    full = sizer.file_size({n: ("f32", 0) for n in names})
    assert all2 < all4
    for budget in (all2, (all2 + all4) // 2, all4 + 3000, (all4 + full) // 3):
        for alloc in (knapsack(sizer, names, RESEARCH, sens.scores(RESEARCH), budget),
                      myqasr(sizer, names, RESEARCH, sens.ranking_score(RESEARCH), budget, "paper"),
                      myqasr(sizer, names, RESEARCH, sens.ranking_score(RESEARCH), budget, "code")):
            assert alloc.size == sizer.file_size(alloc.assignment) <= budget
            if budget < all4:  # below every-layer-4-bit only 2 and 3 bits get there
                assert not all(is_servable(s) for s in alloc.assignment.values())


def _between_2_and_4_bits(adapter):
    """A budget (bytes) that only 2- and 3-bit layers reach: halfway between every layer q2 and every layer q4."""
    sizer, names = adapter.sizer(), [l.name for l in adapter.layers()]
    return (sizer.file_size({n: ("q2", 32) for n in names}) + sizer.file_size({n: ("q4", 32) for n in names})) // 2


def test_personalize_marks_simulated_results_and_writes_only_servable_ones(adapter, tmp_path):
    clips = ClipSet(demo_clips_dir())
    out = tmp_path / "sim.qasr"
    report, q = personalize(adapter, clips, _between_2_and_4_bits(adapter), out, widths="2,3,4,5,6,8", progress=False,
                            return_quantized=True)
    assert report["simulated"] and report["actual_size"] is None and not out.exists()
    assert report["predicted_size"] <= report["budget_bytes"]
    assert set(report["simulated_widths"]) <= {2, 3, 5, 6} and report["simulated_widths"]
    assert any("simulated: not servable" in n for n in report["notes"])
    with adapter.quantized(q) as m:  # the simulated model runs in the mirror
        assert any(isinstance(mod, MirrorLinear) and mod.format in SIM for mod in m.modules())
    # a generous budget keeps every layer float: servable, so it is written
    out2 = tmp_path / "f.qasr"
    report = personalize(adapter, clips, "2x", out2, widths="2,3,4,5,6,8", progress=False)
    assert not report["simulated"] and os.path.getsize(out2) == report["actual_size"] == report["predicted_size"]


def test_cli_marks_the_simulation_and_evaluates_it_in_the_mirror(tmp_path, capsys):
    m = tiny_model()
    ckpt = tmp_path / "tiny.pt"
    torch.save({"config": m.config.to_dict(), "state_dict": m.state_dict(), "tokenizer": TOKENIZER}, ckpt)
    out, rep = tmp_path / "u.qasr", tmp_path / "rep"
    budget = str(_between_2_and_4_bits(tiny_adapter()))
    rc = main(["personalize", str(ckpt), str(demo_clips_dir()), "--budget", budget, "--widths", "2,3,4",
               "-o", str(out), "--report", str(rep), "--quiet", "--eval", str(demo_clips_dir() / "manifest.jsonl")])
    text = capsys.readouterr().out
    assert rc == 0
    assert "SIMULATED: NOT SERVABLE" in text and "not written" in text and not out.exists()
    report = json.loads((rep / "report.json").read_text())
    assert report["simulated"]
    last = report["evaluation"]["points"][-1]
    assert last["label"].startswith("personalized (simulated") and last["backend"] == "torch-mirror"
    assert last["size"] == report["predicted_size"]
    assert "SIMULATED: NOT SERVABLE" in (rep / "report.md").read_text()


def test_qasr_pack_refuses_a_simulated_width(tmp_path, capsys):
    m = tiny_model()
    ckpt = tmp_path / "tiny.pt"
    torch.save({"config": m.config.to_dict(), "state_dict": m.state_dict(), "tokenizer": TOKENIZER}, ckpt)
    spec = tmp_path / "p.json"
    spec.write_text(json.dumps({"head": {"format": "q3", "group": 32}}))
    out = tmp_path / "x.qasr"
    assert main(["pack", str(ckpt), "--precision", str(spec), "-o", str(out)]) == 1
    assert "simulated: not servable" in capsys.readouterr().err and not out.exists()
