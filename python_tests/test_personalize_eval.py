"""WER/CER scoring and `qasr eval`."""

import json

import pytest

from qasr_native.evaluation.metrics import error_rates, normalize_for_scoring


def test_error_rates_count_edits_after_normalising():
    refs = ["Turn LEFT at 3 o'clock.", "one two three", "", "wash the car"]
    hyps = ["turn left at three o'clock", "one too three four", "whatever", "wash car"]
    r = error_rates(refs, hyps)
    # utterance 2: 1 substitution + 1 insertion; utterance 4: 1 deletion; 3 = empty reference, unscored
    assert (r.word_errors, r.words, r.unscored, r.utterances) == (3, 5 + 3 + 3, 1, 3)
    assert r.wer == pytest.approx(100 * 3 / 11)
    # characters without spaces: "two"->"too" 1 sub, "four" 4 ins, "the" 3 del
    assert r.char_errors == 8
    assert normalize_for_scoring("It's 25%!") == "it's twenty five percent"


def test_error_rates_input_errors():
    with pytest.raises(ValueError, match="references"):
        error_rates(["a"], [])
    with pytest.raises(ValueError, match="non-empty reference"):
        error_rates([""], ["a"])


def test_eval_cli_side_by_side(tmp_path, capsys):
    torch = pytest.importorskip("torch")
    torch.set_num_threads(1)
    from _personalize_model import TOKENIZER, tiny_model
    from qasr_native.cli import main
    from qasr_native.data.demo import demo_manifest_path

    m = tiny_model()
    ckpt = tmp_path / "tiny.pt"
    torch.save({"config": m.config.to_dict(), "state_dict": m.state_dict(), "tokenizer": TOKENIZER}, ckpt)
    q = tmp_path / "tiny8.qasr"
    assert main(["pack", str(ckpt), "--precision", "int8", "-o", str(q)]) == 0
    out = tmp_path / "eval.json"
    rc = main(["eval", str(ckpt), str(q), "--manifest", str(demo_manifest_path()), "--backend", "torch",
               "--json", str(out), "--quiet"])
    assert rc == 0, capsys.readouterr().err
    res = json.loads(out.read_text())
    assert res["utterances"] == 4 and set(res["models"]) == {str(ckpt), str(q)}
    assert res["models"][str(q)]["kind"] == "torch-mirror"
    for u in res["per_utterance"]:
        assert u["reference"] and str(ckpt) in u and str(q) in u
    # the scores are what the metric gives for the printed hypotheses
    for name, row in res["models"].items():
        er = error_rates([u["reference"] for u in res["per_utterance"]], [u[name] for u in res["per_utterance"]])
        assert row["wer"] == round(er.wer, 3)
    # the second model against the first, paired over the same utterances
    paired = res["paired"]
    assert paired["against"] == str(ckpt) and set(paired["models"]) == {str(q)}
    mean = lambda name: sum(r["wer"] for r in res["models"][name]["per_speaker"].values()) / len(  # noqa: E731
        res["models"][name]["per_speaker"]) if "per_speaker" in res["models"][name] else res["models"][name]["wer"]
    p = paired["models"][str(q)]
    assert p["delta"] == pytest.approx(mean(str(q)) - mean(str(ckpt)), abs=2e-3)
    assert p["low"] <= p["delta"] <= p["high"] and p["utterances"] == 4
    assert "paired bootstrap vs" in capsys.readouterr().out

