"""qasr-transcribe (the standalone C++ executable) and `qasr transcribe`
give the Python API's results on the same files."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

torch = pytest.importorskip("torch")

from qasr_native.api import Recognizer  # noqa: E402
from qasr_native.data.demo import demo_entries  # noqa: E402
from qasr_native.export.conformer import export_conformer  # noqa: E402
from qasr_native.models.conformer import ConformerCTC, ConformerConfig  # noqa: E402
from qasr_native.tools import find_tool  # noqa: E402

PIECES = ["<blank>", " "] + list("etaoinshrdlu")


@pytest.fixture(scope="module")
def model_path(tmp_path_factory):
    torch.manual_seed(7)
    model = ConformerCTC(ConformerConfig(d_model=64, n_heads=4, n_layers=2, ff_dim=128, sub_channels=16,
                                         vocab_size=len(PIECES))).eval()
    path = tmp_path_factory.mktemp("tool") / "m.qasr"
    names = [n for n, _ in model.quantizable_layers()]
    export_conformer(model, path, {n: ("q4" if i % 2 else "q8") for i, n in enumerate(names)},
                     tokenizer={"kind": "char", "pieces": PIECES, "blank": 0})
    return str(path)


@pytest.fixture(scope="module")
def tool():
    t = find_tool("qasr-transcribe")
    if t is None:
        if os.environ.get("CI"):
            pytest.fail("qasr-transcribe was not built (set QASR_TOOLS_DIR)")
        pytest.skip("qasr-transcribe not built")
    return str(t)


@pytest.mark.parametrize("stream", [False, True])
def test_tool_equals_python(tool, model_path, stream):
    rec = Recognizer(model_path, chunk_ms=320, left_chunks=2)
    for clip in [e.path for e in demo_entries()[:3]]:
        cmd = [tool, model_path, str(clip), "--json", "--chunk-ms", "320", "--left-chunks", "2"]
        out = subprocess.run(cmd + (["--stream"] if stream else []), check=True, capture_output=True, text=True)
        got = json.loads(out.stdout)
        want = rec.transcribe(str(clip), streaming=stream)
        assert got["tokens"] == want.tokens
        assert got["text"] == want.text
        assert got["timestamps"] == pytest.approx(want.timestamps, abs=1e-3)
        assert got["rtf"] > 0


def test_tool_errors(tool, model_path, tmp_path):
    r = subprocess.run([tool, model_path], capture_output=True, text=True)
    assert r.returncode == 2 and "usage" in r.stderr
    r = subprocess.run([tool, str(tmp_path / "none.qasr"), "x.wav"], capture_output=True, text=True)
    assert r.returncode == 1 and "none.qasr" in r.stderr
    (tmp_path / "bad.wav").write_bytes(b"RIFF0000WAVEjunk")
    r = subprocess.run([tool, model_path, str(tmp_path / "bad.wav")], capture_output=True, text=True)
    assert r.returncode == 1 and "bad.wav" in r.stderr
    r = subprocess.run([tool, model_path, "a.wav", "--beam", "zero"], capture_output=True, text=True)
    assert r.returncode == 2 and "--beam" in r.stderr


def test_cli_transcribe(model_path):
    clip = str(demo_entries()[0].path)
    out = subprocess.run([sys.executable, "-m", "qasr_native.cli", "transcribe", model_path, clip, "--json"],
                         check=True, capture_output=True, text=True)
    got = json.loads(out.stdout)
    assert got["tokens"] == Recognizer(model_path).transcribe(clip).tokens
    r = subprocess.run([sys.executable, "-m", "qasr_native.cli", "transcribe", model_path, "missing.wav"],
                       capture_output=True, text=True)
    assert r.returncode == 1 and "missing.wav" in r.stderr
