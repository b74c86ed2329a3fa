"""The clips shipped inside the package, for ``qasr demo`` and quick checks
when espeak-ng is not installed and nothing can be fetched.

Four short sentences spoken by one held-out synthetic speaker
(``us-andrea-p45-s185``: American English, female variant, never used for
training), 16 kHz mono PCM16, under 100 KB together. Their sentences are
in the test split. ``scripts/make_demo_clips.py`` regenerates them
byte for byte (with espeak-ng 1.51).
"""

from __future__ import annotations

from pathlib import Path
from typing import List

from .manifest import ManifestEntry, read_manifest

__all__ = ["DEMO_SPEAKER", "DEMO_PROMPTS", "demo_clips_dir", "demo_manifest_path", "demo_entries"]

#: The speaker of the shipped clips (one of ``speakers.DEFAULT_HELDOUT``).
DEMO_SPEAKER = "us-andrea-p45-s185"

#: What the shipped clips say (display text; transcripts are normalised).
DEMO_PROMPTS = ("Go forward nine feet.", "One two three.", "Wash the car.", "The room is warm.")


def demo_clips_dir() -> Path:
    return Path(__file__).resolve().parent.parent / "assets" / "clips"


def demo_manifest_path() -> Path:
    return demo_clips_dir() / "manifest.jsonl"


def demo_entries() -> List[ManifestEntry]:
    """The shipped clips' manifest entries (absolute paths)."""
    return read_manifest(demo_manifest_path())
