"""Manifests: the list of (audio file, transcript, speaker) that every
training, calibration and evaluation command reads.

Two formats are accepted:

- **JSONL** (what qasr_native writes): one JSON object per line with
  ``path`` (or ``audio``) and ``text``; optional ``speaker``, ``duration``
  (seconds) and any other fields (kept in ``ManifestEntry.extra``), e.g.
  ``{"path": "us-f3-p55-s170/us-f3-p55-s170-0007.wav", "text": "turn
  left at the bakery", "speaker": "us-f3-p55-s170", "duration": 2.31,
  "voice": "gmw/en-US", "variant": "f3"}``.
- **TSV**: ``path<TAB>text`` per line, optionally a third column with the
  speaker; an optional header line ``path<TAB>text[<TAB>speaker]``; blank
  lines and lines starting with ``#`` are skipped.

The format is chosen by extension (``.jsonl``/``.json`` vs ``.tsv``/``.txt``)
and otherwise by whether the first entry starts with ``{``.

Relative audio paths are resolved against the manifest's own folder, so a
dataset folder can be moved or copied as a whole; ``write_manifest`` writes
paths relative to the manifest's folder when the audio lies under it (and
absolute paths otherwise). ``read_manifest`` returns absolute paths.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, Iterable, List, Optional, Union

__all__ = ["ManifestEntry", "read_manifest", "write_manifest", "manifest_speakers", "read_clips", "AUDIO_EXTENSIONS"]

#: File types ``read_clips`` picks up from a folder.
AUDIO_EXTENSIONS = (".wav", ".flac", ".ogg", ".mp3", ".aiff", ".aif")

PathLike = Union[str, os.PathLike]

_KNOWN = ("path", "audio", "text", "speaker", "duration")


@dataclass
class ManifestEntry:
    """One clip: audio path, transcript and, where known, speaker and duration."""

    path: str
    text: str
    speaker: Optional[str] = None
    duration: Optional[float] = None
    extra: Dict[str, Any] = field(default_factory=dict)

    def to_dict(self, base: Optional[Path] = None) -> Dict[str, Any]:
        """The JSONL object; ``path`` relative to ``base`` when it lies under it."""
        p = self.path
        if base is not None:
            try:
                p = Path(os.path.abspath(p)).relative_to(Path(os.path.abspath(base))).as_posix()
            except ValueError:
                p = os.path.abspath(p)
        d: Dict[str, Any] = {"path": p, "text": self.text}
        if self.speaker is not None:
            d["speaker"] = self.speaker
        if self.duration is not None:
            d["duration"] = round(float(self.duration), 4)
        for k, v in self.extra.items():
            if k not in d:
                d[k] = v
        return d


def _detect_format(path: Path, lines: List[str]) -> str:
    ext = path.suffix.lower()
    if ext in (".jsonl", ".json", ".ndjson"):
        return "jsonl"
    if ext in (".tsv", ".txt", ".lst"):
        return "tsv"
    for line in lines:
        s = line.strip()
        if s and not s.startswith("#"):
            return "jsonl" if s.startswith("{") else "tsv"
    return "jsonl"


def _parse_jsonl(path: Path, lines: List[str]) -> List[ManifestEntry]:
    out = []
    for no, line in enumerate(lines, 1):
        s = line.strip()
        if not s:
            continue
        try:
            obj = json.loads(s)
        except json.JSONDecodeError as e:
            raise ValueError(f"{path}:{no}: not valid JSON ({e.msg} at column {e.colno})") from None
        if not isinstance(obj, dict):
            raise ValueError(f"{path}:{no}: expected a JSON object, got {type(obj).__name__}")
        audio = obj.get("path", obj.get("audio"))
        if not isinstance(audio, str) or not audio:
            raise ValueError(f"{path}:{no}: missing 'path' (or 'audio') string field")
        text = obj.get("text")
        if not isinstance(text, str):
            raise ValueError(f"{path}:{no}: missing 'text' string field")
        speaker = obj.get("speaker")
        if speaker is not None and not isinstance(speaker, (str, int)):
            raise ValueError(f"{path}:{no}: 'speaker' must be a string")
        duration = obj.get("duration")
        if duration is not None:
            if isinstance(duration, bool) or not isinstance(duration, (int, float)) or duration < 0:
                raise ValueError(f"{path}:{no}: 'duration' must be a non-negative number of seconds")
        extra = {k: v for k, v in obj.items() if k not in _KNOWN}
        out.append(ManifestEntry(audio, text, None if speaker is None else str(speaker),
                                 None if duration is None else float(duration), extra))
    return out


def _parse_tsv(path: Path, lines: List[str]) -> List[ManifestEntry]:
    out = []
    first = True
    for no, line in enumerate(lines, 1):
        s = line.rstrip("\r\n")
        if not s.strip() or s.lstrip().startswith("#"):
            continue
        cols = s.split("\t")
        if first and [c.strip().lower() for c in cols[:2]] in (["path", "text"], ["audio", "text"]):
            first = False
            continue
        first = False
        if len(cols) < 2:
            raise ValueError(f"{path}:{no}: expected 'path<TAB>text', found no tab")
        if len(cols) > 3:
            raise ValueError(f"{path}:{no}: expected 2 or 3 tab-separated columns, found {len(cols)}")
        audio = cols[0].strip()
        if not audio:
            raise ValueError(f"{path}:{no}: empty audio path")
        speaker = cols[2].strip() if len(cols) == 3 and cols[2].strip() else None
        out.append(ManifestEntry(audio, cols[1].strip(), speaker))
    return out


def read_manifest(path: PathLike, *, check_files: bool = True) -> List[ManifestEntry]:
    """Read a JSONL or TSV manifest; audio paths come back absolute.

    Raises FileNotFoundError when the manifest (or, with ``check_files``,
    any audio file it lists: the first few are named) does not exist, and
    ValueError naming ``file:line`` for malformed lines.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"manifest not found: {path}")
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError as e:
        raise ValueError(f"{path}: not UTF-8 text ({e})") from None
    fmt = _detect_format(path, lines)
    entries = _parse_jsonl(path, lines) if fmt == "jsonl" else _parse_tsv(path, lines)
    base = path.resolve().parent
    for e in entries:
        p = Path(os.path.expanduser(e.path))
        e.path = str(p if p.is_absolute() else (base / p))
    if check_files:
        missing = [e.path for e in entries if not os.path.isfile(e.path)]
        if missing:
            shown = ", ".join(missing[:3]) + (f" and {len(missing) - 3} more" if len(missing) > 3 else "")
            raise FileNotFoundError(f"{path}: {len(missing)} audio file(s) listed but not found: {shown}")
    return entries


