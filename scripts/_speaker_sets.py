"""Per-speaker calibration and test sets for the personalization experiment scripts.

Shared by personalize_experiments.py and personalize_grid.py: both read a
calibration and a test manifest with a ``speaker`` field, refuse any file in
both, pick the speakers, write each speaker's calibration manifest under
OUT/calib/ and load each speaker's test clips.
"""

from __future__ import annotations

import os
from collections import OrderedDict
from pathlib import Path
from typing import Dict, List, Optional, Tuple

import numpy as np


def speaker_sets(calib_path: str, test_path: str, out: Path, speaker_list: Optional[str] = None,
                 calib_per_speaker: Optional[int] = None, test_per_speaker: Optional[int] = None,
                 test_offset: int = 0, first_speakers: Optional[int] = None
                 ) -> Tuple[List[str], Dict[str, Path], Dict[str, List[Tuple[np.ndarray, str]]]]:
    """(speakers, calibration manifest per speaker, [(16 kHz audio, text)] test clips per speaker)."""
    from qasr_native.audio import load_audio
    from qasr_native.data.manifest import read_manifest, write_manifest

    calib = read_manifest(calib_path)
    test = read_manifest(test_path)
    overlap = {os.path.realpath(e.path) for e in calib} & {os.path.realpath(e.path) for e in test}
    if overlap:
        raise SystemExit(f"calibration and test share {len(overlap)} files")
    speakers = list(OrderedDict.fromkeys(e.speaker for e in calib))
    if speaker_list:
        wanted = [x.strip() for x in speaker_list.split(",") if x.strip()]
        missing = [x for x in wanted if x not in speakers]
        if missing:
            raise SystemExit(f"speakers not in the calibration manifest: {missing}")
        speakers = wanted
    if first_speakers:
        speakers = speakers[:first_speakers]
    calib_sets, tests = {}, {}
    for s in speakers:
        entries = [e for e in calib if e.speaker == s][:calib_per_speaker]
        calib_sets[s] = write_manifest(out / "calib" / f"{s}.jsonl", entries, relative=False)
        entries = [e for e in test if e.speaker == s][test_offset:][:test_per_speaker]
        tests[s] = [(np.asarray(load_audio(e.path, target_rate=16000), np.float32), e.text) for e in entries]
    return speakers, calib_sets, tests
