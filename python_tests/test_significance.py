"""Paired bootstrap of WER differences (qasr_native.evaluation.significance)."""

import numpy as np
import pytest

from qasr_native.evaluation.metrics import error_rates, utterance_word_errors
from qasr_native.evaluation.significance import paired_bootstrap

REFS = {"a": ["turn left now", "one two three four", "wash the car", "stop"],
        "b": ["good morning to you", "it is 5 o'clock", "", "open the door please"]}
HYPS_A = {"a": ["turn left now", "one to three", "wash car", "stop"],
          "b": ["good morning you", "it is five o'clock", "noise", "open door please"]}
HYPS_B = {"a": ["turn left now", "one two three four", "wash the car", "stop it"],
          "b": ["good morning to you", "it is five o'clock", "", "open the door"]}


def _counts(hyps):
    return {g: utterance_word_errors(REFS[g], hyps[g]) for g in REFS}


def test_per_utterance_counts_add_up_to_the_corpus_rates():
    for g in REFS:
        u = utterance_word_errors(REFS[g], HYPS_A[g])
        er = error_rates(REFS[g], HYPS_A[g])
        assert len(u) == er.utterances  # the empty reference is not scored
        assert sum(e for e, _ in u) == er.word_errors and sum(n for _, n in u) == er.words


def test_delta_is_the_difference_of_mean_over_speaker_wers():
    r = paired_bootstrap(_counts(HYPS_A), _counts(HYPS_B), resamples=2000)
    mean = lambda hyps: np.mean([error_rates(REFS[g], hyps[g]).wer for g in REFS])  # noqa: E731
    assert r.delta == pytest.approx(mean(HYPS_B) - mean(HYPS_A))
    assert r.delta < 0 and r.low <= r.delta <= r.high
    assert r.utterances == 7 and r.words == sum(error_rates(REFS[g], HYPS_A[g]).words for g in REFS)
    assert r == paired_bootstrap(_counts(HYPS_A), _counts(HYPS_B), resamples=2000)  # seeded: reproducible


def test_identical_models_differ_by_exactly_zero():
    r = paired_bootstrap(_counts(HYPS_A), _counts(HYPS_A), resamples=500)
    assert (r.delta, r.low, r.high, r.p_b_better) == (0.0, 0.0, 0.0, 0.0)


def test_a_model_better_on_every_utterance_wins_every_resample():
    rng = np.random.default_rng(3)
    a = {g: [(int(rng.integers(2, 6)), 8) for _ in range(30)] for g in ("s1", "s2", "s3")}
    b = {g: [(e - 1, n) for e, n in v] for g, v in a.items()}
    r = paired_bootstrap(a, b, resamples=1000)
    assert r.p_b_better == 1.0 and r.high < 0
    # swapping the models mirrors the interval
    s = paired_bootstrap(b, a, resamples=1000)
    assert s.delta == pytest.approx(-r.delta) and s.p_b_better == 0.0 and s.low > 0


def test_noise_gives_an_interval_around_zero():
    """Two models whose errors are independent draws of the same distribution: the
    interval covers the true difference (0) in most of 40 repetitions, not in all
    (a 95 % interval that always covered would be too wide to mean anything)."""
    rng = np.random.default_rng(0)
    covered = 0
    for rep in range(40):
        words = rng.integers(5, 15, size=(4, 50))
        a = {g: [(int(rng.binomial(n, 0.3)), int(n)) for n in words[g]] for g in range(4)}
        b = {g: [(int(rng.binomial(n, 0.3)), int(n)) for n in words[g]] for g in range(4)}
        r = paired_bootstrap(a, b, resamples=1000, seed=rep)
        covered += r.low <= 0 <= r.high
    assert 32 <= covered <= 40


def test_bad_input_is_a_clear_error():
    a = _counts(HYPS_A)
    with pytest.raises(ValueError, match="different groups"):
        paired_bootstrap(a, {"a": a["a"]})
    with pytest.raises(ValueError, match="same utterances"):
        paired_bootstrap(a, {"a": a["a"][:2], "b": a["b"]})
    with pytest.raises(ValueError, match="no utterances"):
        paired_bootstrap({"a": []}, {"a": []})
    with pytest.raises(ValueError, match="confidence"):
        paired_bootstrap(a, a, confidence=1.5)
    with pytest.raises(ValueError, match="resamples"):
        paired_bootstrap(a, a, resamples=0)
    with pytest.raises(ValueError, match="no groups"):
        paired_bootstrap({}, {})
