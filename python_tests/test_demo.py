"""`qasr demo` end to end (needs the built-in model; personalizes it, so torch too)."""

import re
from pathlib import Path

import pytest

pytest.importorskip("torch")
pytest.importorskip("jiwer")

from qasr_native.api import resolve_model  # noqa: E402
from qasr_native.cli import main  # noqa: E402

try:
    resolve_model("builtin")
    HAVE_BUILTIN = True
except FileNotFoundError:
    HAVE_BUILTIN = False

pytestmark = pytest.mark.skipif(not HAVE_BUILTIN, reason="the built-in model is not in this tree")


def _table(out):
    rows = {}
    for line in out.splitlines():
        m = re.match(r"^(float32|built-in 4-bit QAT|personalized)\s+(\d+)\s+([\d.]+)x\s+([\d.]+)%\s+([\d.]+)%\s+([\d.]+)$",
                     line)
        if m:
            rows[m.group(1)] = [float(v) for v in m.groups()[1:]]
    return rows


def _run(capsys, args):
    assert main(["demo", *args]) == 0
    return capsys.readouterr().out


def test_demo_with_espeak(capsys, tmp_path):
    from qasr_native.data.espeak import espeak_available

    if not espeak_available():
        pytest.skip("espeak-ng is not installed")
    out = _run(capsys, ["--calib-clips", "4", "--test-clips", "3", "--budget", "1.7MB", "--keep", str(tmp_path)])
    assert "synthesized 4 calibration + 3 test clips" in out
    assert "final :" in out and "truth :" in out
    rows = _table(out)
    assert set(rows) == {"float32", "built-in 4-bit QAT", "personalized"}
    f32 = (tmp_path / "builtin_f32.qasr").stat().st_size
    assert rows["float32"][0] == f32
    assert rows["built-in 4-bit QAT"][0] == Path(resolve_model("builtin")).stat().st_size
    assert rows["personalized"][0] == (tmp_path / "personalized.qasr").stat().st_size <= 1.7e6
    for size, ratio, *_ in rows.values():
        assert ratio == pytest.approx(f32 / size, abs=0.006)


def test_demo_falls_back_to_shipped_clips(capsys, monkeypatch):
    import qasr_native.data.espeak as espeak

    monkeypatch.setattr(espeak, "espeak_available", lambda: False)
    out = _run(capsys, ["--budget", "1.7MB"])
    assert "espeak-ng not found" in out
    rows = _table(out)
    assert set(rows) == {"float32", "built-in 4-bit QAT", "personalized"}


def test_demo_without_torch_extras_says_what_to_install(monkeypatch, capsys):
    import sys

    monkeypatch.setitem(sys.modules, "jiwer", None)  # import jiwer -> ImportError
    assert main(["demo"]) == 1
    assert "pip install 'qasr-native[personalize]'" in capsys.readouterr().err
