"""`qasr pack` and `qasr personalize` end to end on a tiny Conformer checkpoint."""

import json
import os

import pytest

torch = pytest.importorskip("torch")

from _personalize_model import TOKENIZER, tiny_model  # noqa: E402
from qasr_native.cli import main  # noqa: E402
from qasr_native.data.demo import demo_clips_dir  # noqa: E402
from qasr_native.export.conformer import load_conformer  # noqa: E402
from qasr_native.export.qasr_file import read_qasr  # noqa: E402

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    m = tiny_model()
    p = tmp_path_factory.mktemp("ckpt") / "tiny.pt"
    torch.save({"config": m.config.to_dict(), "state_dict": m.state_dict(), "tokenizer": TOKENIZER}, p)
    return p


def test_pack_uniform_and_json(checkpoint, tmp_path, capsys):
    sizes = {}
    for prec in ("float32", "int8", "int4"):
        out = tmp_path / f"{prec}.qasr"
        assert main(["pack", str(checkpoint), "--precision", prec, "-o", str(out)]) == 0
        sizes[prec] = os.path.getsize(out)
        assert f"predicted {sizes[prec]}" in capsys.readouterr().out
    assert sizes["float32"] > sizes["int8"] > sizes["int4"]
    spec = tmp_path / "p.json"
    spec.write_text(json.dumps({"head": "int8", "blocks.0.ff1.linear1": {"format": "q4", "group": 64}}))
    out = tmp_path / "mixed.qasr"
    assert main(["pack", str(checkpoint), "--precision", str(spec), "-o", str(out)]) == 0
    layers = read_qasr(out).header["quantization"]["layers"]
    assert layers["head"] == {"format": "q8", "group": 0}
    assert layers["blocks.0.ff1.linear1"] == {"format": "q4", "group": 64}
    assert layers["blocks.0.ff1.linear2"] == {"format": "f32", "group": 0}
    spec.write_text(json.dumps({"no.such.layer": "int8"}))
    assert main(["pack", str(checkpoint), "--precision", str(spec), "-o", str(out)]) == 1
    assert "no.such.layer" in capsys.readouterr().err


@pytest.mark.parametrize("args", [
    [],  # the defaults
    ["--sensitivity", "distortion", "--allocation", "knapsack", "--calibration", "mse"],
    ["--sensitivity", "distortion", "--allocation", "knapsack", "--calibration", "hessian"],
    ["--sensitivity", "fisher", "--allocation", "knapsack", "--calibration", "fisher"],
    ["--sensitivity", "output", "--allocation", "knapsack", "--calibration", "mse"],
    ["--seed", "--eval", str(demo_clips_dir() / "manifest.jsonl")],
])
def test_personalize_meets_the_budget(checkpoint, tmp_path, capsys, args):
    out = tmp_path / "user.qasr"
    rep = tmp_path / "report"
    rc = main(["personalize", str(checkpoint), str(demo_clips_dir()), "--budget", "0.3x", "-o", str(out),
               "--report", str(rep), "--quiet"] + args)
    assert rc == 0, capsys.readouterr().err
    report = json.loads((rep / "report.json").read_text())
    size = os.path.getsize(out)
    assert size == report["actual_size"] == report["predicted_size"] <= report["budget_bytes"]
    assert report["budget_bytes"] == int(0.3 * report["float_size"])
    prov = read_qasr(out).header["provenance"]
    assert prov["actual_size"] == size and prov["budget_bytes"] == report["budget_bytes"]
    assert prov["calibration"]["clips"] == 4 and prov["calibration"]["seconds"] > 0
    assert prov["tool_version"].startswith("qasr_native") and prov["method"] == report["method"]
    assert (rep / "report.md").exists() and (rep / "bits_per_layer.png").exists()
    if "--calibration" in args:
        assert read_qasr(out).header["quantization"]["calibration"] == args[args.index("--calibration") + 1]
    if not args:  # speaker-aware scales by default (docs/personalization.md, "5. Calibration")
        assert prov["method"] == "knapsack+distortion+hessian"
        assert read_qasr(out).header["quantization"]["calibration"] == "hessian"
    if "output" in args:
        assert all(r["output_kl"]["q4/32"] > r["output_kl"]["q8/0"] > 0 for r in report["layers"])
    if "--eval" in args:
        labels = [p["label"] for p in report["evaluation"]["points"]]
        assert labels == ["float32", "uniform int8", "uniform int4", "personalized"]
        # the demo clips are both calibration and test here: the report must say the WERs are not a fair test
        assert any("not a fair test" in n for n in report["notes"])
        assert (rep / "wer_vs_size.png").exists()
    model, _ = load_conformer(out)  # loads and runs
    model(torch.zeros(1, 50, 80))


def test_personalize_errors(checkpoint, tmp_path, capsys):
    out = tmp_path / "user.qasr"
    assert main(["personalize", str(checkpoint), str(demo_clips_dir()), "--budget", "1KB", "-o", str(out)]) == 1
    err = capsys.readouterr().err
    assert "smallest reachable size" in err and not out.exists()
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main(["personalize", str(checkpoint), str(empty), "--budget", "0.5x", "-o", str(out)]) == 1
    assert "no audio files" in capsys.readouterr().err
    assert main(["personalize", str(checkpoint), str(demo_clips_dir()), "--budget", "lots", "-o", str(out)]) == 1
    assert "not understood" in capsys.readouterr().err
