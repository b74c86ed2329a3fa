"""Keeping evaluation honest: speaker and sentence splits of manifests.

- ``split_by_speaker``: whole speakers out of training. By default the
  held-out set is ``speakers.DEFAULT_HELDOUT`` (six synthetic speakers
  whose voice variants no training speaker uses).
- ``holdout_random_speakers``: the same for any manifest (e.g. real
  clips), choosing ``n`` speakers with a seed.
- ``split_clips_per_speaker``: for the held-out speakers themselves, a
  calibration part (unlabelled clips a user would bring) and a test part,
  with no transcript in both.
- ``check_disjoint``: raises when two manifests share a speaker, an audio
  file or (optionally) a transcript; evaluation code calls it before
  reporting numbers.
"""

from __future__ import annotations

import hashlib
import os
from typing import Iterable, List, Optional, Sequence, Set, Tuple

from .manifest import ManifestEntry
from .speakers import DEFAULT_HELDOUT
from .text import normalize_text

__all__ = ["default_heldout_ids", "split_by_speaker", "holdout_random_speakers", "split_clips_per_speaker",
           "check_disjoint"]


def default_heldout_ids() -> Set[str]:
    return {s.id for s in DEFAULT_HELDOUT}


def split_by_speaker(entries: Sequence[ManifestEntry], heldout: Optional[Iterable[str]] = None,
                     ) -> Tuple[List[ManifestEntry], List[ManifestEntry]]:
    """(train, held-out): entries whose speaker is in ``heldout`` (default:
    the default held-out synthetic speakers) go to the second list. Entries
    without a speaker go to train."""
    ids = default_heldout_ids() if heldout is None else set(heldout)
    train = [e for e in entries if e.speaker not in ids]
    held = [e for e in entries if e.speaker in ids]
    return train, held


def _key(seed: int, s: str) -> bytes:
    return hashlib.sha256(f"{seed}\0{s}".encode("utf-8")).digest()


def holdout_random_speakers(entries: Sequence[ManifestEntry], n: int, seed: int = 0,
                            ) -> Tuple[List[ManifestEntry], List[ManifestEntry]]:
    """(train, held-out) with ``n`` speakers held out, chosen by a seeded
    hash of the speaker id (stable when speakers are added or removed)."""
    speakers = sorted({e.speaker for e in entries if e.speaker is not None})
    if n < 0 or n > len(speakers):
        raise ValueError(f"cannot hold out {n} of {len(speakers)} speakers")
    chosen = set(sorted(speakers, key=lambda s: _key(seed, s))[:n])
    return split_by_speaker(entries, chosen)


def split_clips_per_speaker(entries: Sequence[ManifestEntry], test_fraction: float = 0.5, seed: int = 0,
                            ) -> Tuple[List[ManifestEntry], List[ManifestEntry]]:
    """(calibration, test) within each speaker: a seeded ``test_fraction``
    of each speaker's distinct transcripts (at least one when a speaker has
    two or more) goes to test with all its clips, so no sentence is in
    both parts. Order within each part follows the input."""
    if not 0.0 < test_fraction < 1.0:
        raise ValueError(f"test fraction must be in (0, 1), got {test_fraction}")
    test_texts: Set[Tuple[Optional[str], str]] = set()
    by_speaker: dict = {}
    for e in entries:
        by_speaker.setdefault(e.speaker, set()).add(normalize_text(e.text))
    global_test: Set[str] = set()
    for spk, texts in sorted(by_speaker.items(), key=lambda kv: str(kv[0])):
        ordered = sorted(texts, key=lambda t: _key(seed, f"{spk}\0{t}"))
        k = round(len(ordered) * test_fraction)
        if len(ordered) >= 2:
            k = min(max(k, 1), len(ordered) - 1)
        for t in ordered[:k]:
            test_texts.add((spk, t))
            global_test.add(t)
    calib, test = [], []
    for e in entries:
        t = normalize_text(e.text)
        if (e.speaker, t) in test_texts:
            test.append(e)
        elif t not in global_test:  # a sentence tested for another speaker stays out of calibration
            calib.append(e)
    return calib, test


def check_disjoint(a: Sequence[ManifestEntry], b: Sequence[ManifestEntry], *, speakers: bool = True,
                   texts: bool = False, names: Tuple[str, str] = ("train", "test")) -> None:
    """Raise ValueError when ``a`` and ``b`` share an audio file, or (with
    ``speakers``) a speaker, or (with ``texts``) a normalised transcript."""
    problems = []
    pa = {os.path.realpath(e.path) for e in a}
    shared = sorted(pa & {os.path.realpath(e.path) for e in b})
    if shared:
        problems.append(f"{len(shared)} audio file(s), e.g. {shared[0]}")
    if speakers:
        sa = {e.speaker for e in a if e.speaker is not None}
        common = sorted(sa & {e.speaker for e in b if e.speaker is not None})
        if common:
            problems.append(f"speaker(s) {', '.join(common[:5])}")
    if texts:
        ta = {normalize_text(e.text) for e in a}
        common = sorted(ta & {normalize_text(e.text) for e in b})
        if common:
            problems.append(f"{len(common)} transcript(s), e.g. {common[0]!r}")
    if problems:
        raise ValueError(f"{names[0]} and {names[1]} overlap: " + "; ".join(problems))