def write_manifest(path: PathLike, entries: Iterable[ManifestEntry], *, relative: bool = True) -> Path:
    """Write entries as JSONL (atomically). With ``relative`` (default),
    audio paths under the manifest's folder are written relative to it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    base = path.parent if relative else None
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "w", encoding="utf-8") as f:
            for e in entries:
                f.write(json.dumps(e.to_dict(base), ensure_ascii=False) + "\n")
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    return path


def manifest_speakers(entries: Iterable[ManifestEntry]) -> Dict[str, int]:
    """Clip count per speaker (entries without a speaker count under "")."""
    counts: Dict[str, int] = {}
    for e in entries:
        counts[e.speaker or ""] = counts.get(e.speaker or "", 0) + 1
    return counts


def read_clips(path: PathLike) -> List[ManifestEntry]:
    """Clips from a manifest file, or from a folder of audio files (searched
    recursively, sorted by path, transcripts empty, speaker unknown) -- for
    commands that take unlabelled calibration clips (``--calib CLIPS/``)."""
    path = Path(path)
    if path.is_dir():
        files = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in AUDIO_EXTENSIONS)
        if not files:
            raise ValueError(f"{path}: no audio files ({', '.join(AUDIO_EXTENSIONS)}) in this folder")
        return [ManifestEntry(str(p.resolve()), "") for p in files]
    return read_manifest(path)
