"""Whisper <-> `.qasr` (docs/whisper.md, "The .qasr file").

:func:`export_whisper` packs a transformers ``WhisperForConditionalGeneration``
(as :func:`qasr_native.models.whisper.load_whisper` returns it) at any
per-layer precision, with everything the C++ executor needs to transcribe:
the model's dimensions, Whisper's mel filters, the byte-level BPE vocabulary
(id -> bytes, for detokenization) and the greedy decoding settings (prompt,
suppressed tokens, special ids).

:func:`load_whisper_qasr` reads a file back into a transformers model whose
quantized linears are :class:`~qasr_native.quant.torch_mirror.MirrorLinear`
holding the file's exact codes: the Python mirror of what the core serves
(the reference of the int8 / mixed proofs).
"""

from __future__ import annotations

import copy
import os
from typing import TYPE_CHECKING, Any, Dict, List, Optional, Tuple, Union

import numpy as np

from ..quant.mirror import QuantizedWeight, dequantize, quantize_weight
from ..quant.torch_mirror import layer_spec
from .conformer import ACTIVATIONS, Precision, resolve_precision
from .qasr_file import QasrWriter, read_qasr

if TYPE_CHECKING:  # pragma: no cover
    from transformers import WhisperForConditionalGeneration

    from ..models.whisper import WhisperBundle

FAMILY = "whisper"
#: Names of the extra tensors (not model weights).
MEL_FILTERS = "frontend.mel_filters"
TOKEN_BYTES = "tokenizer.bytes"
TOKEN_OFFSETS = "tokenizer.offsets"
EMBED = "model.decoder.embed_tokens.weight"
PROJ = "proj_out"
CONVS = ("model.encoder.conv1", "model.encoder.conv2")
#: How the decoder looks up token embeddings: from the output projection's
#: stored matrix (its f32 panels or its dequantized codes), or from a separate
#: f32 / f16 table.
EMBEDDINGS = ("tied", "f32", "f16")

__all__ = [
    "FAMILY",
    "EMBEDDINGS",
    "whisper_writer",
    "export_whisper",
    "load_whisper_qasr",
    "whisper_generation_settings",
    "token_bytes",
    "conv_matrix",
]


# ----------------------------------------------------------------- pieces


