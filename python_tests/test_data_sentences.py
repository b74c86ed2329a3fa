"""The sentence generator: deterministic, distinct, split by hash (test
sentences never in train), vocabulary breadth, text-file sources."""

import pytest

from qasr_native.data.sentences import (SPLITS, SentenceGenerator, generate_sentences, sentence_split,
                                        sentences_from_file, vocabulary)
from qasr_native.data.text import ALPHABET, normalize_text


def test_deterministic_and_prefix():
    a = generate_sentences(200, "train", seed=3)
    assert a == generate_sentences(200, "train", seed=3)
    assert generate_sentences(50, "train", seed=3) == a[:50]
    assert a != generate_sentences(200, "train", seed=4)


def test_splits_disjoint_and_consistent():
    sets = {s: {normalize_text(x) for x in generate_sentences(300, s, seed=s0)}
            for s, s0 in (("train", 0), ("dev", 1), ("test", 2))}
    for s, texts in sets.items():
        assert len(texts) == 300  # distinct transcripts
        assert all(sentence_split(t) == s for t in texts)
    assert not (sets["train"] & sets["test"]) and not (sets["train"] & sets["dev"]) and not (sets["dev"] & sets["test"])
    # Split shares are close to 90 / 5 / 5 over raw draws.
    gen = SentenceGenerator(11)
    counts = {s: 0 for s in SPLITS}
    for _ in range(4000):
        counts[sentence_split(gen.sentence())] += 1
    assert 0.86 < counts["train"] / 4000 < 0.94 and counts["test"] > 120 and counts["dev"] > 120


def test_sentences_are_speakable_and_broad():
    sents = generate_sentences(2000, "train", seed=0)
    for s in sents:
        assert not any(c.isdigit() for c in s), s  # numbers are written as spoken words
        t = normalize_text(s)
        assert set(t) <= set(ALPHABET) and 2 <= len(t.split()) <= 30, s
    assert len({w for s in sents for w in normalize_text(s).split()}) > 900
    assert len(vocabulary()) > 1300
    # Every template is used.
    gen = SentenceGenerator(0)
    assert len(gen.templates) >= 40


def test_bad_split():
    with pytest.raises(ValueError, match="unknown sentence split"):
        generate_sentences(3, "validation")


def test_text_file(tmp_path):
    lines = [f"Sentence number {i}, with words." for i in range(400)] + ["# comment", "", "Sentence number 3, with words!"]
    (tmp_path / "t.txt").write_text("\n".join(lines))
    every = sentences_from_file(tmp_path / "t.txt")
    assert len(every) == 400  # comment, blank and duplicate (after normalisation) dropped
    parts = {s: sentences_from_file(tmp_path / "t.txt", s) for s in SPLITS}
    assert sum(len(p) for p in parts.values()) == 400
    assert all(sentence_split(x) == s for s, p in parts.items() for x in p)
    with pytest.raises(FileNotFoundError):
        sentences_from_file(tmp_path / "missing.txt")
