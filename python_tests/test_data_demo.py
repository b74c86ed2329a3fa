"""The shipped demo clips: present, small, well-formed, a held-out speaker
with test-split sentences, and reproducible by scripts/make_demo_clips.py."""

import hashlib
import subprocess
import sys
import wave
from pathlib import Path

import numpy as np
import pytest

from qasr_native.data import espeak
from qasr_native.data.audio import trim_silence
from qasr_native.data.demo import DEMO_PROMPTS, DEMO_SPEAKER, demo_clips_dir, demo_entries
from qasr_native.data.sentences import sentence_split
from qasr_native.data.speakers import DEFAULT_HELDOUT
from qasr_native.data.text import normalize_text

ROOT = Path(__file__).resolve().parent.parent


def test_shipped_clips():
    entries = demo_entries()
    assert [e.text for e in entries] == [normalize_text(p) for p in DEMO_PROMPTS]
    assert DEMO_SPEAKER in {s.id for s in DEFAULT_HELDOUT}
    assert all(e.speaker == DEMO_SPEAKER and sentence_split(e.text) == "test" for e in entries)
    total = 0
    for e in entries:
        with wave.open(e.path) as w:
            assert (w.getnchannels(), w.getsampwidth(), w.getframerate()) == (1, 2, 16000)
            assert w.getnframes() / 16000 == pytest.approx(e.duration, abs=1e-4)
        total += Path(e.path).stat().st_size
    assert total < 100_000


@pytest.mark.skipif(not espeak.espeak_available(), reason="espeak-ng not installed")
def test_regenerates_identically(tmp_path):
    if espeak.espeak_version() != "eSpeak NG text-to-speech: 1.51":
        pytest.skip(f"clips were made with espeak-ng 1.51, this is {espeak.espeak_version()}")
    r = subprocess.run([sys.executable, str(ROOT / "scripts" / "make_demo_clips.py"), "--out", str(tmp_path)],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    for p in sorted(demo_clips_dir().glob("*")):
        assert hashlib.sha256((tmp_path / p.name).read_bytes()).digest() == hashlib.sha256(p.read_bytes()).digest(), p.name


def test_trim_silence():
    rate = 16000
    tone = 0.5 * np.sin(np.arange(rate // 2) * 0.3)
    x = np.concatenate([np.zeros(rate), tone, 1e-4 * np.ones(rate // 4), np.zeros(rate)])
    y = trim_silence(x, rate, pad_seconds=0.05)
    assert abs(y.shape[0] - (tone.shape[0] + 2 * 800)) <= 160 + 1
    assert np.max(np.abs(y)) == pytest.approx(0.5, abs=1e-3)
    np.testing.assert_array_equal(trim_silence(np.zeros(1000), rate), np.zeros(1000))
    assert trim_silence(np.zeros(3), rate).shape == (3,)
