"""Speech data for training, personalization and evaluation.

- ``text``: ``normalize_text``, the one transcript normaliser (CTC targets
  and both sides of every WER).
- ``audio``: band-limited resampling, WAV reading/writing, ``load_audio``.
- ``manifest``: ``read_manifest`` / ``write_manifest`` (JSONL or TSV).
- ``sentences``: the everyday-sentence generator and its train/dev/test split.
- ``speakers``, ``espeak``, ``augment``, ``synth``: synthetic multi-speaker
  speech with espeak-ng, reproducible from a seed.
- ``split``: speaker and clip splits that keep evaluation honest.
- ``real``: real recordings with transcripts shipped in PyPI sdists.

Only numpy (and soundfile for reading other audio formats) is needed.
"""

from __future__ import annotations

from .audio import SAMPLE_RATE, load_audio, resample, write_wav
from .manifest import ManifestEntry, read_clips, read_manifest, write_manifest
from .text import normalize_text, number_to_words

__all__ = ["SAMPLE_RATE", "load_audio", "resample", "write_wav", "ManifestEntry",
           "read_manifest", "read_clips", "write_manifest", "normalize_text", "number_to_words"]
