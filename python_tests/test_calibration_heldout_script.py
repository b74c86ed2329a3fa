"""scripts/calibration_heldout.py on a tiny model: it runs, and when the 'held-out' clips are the
calibration clips themselves, hessian calibration (which minimizes exactly that output error per row
at q8, up to its damping) is never worse than mse or min-max on any layer."""

import json
import sys
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

from _personalize_model import TOKENIZER, tiny_model  # noqa: E402
from qasr_native.data.demo import demo_clips_dir  # noqa: E402
from qasr_native.data.manifest import read_manifest, write_manifest  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))
import calibration_heldout  # noqa: E402


def test_script_scores_calibrations_on_the_clips(tmp_path, monkeypatch, capsys):
    m = tiny_model()
    ckpt = tmp_path / "tiny.pt"
    torch.save({"config": m.config.to_dict(), "state_dict": m.state_dict(), "tokenizer": TOKENIZER}, ckpt)
    entries = read_manifest(demo_clips_dir() / "manifest.jsonl")
    for i, e in enumerate(entries):
        e.speaker = "a" if i % 2 else "b"
    manifest = write_manifest(tmp_path / "clips.jsonl", entries, relative=False)
    out = tmp_path / "scores.json"
    monkeypatch.setattr(sys, "argv", ["calibration_heldout.py", str(ckpt), "--calib", str(manifest),
                                      "--test", str(manifest), "--formats", "q8/0,q4/32", "--json", str(out)])
    assert calibration_heldout.main() == 0
    table = capsys.readouterr().out
    assert "| mse | " in table and "| hessian damp 0.01 | " in table and "partner's clips" in table
    res = json.loads(out.read_text())
    assert res["partner"] == {"b": "a", "a": "b"}
    scores = res["scores"]
    for s in ("a", "b"):
        hess, mse, mm = (scores[f"{k}|q8/0"][s] for k in ("hessian damp 0.01", "mse", "minmax"))
        assert len(hess) == len(res["layers"])
        for h, e, n in zip(hess, mse, mm):
            assert 0 < h <= min(e, n) * (1 + 1e-5)
        assert sum(h < 0.99 * e for h, e in zip(hess, mse)) >= len(hess) // 4  # and it makes a difference