def _bytes_to_unicode() -> Dict[int, str]:
    """GPT-2's byte <-> printable character table (byte-level BPE)."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, (chr(c) for c in cs)))


def token_bytes(tokenizer, vocab_size: int) -> Tuple[List[bytes], int]:
    """The bytes of every token id (byte-level pieces mapped back to bytes;
    added tokens as their UTF-8 text) and the first special id.

    Every id from ``<|endoftext|>`` on is special or a timestamp in Whisper
    (checked here): detokenization skips them all.
    """
    decoder = {c: b for b, c in _bytes_to_unicode().items()}
    pieces = tokenizer.convert_ids_to_tokens(list(range(vocab_size)))
    added = getattr(tokenizer, "added_tokens_decoder", {}) or {}
    eot = tokenizer.convert_tokens_to_ids("<|endoftext|>")
    if not isinstance(eot, int) or eot < 0 or eot >= vocab_size:
        raise ValueError("the tokenizer has no <|endoftext|> token inside the model's vocabulary")
    out: List[bytes] = []
    for i, piece in enumerate(pieces):
        if piece is None:
            raise ValueError(f"token id {i} has no piece in the tokenizer (vocabulary {vocab_size})")
        if i in added or i >= eot:
            if i < eot:
                raise ValueError(f"token id {i} ({piece!r}) is an added token below <|endoftext|> ({eot}); "
                                 "this layout is not a Whisper vocabulary")
            out.append(piece.encode("utf-8"))
            continue
        try:
            out.append(bytes(decoder[c] for c in piece))
        except KeyError:
            raise ValueError(f"token id {i} ({piece!r}) is not a byte-level BPE piece") from None
    return out, int(eot)


def conv_matrix(weight: np.ndarray) -> np.ndarray:
    """Conv1d weight [out, in, k] -> [out, k * in] with the tap outermost, so
    an im2col row is the k input frames laid end to end (docs/whisper.md)."""
    w = np.asarray(weight, dtype=np.float32)
    if w.ndim != 3:
        raise ValueError(f"conv weight must be 3-D [out, in, kernel], got shape {w.shape}")
    return np.ascontiguousarray(w.transpose(0, 2, 1).reshape(w.shape[0], -1))


def _conv_weight(matrix: np.ndarray, n_in: int, kernel: int) -> np.ndarray:
    """Inverse of :func:`conv_matrix`."""
    return np.ascontiguousarray(matrix.reshape(matrix.shape[0], kernel, n_in).transpose(0, 2, 1))


def whisper_generation_settings(bundle: "WhisperBundle", language: Optional[str] = "en",
                                task: str = "transcribe") -> Dict[str, Any]:
    """Greedy decoding settings of the header (``model.generation``)."""
    from ..models.whisper import ct2_greedy_max_new_tokens

    gc = bundle.generation_config
    prompt = bundle.prompt_ids(language, task) if bundle.is_multilingual else bundle.prompt_ids(None)
    max_length = int(getattr(gc, "max_length", None) or bundle.model.config.max_target_positions)
    max_length = min(max_length, int(bundle.model.config.max_target_positions))
    out: Dict[str, Any] = {
        "prompt": [int(t) for t in prompt],
        "decoder_start_token_id": int(gc.decoder_start_token_id),
        "eos_token_id": int(gc.eos_token_id),
        "no_timestamps_token_id": int(gc.no_timestamps_token_id),
        "suppress_tokens": [int(t) for t in (gc.suppress_tokens or [])],
        "begin_suppress_tokens": [int(t) for t in (gc.begin_suppress_tokens or [])],
        "max_length": max_length,
        "max_new_tokens": ct2_greedy_max_new_tokens(max_length, len(prompt)),
        "is_multilingual": bool(bundle.is_multilingual),
    }
    if bundle.is_multilingual:
        out["language"], out["task"] = language, task
        out["lang_to_id"] = {k: int(v) for k, v in gc.lang_to_id.items()}
        out["task_to_id"] = {k: int(v) for k, v in gc.task_to_id.items()}
    return out


def _model_section(config) -> Dict[str, Any]:
    if config.activation_function != "gelu":
        raise ValueError(f"Whisper activation {config.activation_function!r} is not supported (only 'gelu')")
    if getattr(config, "scale_embedding", False):
        raise ValueError("Whisper with scale_embedding=True is not supported")
    return {
        "n_mels": int(config.num_mel_bins),
        "d_model": int(config.d_model),
        "encoder_layers": int(config.encoder_layers),
        "encoder_heads": int(config.encoder_attention_heads),
        "encoder_ffn_dim": int(config.encoder_ffn_dim),
        "decoder_layers": int(config.decoder_layers),
        "decoder_heads": int(config.decoder_attention_heads),
        "decoder_ffn_dim": int(config.decoder_ffn_dim),
        "vocab_size": int(config.vocab_size),
        "max_source_positions": int(config.max_source_positions),
        "max_target_positions": int(config.max_target_positions),
        "activation": "gelu",
        "layer_norm_eps": 1e-5,
        "conv_kernel": 3,
    }


def _frontend_section(bundle: "WhisperBundle") -> Dict[str, Any]:
    fe = bundle.feature_extractor
    return {
        "kind": "whisper_logmel",
        "sample_rate": int(fe.sampling_rate),
        "n_fft": int(fe.n_fft),
        "hop_length": int(fe.hop_length),
        "n_mels": int(fe.feature_size),
        "chunk_seconds": int(fe.chunk_length),
        "n_samples": int(fe.n_samples),
        "n_frames": int(fe.nb_max_frames),
        "mel_filters": MEL_FILTERS,
    }


# ----------------------------------------------------------------- writer


def _resolve(model, precision: Precision, output: Optional[Any]) -> Dict[str, Any]:
    specs = resolve_precision(model, precision)
    if output is not None:
        specs[PROJ] = output if isinstance(output, QuantizedWeight) else layer_spec(output)
    return specs


def whisper_writer(bundle: "WhisperBundle", precision: Precision = "f32", *, output: Optional[Any] = None,
                   embedding: str = "tied", provenance: Optional[dict] = None,
                   extra: Optional[dict] = None, language: Optional[str] = "en") -> QasrWriter:
    """A QasrWriter holding the Whisper model of ``bundle`` (nothing written yet).

    ``precision``: one format for every linear layer ("f32", "q8", "q4",
    "q4a"; also "float32"/"int8"/"int4"), or {layer name: spec} (layers left
    out keep a MirrorLinear's codes, else f32). ``output``: the output
    projection's own format (``proj_out``, tied to the token embeddings),
    overriding ``precision`` for it. ``embedding``: "tied" looks token
    embeddings up in the output projection's stored matrix (dequantized
    codes when it is quantized; no second copy), "f32"/"f16" store a
    separate table. The two convolutions stay f32.
    """
    import torch

    model = bundle.model
    if embedding not in EMBEDDINGS:
        raise ValueError(f"embedding must be one of {', '.join(EMBEDDINGS)}, got {embedding!r}")
    specs = _resolve(model, precision, output)
    cfg = model.config
    section = _model_section(cfg)
    section["embedding"] = embedding
    section["generation"] = whisper_generation_settings(bundle, language)
    pieces, eot = token_bytes(bundle.tokenizer, cfg.vocab_size)

    w = QasrWriter()
    w.set_model(FAMILY, **section)
    w.set_section("frontend", _frontend_section(bundle))
    w.set_section("tokenizer", {"kind": "whisper_bpe", "vocab_size": int(cfg.vocab_size), "bytes": TOKEN_BYTES,
                                "offsets": TOKEN_OFFSETS, "special_begin": eot})
    layers_json = {}
    for name, spec in specs.items():
        fmt, group = layer_spec(spec)
        layers_json[name] = {"format": fmt, "group": group}
    w.set_section("quantization", {"activations": ACTIVATIONS, "layers": layers_json, "embedding": embedding,
                                   "convs": "f32", **(extra or {})})
    w.update_provenance(source_model=bundle.source, **(provenance or {}))

    def f32(t: "torch.Tensor") -> np.ndarray:
        return np.ascontiguousarray(t.detach().cpu().to(torch.float32).numpy())

    state = model.state_dict()
    linear_weights = {f"{n}.weight": n for n in specs}
    conv_weights = {f"{n}.weight" for n in CONVS}
    for key, tensor in state.items():
        if key == EMBED:
            continue  # written with the output projection, below
        if key in conv_weights:
            w.add_matrix(key, conv_matrix(f32(tensor)))
        elif key in linear_weights:
            _add_linear(w, key, specs[linear_weights[key]], f32(tensor))
        else:
            w.add_array(key, f32(tensor))
    if f"{PROJ}.weight" not in state:  # tied weights appear once in some transformers versions
        _add_linear(w, f"{PROJ}.weight", specs[PROJ], f32(model.proj_out.weight))
    if embedding != "tied":
        table = f32(model.get_decoder().embed_tokens.weight)
        w.add_array(EMBED, table.astype(np.float16) if embedding == "f16" else table)
    filters = np.asarray(bundle.feature_extractor.mel_filters, dtype=np.float64).T  # [n_mels, n_fft / 2 + 1]
    w.add_array(MEL_FILTERS, np.ascontiguousarray(filters, dtype=np.float32))
    offsets = np.zeros(len(pieces) + 1, dtype=np.int64)
    offsets[1:] = np.cumsum([len(p) for p in pieces])
    w.add_array(TOKEN_BYTES, np.frombuffer(b"".join(pieces), dtype=np.uint8))
    w.add_array(TOKEN_OFFSETS, offsets.astype(np.int32))
    return w


def _add_linear(w: QasrWriter, key: str, spec: Any, array: np.ndarray) -> None:
    if isinstance(spec, QuantizedWeight):
        if spec.shape != array.shape:
            raise ValueError(f"{key}: quantized weight has shape {spec.shape}, the model {array.shape}")
        w.add_matrix(key, spec)
        return
    fmt, group = spec
    w.add_matrix(key, array if fmt == "f32" else quantize_weight(array, fmt, group))


def export_whisper(bundle: "WhisperBundle", path: Union[str, os.PathLike], precision: Precision = "f32", *,
                   output: Optional[Any] = None, embedding: str = "tied", provenance: Optional[dict] = None,
                   extra: Optional[dict] = None, language: Optional[str] = "en") -> int:
    """Writes ``bundle``'s model to ``path`` (see :func:`whisper_writer`); returns the file size."""
    return whisper_writer(bundle, precision, output=output, embedding=embedding, provenance=provenance,
                          extra=extra, language=language).write(path)


