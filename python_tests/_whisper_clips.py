"""Test clips for the Whisper import tests (private; qasr_native.data will
replace this with the general fetcher).

- Real speech: WAVs from the pocketsphinx 5.1.1 source distribution on PyPI
  (read sentences from LibriVox, spoken playing cards), downloaded once with
  urllib, checked against PyPI's sha256, cached in ``$QASR_CACHE_DIR`` or
  ``~/.cache/qasr_native``. ``None`` when PyPI cannot be reached.
- Synthetic speech: espeak-ng voices, resampled to 16 kHz with sox.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import tarfile
import tempfile
import urllib.error
import urllib.request
from pathlib import Path
from typing import Dict, Optional

import numpy as np

PS_VERSION = "5.1.1"
PS_JSON = "https://pypi.org/pypi/pocketsphinx/json"
PS_CLIPS = [
    "librivox/sense_and_sensibility_01_austen_64kb-0870.wav",
    "librivox/sense_and_sensibility_01_austen_64kb-0880.wav",
    "librivox/sense_and_sensibility_01_austen_64kb-0890.wav",
    "librivox/sense_and_sensibility_01_austen_64kb-0920.wav",
    "librivox/sense_and_sensibility_01_austen_64kb-0930.wav",
    "cards/001.wav",
    "cards/002.wav",
    "cards/003.wav",
    "cards/004.wav",
    "cards/005.wav",
    "forever/input_2_16k.wav",
    "forever/input_4_16k.wav",
]

SYNTHETIC = [
    ("en-us", "the quick brown fox jumps over the lazy dog"),
    ("en", "please call stella and ask her to bring these things with her from the store"),
    ("en-us+f3", "seven of hearts and the queen of spades"),
    ("en-gb-x-rp", "turn left at the next intersection then continue for two miles"),
]


def cache_dir() -> Path:
    return Path(os.environ.get("QASR_CACHE_DIR", Path.home() / ".cache" / "qasr_native"))


def _sdist(timeout: float = 30.0) -> Optional[Path]:
    """The pocketsphinx sdist, downloaded once; None when offline."""
    target = cache_dir() / f"pocketsphinx-{PS_VERSION}.tar.gz"
    if target.is_file():
        return target
    try:
        with urllib.request.urlopen(PS_JSON, timeout=timeout) as r:
            meta = json.load(r)
        files = meta.get("releases", {}).get(PS_VERSION) or meta.get("urls", [])
        sdist = next(f for f in files if f["packagetype"] == "sdist" and PS_VERSION in f["filename"])
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_suffix(".part")
        with urllib.request.urlopen(sdist["url"], timeout=timeout) as r, open(tmp, "wb") as f:
            shutil.copyfileobj(r, f)
    except (urllib.error.URLError, OSError, StopIteration, KeyError, ValueError):
        return None
    digest = hashlib.sha256(tmp.read_bytes()).hexdigest()
    if digest != sdist["digests"]["sha256"]:
        tmp.unlink()
        raise RuntimeError(f"pocketsphinx sdist sha256 mismatch: {digest}")
    tmp.replace(target)
    return target


def pocketsphinx_clips() -> Optional[Dict[str, Path]]:
    """name -> path of the cached 16 kHz WAVs (None when unavailable)."""
    root = cache_dir() / f"pocketsphinx-{PS_VERSION}-test-data"
    paths = {name: root / name for name in PS_CLIPS}
    if all(p.is_file() for p in paths.values()):
        return paths
    sdist = _sdist()
    if sdist is None:
        return None
    prefix = f"pocketsphinx-{PS_VERSION}/test/data/"
    with tarfile.open(sdist, "r:gz") as tar:
        for name, path in paths.items():
            member = tar.getmember(prefix + name)
            data = tar.extractfile(member).read()
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
    return paths


def synthetic_clip(voice: str, text: str) -> Optional[np.ndarray]:
    """espeak-ng speech at 16 kHz as float32 (None without espeak-ng/sox)."""
    import soundfile as sf

    if not (shutil.which("espeak-ng") and shutil.which("sox")):
        return None
    with tempfile.TemporaryDirectory() as tmp:
        raw, wav = Path(tmp) / "raw.wav", Path(tmp) / "16k.wav"
        subprocess.run(["espeak-ng", "-v", voice, "-w", str(raw), text], check=True, capture_output=True)
        subprocess.run(["sox", str(raw), "-r", "16000", "-c", "1", "-b", "16", str(wav)], check=True,
                       capture_output=True)
        audio, sr = sf.read(str(wav), dtype="float32")
    assert sr == 16000
    return audio


def read_wav16k(path: Path) -> np.ndarray:
    import soundfile as sf

    audio, sr = sf.read(str(path), dtype="float32")
    assert sr == 16000 and audio.ndim == 1, (path, sr, audio.shape)
    return audio
