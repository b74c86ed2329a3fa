"""Synthetic datasets: identical bytes for the same seed with any number of
workers, resumable, settings guarded, manifest consistent with the audio."""

import hashlib

import numpy as np
import pytest

from qasr_native.data import espeak
from qasr_native.data.audio import audio_duration, load_audio
from qasr_native.data.augment import AugmentConfig
from qasr_native.data.manifest import read_manifest
from qasr_native.data.sentences import sentence_split
from qasr_native.data.speakers import DEFAULT_HELDOUT, Speaker, training_speakers
from qasr_native.data.synth import plan_dataset, synthesize_dataset
from qasr_native.data.text import normalize_text

pytestmark = pytest.mark.skipif(not espeak.espeak_available(), reason="espeak-ng not installed")

SPEAKERS = [training_speakers(1, 0)[0], DEFAULT_HELDOUT[1]]


def _digests(root):
    return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*.wav"))}


def test_same_seed_same_bytes_any_jobs(tmp_path):
    aug = AugmentConfig(speeds=(0.9, 1.1), gain_db=(-3.0, 3.0), snr_db=(10.0, 20.0))
    a = synthesize_dataset(tmp_path / "a", SPEAKERS, 2, seed=5, augment=aug, jobs=1)
    b = synthesize_dataset(tmp_path / "b", SPEAKERS, 2, seed=5, augment=aug, jobs=2)
    assert a.made == b.made == 4
    da, db = _digests(tmp_path / "a"), _digests(tmp_path / "b")
    assert len(da) == 4 and da == db
    assert (tmp_path / "a/manifest.jsonl").read_text() == (tmp_path / "b/manifest.jsonl").read_text()
    c = synthesize_dataset(tmp_path / "c", SPEAKERS, 2, seed=6, augment=aug, jobs=1)
    assert c.made == 4 and set(_digests(tmp_path / "c").values()).isdisjoint(da.values())


def test_manifest_and_audio(tmp_path):
    res = synthesize_dataset(tmp_path, SPEAKERS, 3, text_split="test", seed=1, jobs=1)
    entries = read_manifest(res.manifest)
    assert [e.speaker for e in entries] == [SPEAKERS[0].id] * 3 + [SPEAKERS[1].id] * 3
    assert len({e.text for e in entries}) == 6
    for e in entries:
        assert e.text == normalize_text(e.extra["prompt"]) and sentence_split(e.text) == "test"
        assert e.extra["voice"] == Speaker.from_id(e.speaker).voice and e.extra["sentence_split"] == "test"
        assert e.duration == pytest.approx(audio_duration(e.path), abs=1e-4)
        x = load_audio(e.path)
        assert 0.5 < x.shape[0] / 16000 < 15
        assert np.max(np.abs(x)) == pytest.approx(0.5, abs=1e-3)  # peak-normalised, no augmentation
    assert res.audio_seconds == pytest.approx(sum(e.duration for e in entries), abs=1e-3)


def test_resume_and_settings_guard(tmp_path):
    first = synthesize_dataset(tmp_path, SPEAKERS[:1], 3, seed=2, jobs=1)
    assert (first.made, first.skipped) == (3, 0)
    before = _digests(tmp_path)
    victim = sorted(tmp_path.rglob("*.wav"))[1]
    victim.unlink()
    again = synthesize_dataset(tmp_path, SPEAKERS[:1], 3, seed=2, jobs=1)
    assert (again.made, again.skipped) == (1, 2)
    assert _digests(tmp_path) == before
    with pytest.raises(ValueError, match="different settings.*seed"):
        synthesize_dataset(tmp_path, SPEAKERS[:1], 3, seed=3, jobs=1)


def test_plan_is_deterministic_and_validates():
    p1 = plan_dataset(SPEAKERS, 4, seed=9, augment=AugmentConfig(snr_db=(0.0, 10.0)))
    p2 = plan_dataset(SPEAKERS, 4, seed=9, augment=AugmentConfig(snr_db=(0.0, 10.0)))
    assert [(p.prompt, p.relpath, p.augment) for p in p1] == [(p.prompt, p.relpath, p.augment) for p in p2]
    with pytest.raises(ValueError):
        plan_dataset(SPEAKERS, 0)
    with pytest.raises(ValueError, match="duplicates"):
        plan_dataset(SPEAKERS + SPEAKERS[:1], 1)


def test_text_file_source(tmp_path):
    lines = [f"This is prompt number {i}." for i in range(60)]
    (tmp_path / "t.txt").write_text("\n".join(lines))
    res = synthesize_dataset(tmp_path / "out", SPEAKERS[:1], 2, text_file=tmp_path / "t.txt", jobs=1)
    for e in read_manifest(res.manifest):
        assert e.text.startswith("this is prompt number ") and sentence_split(e.text) == "train"