# ----------------------------------------------------------------- mirror


def _config(section: Dict[str, Any]):
    from transformers import WhisperConfig

    gen = section["generation"]
    return WhisperConfig(
        vocab_size=section["vocab_size"], num_mel_bins=section["n_mels"], d_model=section["d_model"],
        encoder_layers=section["encoder_layers"], encoder_attention_heads=section["encoder_heads"],
        encoder_ffn_dim=section["encoder_ffn_dim"], decoder_layers=section["decoder_layers"],
        decoder_attention_heads=section["decoder_heads"], decoder_ffn_dim=section["decoder_ffn_dim"],
        max_source_positions=section["max_source_positions"], max_target_positions=section["max_target_positions"],
        activation_function="gelu", scale_embedding=False, tie_word_embeddings=True,
        decoder_start_token_id=gen["decoder_start_token_id"], eos_token_id=gen["eos_token_id"],
        pad_token_id=gen["eos_token_id"], bos_token_id=gen["eos_token_id"],
    )


def _generation_config(gen: Dict[str, Any]):
    from transformers import GenerationConfig

    kw = dict(decoder_start_token_id=gen["decoder_start_token_id"], eos_token_id=gen["eos_token_id"],
              pad_token_id=gen["eos_token_id"], bos_token_id=gen["eos_token_id"],
              no_timestamps_token_id=gen["no_timestamps_token_id"], suppress_tokens=list(gen["suppress_tokens"]),
              begin_suppress_tokens=list(gen["begin_suppress_tokens"]), max_length=gen["max_length"],
              is_multilingual=gen["is_multilingual"], return_timestamps=False)
    if gen["is_multilingual"]:
        kw.update(lang_to_id=dict(gen["lang_to_id"]), task_to_id=dict(gen["task_to_id"]))
    return GenerationConfig(**kw)


