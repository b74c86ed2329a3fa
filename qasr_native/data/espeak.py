"""Calling the espeak-ng synthesizer (the Debian ``espeak-ng`` package).

The executable is ``espeak-ng`` on PATH, or the one named by the
environment variable ``QASR_ESPEAK``. Text goes in on standard input
(``--stdin``), so sentences starting with ``-`` are never taken for
options; audio comes back as 16-bit mono WAV on standard output at the
synthesizer's rate (22.05 kHz for espeak-ng's own voices).

One process per clip (about 25 ms of start-up on the development machine,
roughly half of espeak-ng's time per sentence) rather than the library in
process: no synthesizer state can carry over from one clip to the next, so
a clip's audio depends only on its text and speaker, whatever order the
worker processes take clips in.
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
from typing import FrozenSet, Optional, Tuple

import numpy as np

from .audio import read_wav_bytes
from .speakers import Speaker

__all__ = ["EspeakNotFound", "espeak_path", "espeak_available", "espeak_version", "installed_voices",
           "installed_variants", "check_speaker", "synthesize"]


class EspeakNotFound(RuntimeError):
    """espeak-ng is not installed (or QASR_ESPEAK points nowhere)."""


def espeak_path() -> str:
    """Path of the espeak-ng executable; EspeakNotFound when missing."""
    name = os.environ.get("QASR_ESPEAK", "espeak-ng")
    path = shutil.which(name)
    if path is None:
        raise EspeakNotFound(
            f"espeak-ng not found ({name!r} is not on PATH): install it (Debian/Ubuntu: apt-get install espeak-ng) "
            "or set QASR_ESPEAK; without it use real clips (qasr data fetch-real) or the shipped demo clips")
    return path


def espeak_available() -> bool:
    try:
        espeak_path()
        return True
    except EspeakNotFound:
        return False


def _run(args, *, input_text: Optional[str] = None, timeout: float = 60.0) -> bytes:
    exe = espeak_path()
    try:
        r = subprocess.run([exe, *args], input=None if input_text is None else input_text.encode("utf-8"),
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        raise RuntimeError(f"espeak-ng timed out after {timeout:.0f} s ({' '.join(args)})") from None
    if r.returncode != 0:
        raise RuntimeError(f"espeak-ng failed (exit {r.returncode}, args {' '.join(args)}): "
                           f"{r.stderr.decode('utf-8', 'replace').strip()}")
    return r.stdout


@functools.lru_cache(maxsize=1)
def espeak_version() -> str:
    """The first line of ``espeak-ng --version``."""
    line = _run(["--version"]).decode("utf-8", "replace").strip().splitlines()[0]
    return line.split("  Data at:")[0].strip()


def _voice_files(listing: str) -> Tuple[Tuple[str, str], ...]:
    """(file, gender) pairs from a ``--voices`` table (columns: Pty,
    Language, Age/Gender, VoiceName, File, Other Languages)."""
    out = []
    for line in listing.splitlines()[1:]:
        cols = line.split()
        if len(cols) >= 5:
            gender = cols[2].split("/")[-1]
            out.append((cols[4], gender))
    return tuple(out)


@functools.lru_cache(maxsize=1)
def installed_voices() -> FrozenSet[str]:
    """Voice files espeak-ng lists for English (e.g. ``gmw/en-US``)."""
    return frozenset(f for f, _ in _voice_files(_run(["--voices=en"]).decode("utf-8", "replace")))


@functools.lru_cache(maxsize=1)
def installed_variants() -> dict:
    """Variant file name -> gender letter ("M"/"F") from ``--voices=variant``."""
    listing = _run(["--voices=variant"]).decode("utf-8", "replace")
    return {f[3:] if f.startswith("!v/") else f: g for f, g in _voice_files(listing)}


def check_speaker(speaker: Speaker) -> None:
    """Raise ValueError when this espeak-ng lacks the speaker's voice or
    variant (espeak-ng itself would silently fall back to another voice)."""
    if speaker.voice not in installed_voices():
        raise ValueError(f"speaker {speaker.id}: espeak-ng has no voice {speaker.voice!r} ({espeak_version()})")
    if speaker.variant_file not in installed_variants():
        raise ValueError(f"speaker {speaker.id}: espeak-ng has no variant {speaker.variant_file!r} ({espeak_version()})")


def synthesize(text: str, speaker: Speaker, *, timeout: float = 60.0) -> Tuple[np.ndarray, int]:
    """Speak ``text`` with ``speaker``: (float64 mono samples, sample rate)."""
    if not text.strip():
        raise ValueError("synthesize: empty text")
    data = _run([*speaker.espeak_args(), "--stdin", "--stdout"], input_text=text, timeout=timeout)
    x, rate = read_wav_bytes(data, f"espeak-ng output for speaker {speaker.id}")
    if x.size < rate // 20 or not np.any(x):
        raise RuntimeError(f"espeak-ng produced no audio for speaker {speaker.id} and text {text[:60]!r}")
    return x, rate
