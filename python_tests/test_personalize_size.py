"""Exact size prediction for per-layer assignments, and budget parsing."""

import os

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from _personalize_model import tiny_adapter  # noqa: E402
from qasr_native.export.conformer import load_conformer  # noqa: E402
from qasr_native.export.qasr_file import read_qasr  # noqa: E402
from qasr_native.personalize.calibration import calibrate_assignment  # noqa: E402
from qasr_native.personalize.size import parse_budget  # noqa: E402

torch.set_num_threads(1)

CHOICES = [("f32", 0), ("q8", 0), ("q8", 32), ("q8", 64), ("q8", 128), ("q4", 32), ("q4", 64), ("q4", 128),
           ("q4a", 32), ("q4a", 128)]


def test_prediction_equals_file_size_for_random_assignments(tmp_path):
    adapter = tiny_adapter()
    names = [l.name for l in adapter.layers()]
    rng = np.random.default_rng(1)
    prov = {"source_model": "x", "method": "test", "budget_bytes": 123456789, "calibration": {"clips": 3}}
    extra = {"calibration": "minmax"}
    sizer = adapter.sizer(prov, extra)
    sizes = set()
    for i in range(25):
        assignment = {n: CHOICES[rng.integers(len(CHOICES))] for n in names}
        predicted = sizer.file_size(assignment)
        out = tmp_path / f"a{i}.qasr"
        # the file written for real: calibrated (min-max) codes, the writer's own provenance handling
        adapter.writer(calibrate_assignment(adapter, assignment, "minmax", progress=None),
                       {**prov, "predicted_size": predicted}, extra).write(out)
        assert os.path.getsize(out) == predicted
        h = read_qasr(out).header
        assert h["provenance"]["actual_size"] == predicted == h["provenance"]["predicted_size"]
        layers_h = h["quantization"]["layers"]
        assert {n: (v["format"], v["group"]) for n, v in layers_h.items()} == assignment
        sizes.add(predicted)
    assert len(sizes) > 10  # the assignments really differ in size


def test_written_file_loads_back_with_the_assignment(tmp_path):
    adapter = tiny_adapter()
    names = [l.name for l in adapter.layers()]
    assignment = {n: ("q4", 32) if i % 2 else ("q8", 0) for i, n in enumerate(names)}
    out = tmp_path / "m.qasr"
    adapter.writer(calibrate_assignment(adapter, assignment, "mse", progress=None)).write(out)
    model, header = load_conformer(out)
    formats = {n: (m.format, m.group) for n, m in model.named_modules() if hasattr(m, "qweight")}
    assert formats == assignment


@pytest.mark.parametrize("text,expected", [
    ("12MB", 12_000_000), ("12 MB", 12_000_000), ("1.5MiB", 1_572_864), ("900KB", 900_000),
    ("2KiB", 2048), ("123456", 123456), ("123456B", 123456), ("1GB", 10**9),
])
def test_budget_units(text, expected):
    assert parse_budget(text) == expected


def test_budget_ratios():
    assert parse_budget("0.25x", 1000) == 250
    assert parse_budget("30%", 1000) == 300
    with pytest.raises(ValueError, match="relative"):
        parse_budget("0.5x")


@pytest.mark.parametrize("bad", ["", "abc", "12 parsecs", "-3MB", "0MB", "1.2.3MB"])
def test_bad_budgets_are_clear_errors(bad):
    with pytest.raises(ValueError):
        parse_budget(bad, 1000)


def test_widths_and_groups():
    from qasr_native.personalize.widths import parse_widths

    assert parse_widths("4,8") == [("f32", 0), ("q8", 0), ("q4", 32)]
    assert parse_widths("4", 64) == [("f32", 0), ("q4", 64)]
    assert parse_widths("2,3,4,5,6,8", 64) == [("f32", 0), ("q8", 0), ("q6", 64), ("q5", 64), ("q4", 64),
                                               ("q3", 64), ("q2", 64)]
    for bad, msg in (("7", "not supported"), ("1", "not supported"), ("x", "not an integer"), ("", "no candidate")):
        with pytest.raises(ValueError, match=msg):
            parse_widths(bad)
    with pytest.raises(ValueError, match="group"):
        parse_widths("4", 48)