def load_whisper_qasr(path: Union[str, os.PathLike], *, attn_implementation: str = "eager"
                      ) -> Tuple["WhisperForConditionalGeneration", Dict[str, Any]]:
    """A Whisper `.qasr` as a transformers model (the Python mirror) plus the header.

    Quantized linears become MirrorLinear with the file's codes (the core's
    integer arithmetic); the token embeddings are what the executor looks up
    (the output projection's dequantized codes when ``embedding`` is "tied").
    The generation config is rebuilt from the header.
    """
    import torch
    from torch import nn
    from transformers import WhisperForConditionalGeneration

    from ..quant.torch_mirror import apply_quantization

    contents = read_qasr(path)
    header = contents.header
    section = header.get("model", {})
    if section.get("family") != FAMILY:
        raise ValueError(f"{path}: model family is {section.get('family')!r}, not {FAMILY!r}")
    config = _config(section)
    config._attn_implementation = attn_implementation
    model = WhisperForConditionalGeneration(config)
    state = model.state_dict()
    quantized: Dict[str, QuantizedWeight] = {}
    new_state: Dict[str, torch.Tensor] = {}
    conv_shapes = {f"{n}.weight": tuple(state[f"{n}.weight"].shape) for n in CONVS}

    def matrix(key: str) -> np.ndarray:
        m = contents.matrix(key)
        if isinstance(m, QuantizedWeight):
            quantized[key[: -len(".weight")]] = m
            return dequantize(m)
        return np.asarray(m, dtype=np.float32)

    proj = matrix(f"{PROJ}.weight")
    for key, ref in state.items():
        if key in (EMBED, f"{PROJ}.weight"):
            continue
        if key not in contents:
            raise ValueError(f"{path}: tensor {key!r} is missing")
        if contents.entry(key).spec.packed:
            arr = matrix(key)
            if key in conv_shapes:
                out_ch, in_ch, kernel = conv_shapes[key]
                arr = _conv_weight(arr, in_ch, kernel)
        else:
            arr = np.array(contents.array(key), dtype=np.float32)
        if tuple(arr.shape) != tuple(ref.shape):
            raise ValueError(f"{path}: tensor {key!r} has shape {tuple(arr.shape)}, expected {tuple(ref.shape)}")
        new_state[key] = torch.from_numpy(np.ascontiguousarray(arr))
    embed = proj if section.get("embedding", "tied") == "tied" else np.array(contents.array(EMBED), dtype=np.float32)
    new_state[EMBED] = torch.from_numpy(np.ascontiguousarray(embed))
    model.load_state_dict(new_state, strict=False)
    # The output projection gets its own parameter: it may differ from the
    # embedding table (a separate f16 table, or float codes vs float table).
    model.proj_out.weight = nn.Parameter(torch.from_numpy(np.ascontiguousarray(proj)), requires_grad=False)
    if quantized:
        apply_quantization(model, quantized)
    model.generation_config = _generation_config(section["generation"])
    model.eval()
    return model, header


def mirror_bundle(path: Union[str, os.PathLike], processor, *, attn_implementation: str = "eager"):
    """A :class:`~qasr_native.models.whisper.WhisperBundle` around the mirror of
    ``path`` with ``processor`` (the source model's), so that
    :func:`~qasr_native.models.whisper.transcribe_whisper` decodes with it."""
    from ..models.whisper import WhisperBundle

    model, header = load_whisper_qasr(path, attn_implementation=attn_implementation)
    return WhisperBundle(model=model, processor=copy.deepcopy(processor), source=os.fspath(path), format="qasr",
                         info={"header": header})
