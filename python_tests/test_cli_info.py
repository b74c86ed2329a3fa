"""`qasr info`: the report of a file written by the writer, in text and JSON,
and clear errors for missing or damaged files."""

import json

import numpy as np
import pytest

from qasr_native import quant
from qasr_native.cli import main
from qasr_native.export import QasrWriter


@pytest.fixture(scope="module")
def model_file(tmp_path_factory):
    rng = np.random.default_rng(0)
    w = QasrWriter(model={"family": "conformer_ctc", "d_model": 144, "heads": 4},
                   frontend={"kind": "kaldi_fbank", "mel_bins": 80},
                   tokenizer={"kind": "chars", "vocab": list("_abcdefgh")},
                   provenance={"source_model": "unit", "method": "knapsack", "budget_bytes": 10**6,
                               "calibration": {"clips": 12, "seconds": 31.5}})
    W = rng.standard_normal((64, 256)).astype(np.float32)
    w.add_matrix("enc.0.ff.w1", quant.quantize_weight(W, "q4", 32))
    w.add_matrix("enc.0.ff.w2", quant.quantize_weight(W, "q8", 0))
    w.add_matrix("enc.0.att.q", quant.quantize_weight(W, "q4a", 64))
    w.add_matrix("head", W[:10])
    w.add_array("enc.0.ff.b1", np.zeros(64, np.float32))
    w.add_array("tok.ids", np.arange(9, dtype=np.int32))
    path = tmp_path_factory.mktemp("info") / "m.qasr"
    w.write(path)
    return path


def test_text_report(model_file, capsys):
    assert main(["info", str(model_file)]) == 0
    out = capsys.readouterr().out
    for frag in ["model       conformer_ctc", "d_model:", "tokenizer   chars, 9 tokens", "source_model:",
                 "enc.0.ff.w1", "[64, 256]", "q4a", "precision mix", "size breakdown", "(= file size)"]:
        assert frag in out, frag
    size = model_file.stat().st_size
    parts = [line for line in out.split("size breakdown")[1].splitlines()[1:-1]]
    assert sum(int(p.split()[-3].replace(",", "")) for p in parts) == size


def test_json_report(model_file, capsys):
    assert main(["info", "--json", str(model_file)]) == 0
    d = json.loads(capsys.readouterr().out)
    size = model_file.stat().st_size
    assert d["file_size"] == size == d["header"]["provenance"]["actual_size"]
    bd = d["size_breakdown"]
    assert sum(v for k, v in bd.items() if k != "file_size") == size
    mix = d["precision_mix"]
    assert set(mix["formats"]) == {"q4", "q8", "q4a", "f32"}
    assert mix["weights"] == 3 * 64 * 256 + 10 * 256
    assert mix["formats"]["q4"]["bytes"] == quant.matrix_nbytes("q4", 64, 256, 32)
    assert abs(sum(f["share"] for f in mix["formats"].values()) - 1) < 1e-12
    assert bd["zero_points"] == quant.layout("q4a", 64, 256, 64).zeros_bytes
    assert bd["float_tensors"] == quant.matrix_nbytes("f32", 10, 256) + 64 * 4
    assert bd["other_tensors"] == 9 * 4
    assert [t["name"] for t in d["tensors"]][0] == "enc.0.ff.w1"


def test_errors(model_file, tmp_path, capsys):
    assert main(["info", str(tmp_path / "missing.qasr")]) == 1
    assert "cannot open" in capsys.readouterr().err
    bad = tmp_path / "bad.qasr"
    data = bytearray(model_file.read_bytes())
    data[-1] ^= 0xFF
    bad.write_bytes(bytes(data))
    assert main(["info", str(bad)]) == 1
    assert "checksum mismatch" in capsys.readouterr().err
    assert main(["info", "--no-verify", str(bad)]) == 0
    capsys.readouterr()
    bad.write_bytes(b"hello")
    assert main(["info", str(bad)]) == 1
    assert "not a .qasr file" in capsys.readouterr().err
