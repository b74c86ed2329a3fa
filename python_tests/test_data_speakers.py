"""Synthetic speakers: ids, reproducible training lists without held-out
variants, and (with espeak-ng) that every variant exists with the stated
gender and changes the voice."""

import numpy as np
import pytest

from qasr_native.data.speakers import (ACCENTS, DEFAULT_HELDOUT, RESERVED_VARIANTS, VARIANTS, Speaker,
                                       parse_speakers, training_speakers)


def test_id_round_trip():
    for s in [Speaker("us", "f3", 55, 170), Speaker("sc", "klatt2", 0, 80, 120, 3), *DEFAULT_HELDOUT]:
        assert Speaker.from_id(s.id) == s
    assert Speaker("us", "f3", 55, 170).id == "us-f3-p55-s170"
    assert Speaker("us", "alex", 50, 175, 100, 2).espeak_voice == "gmw/en-US+Alex"
    for bad in ("us-f3", "xx-f3-p1-s170", "us-zz-p1-s170", "us-f3-p100-s170", "us-f3-p1-s20"):
        with pytest.raises(ValueError):
            Speaker.from_id(bad)


def test_training_speakers():
    a = training_speakers(120, seed=5)
    assert a == training_speakers(120, seed=5) and training_speakers(30, seed=5) == a[:30]
    assert a != training_speakers(120, seed=6)
    assert len({s.id for s in a}) == 120
    assert not any(s.variant in RESERVED_VARIANTS for s in a)
    assert not ({s.id for s in a} & {s.id for s in DEFAULT_HELDOUT})
    genders = [s.gender for s in a]
    assert genders.count("female") == genders.count("male") == 60
    assert {s.accent for s in a} == set(ACCENTS)
    # Pairs do not repeat before the pool of (accent, variant) pairs is used up.
    pairs = [(s.accent, s.variant) for s in a]
    assert len(set(pairs)) == len(pairs)
    # Many more speakers than pairs still works (new pitch / rate).
    assert len({s.id for s in training_speakers(800, seed=1)}) == 800


def test_heldout_is_diverse():
    assert len({s.accent for s in DEFAULT_HELDOUT}) == len(DEFAULT_HELDOUT)
    g = [s.gender for s in DEFAULT_HELDOUT]
    assert g.count("female") == 3 and g.count("male") == 3
    assert {s.variant for s in DEFAULT_HELDOUT} <= RESERVED_VARIANTS


def test_parse_speakers():
    s = parse_speakers("heldout+train:4+us-f3-p55-s170,heldout")
    assert len(s) == 6 + 4 + 1
    with pytest.raises(ValueError):
        parse_speakers("train:x")
    with pytest.raises(ValueError):
        parse_speakers("")


def _espeak():
    from qasr_native.data import espeak

    if not espeak.espeak_available():
        pytest.skip("espeak-ng not installed")
    return espeak


def test_variants_exist_with_stated_gender():
    espeak = _espeak()
    installed = espeak.installed_variants()
    for key, (file, gender) in VARIANTS.items():
        assert file in installed, file
        assert installed[file] == gender[0].upper(), (key, installed[file])
    assert {v for v, _ in ACCENTS.values()} <= espeak.installed_voices()


def test_variant_and_accent_change_the_voice():
    espeak = _espeak()
    base = Speaker("gb", "m1", 50, 175)
    ref, rate = espeak.synthesize("Testing one two three.", base)
    assert rate == 22050 and ref.size > 10000
    for other in (Speaker("gb", "f3", 50, 175), Speaker("us", "m1", 50, 175), Speaker("gb", "m1", 70, 175),
                  Speaker("gb", "klatt", 50, 175)):
        x, _ = espeak.synthesize("Testing one two three.", other)
        assert x.shape != ref.shape or not np.array_equal(x, ref), other.id
    again, _ = espeak.synthesize("Testing one two three.", base)
    np.testing.assert_array_equal(again, ref)


def test_espeak_missing(monkeypatch):
    from qasr_native.data import espeak

    monkeypatch.setenv("QASR_ESPEAK", "/nonexistent/espeak-ng")
    with pytest.raises(espeak.EspeakNotFound, match="apt-get install espeak-ng"):
        espeak.synthesize("hello", DEFAULT_HELDOUT[0])
