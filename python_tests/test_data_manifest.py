"""Manifests: JSONL/TSV reading, relative path resolution, round trips and
clear errors naming file and line."""

import json

import numpy as np
import pytest

from qasr_native.data.audio import write_wav
from qasr_native.data.manifest import ManifestEntry, manifest_speakers, read_manifest, write_manifest


@pytest.fixture
def clips(tmp_path):
    d = tmp_path / "data"
    for name in ("a.wav", "sub/b.wav"):
        write_wav(d / name, np.zeros(160), 16000)
    return d


def test_round_trip_relative(clips, tmp_path):
    entries = [ManifestEntry(str(clips / "a.wav"), "hello world", "s1", 0.01, {"voice": "gmw/en", "pitch": 50}),
               ManifestEntry(str(clips / "sub/b.wav"), "it's two", None, None)]
    m = write_manifest(clips / "manifest.jsonl", entries)
    lines = [json.loads(l) for l in m.read_text().splitlines()]
    assert lines[0] == {"path": "a.wav", "text": "hello world", "speaker": "s1", "duration": 0.01,
                        "voice": "gmw/en", "pitch": 50}
    assert lines[1] == {"path": "sub/b.wav", "text": "it's two"}
    back = read_manifest(m)
    assert [(e.path, e.text, e.speaker, e.duration, e.extra) for e in back] == \
           [(e.path, e.text, e.speaker, e.duration, e.extra) for e in entries]
    # The folder moves as a whole: relative paths follow it.
    moved = tmp_path / "moved"
    clips.rename(moved)
    assert read_manifest(moved / "manifest.jsonl")[1].path == str(moved / "sub/b.wav")


def test_outside_paths_are_absolute(clips, tmp_path):
    m = write_manifest(tmp_path / "elsewhere" / "m.jsonl", [ManifestEntry(str(clips / "a.wav"), "x")])
    assert json.loads(m.read_text())["path"] == str(clips / "a.wav")
    assert read_manifest(m)[0].path == str(clips / "a.wav")


def test_audio_key_and_tsv(clips):
    (clips / "m.jsonl").write_text('{"audio": "a.wav", "text": "one"}\n\n{"path": "sub/b.wav", "text": "two", "speaker": 7}\n')
    e = read_manifest(clips / "m.jsonl")
    assert [x.text for x in e] == ["one", "two"] and e[1].speaker == "7"
    (clips / "m.tsv").write_text("path\ttext\tspeaker\n# comment\na.wav\thello there\tspk\n\nsub/b.wav\tbye\n")
    e = read_manifest(clips / "m.tsv")
    assert [(x.path, x.text, x.speaker) for x in e] == [(str(clips / "a.wav"), "hello there", "spk"),
                                                       (str(clips / "sub/b.wav"), "bye", None)]
    assert manifest_speakers(e) == {"spk": 1, "": 1}
    # Format sniffed when the extension says nothing.
    (clips / "list").write_text("a.wav\tsniffed\n")
    assert read_manifest(clips / "list")[0].text == "sniffed"


@pytest.mark.parametrize("content,match", [
    ('{"path": "a.wav", "text": "ok"}\n{"path": "a.wav", "text": \n', r"m\.jsonl:2: not valid JSON"),
    ('{"path": "a.wav"}\n', r"m\.jsonl:1: missing 'text'"),
    ('{"text": "x"}\n', r"m\.jsonl:1: missing 'path'"),
    ('[1, 2]\n', r"m\.jsonl:1: expected a JSON object"),
    ('{"path": "a.wav", "text": "x", "duration": -1}\n', r"m\.jsonl:1: 'duration'"),
    ('{"path": "a.wav", "text": "x", "speaker": [1]}\n', r"m\.jsonl:1: 'speaker'"),
])
def test_jsonl_errors(clips, content, match):
    (clips / "m.jsonl").write_text(content)
    with pytest.raises(ValueError, match=match):
        read_manifest(clips / "m.jsonl")


@pytest.mark.parametrize("content,match", [
    ("a.wav\thello\nno tab here\n", r"m\.tsv:2: expected 'path<TAB>text'"),
    ("a.wav\tx\ty\tz\n", r"m\.tsv:1: expected 2 or 3"),
    ("\thello\n", r"m\.tsv:1: empty audio path"),
])
def test_tsv_errors(clips, content, match):
    (clips / "m.tsv").write_text(content)
    with pytest.raises(ValueError, match=match):
        read_manifest(clips / "m.tsv")


def test_missing_files(clips):
    (clips / "m.jsonl").write_text("".join(json.dumps({"path": f"gone{i}.wav", "text": "x"}) + "\n" for i in range(5)))
    with pytest.raises(FileNotFoundError, match=r"5 audio file\(s\).*gone0\.wav.*and 2 more"):
        read_manifest(clips / "m.jsonl")
    assert len(read_manifest(clips / "m.jsonl", check_files=False)) == 5
    with pytest.raises(FileNotFoundError, match="manifest not found"):
        read_manifest(clips / "nope.jsonl")
    (clips / "bin.jsonl").write_bytes(b"\xff\xfe\x00bad")
    with pytest.raises(ValueError, match="not UTF-8"):
        read_manifest(clips / "bin.jsonl")


def test_read_clips(clips, tmp_path):
    from qasr_native.data.manifest import read_clips

    (clips / "notes.txt").write_text("not audio")
    got = read_clips(clips)
    assert [e.path for e in got] == [str((clips / "a.wav").resolve()), str((clips / "sub/b.wav").resolve())]
    assert all(e.text == "" and e.speaker is None for e in got)
    write_manifest(clips / "m.jsonl", [ManifestEntry(str(clips / "a.wav"), "x", "s")])
    assert read_clips(clips / "m.jsonl")[0].speaker == "s"
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="no audio files"):
        read_clips(tmp_path / "empty")
