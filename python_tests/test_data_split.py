"""Speaker and clip splits: no speaker, file or (where asked) sentence on
both sides."""

import pytest

from qasr_native.data.manifest import ManifestEntry
from qasr_native.data.speakers import DEFAULT_HELDOUT, training_speakers
from qasr_native.data.split import (check_disjoint, holdout_random_speakers, split_by_speaker,
                                    split_clips_per_speaker)


def _entries():
    speakers = [s.id for s in training_speakers(10, 0)] + [s.id for s in DEFAULT_HELDOUT]
    return [ManifestEntry(f"/d/{spk}/{k}.wav", f"sentence {k % 7} words", spk) for spk in speakers for k in range(12)]


def test_default_heldout_no_leakage():
    entries = _entries()
    train, held = split_by_speaker(entries)
    assert len(held) == 6 * 12 and len(train) == 10 * 12
    assert {e.speaker for e in held} == {s.id for s in DEFAULT_HELDOUT}
    assert not ({e.speaker for e in train} & {e.speaker for e in held})
    check_disjoint(train, held)
    with pytest.raises(ValueError, match="speaker"):
        check_disjoint(train, train[:3])


def test_random_holdout():
    entries = _entries()
    train, held = holdout_random_speakers(entries, 4, seed=1)
    assert len({e.speaker for e in held}) == 4
    check_disjoint(train, held)
    assert holdout_random_speakers(entries, 4, seed=1) == (train, held)
    with pytest.raises(ValueError):
        holdout_random_speakers(entries, 99)


def test_calib_test_per_speaker():
    _, held = split_by_speaker(_entries())
    calib, test = split_clips_per_speaker(held, 0.3, seed=0)
    check_disjoint(calib, test, speakers=False, texts=True)
    assert {e.speaker for e in calib} == {e.speaker for e in test} == {s.id for s in DEFAULT_HELDOUT}
    with pytest.raises(ValueError, match="transcript"):
        check_disjoint(calib + test[:1], test, speakers=False, texts=True)
    with pytest.raises(ValueError, match="audio file"):
        check_disjoint(calib, calib[:1], speakers=False)
    with pytest.raises(ValueError):
        split_clips_per_speaker(held, 1.0)
