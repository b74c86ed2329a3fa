"""Conformer-CTC <-> `.qasr` (docs/conformer.md).

The file holds every entry of the model's state_dict under its own name:
nn.Linear weights as packed matrices in the precision asked for, everything
else as f32 arrays. :func:`load_conformer` reads a file back into a PyTorch
model whose quantized layers run the core's arithmetic (MirrorLinear), so
``load_conformer(export_conformer(m, ...))`` computes what the C++ executor
computes.
"""

from __future__ import annotations

import os
from typing import Any, Optional, Union

import numpy as np
import torch

from ..models.conformer import FAMILY, ConformerConfig, ConformerCTC
from ..quant.formats import DEFAULT_GROUP
from ..quant.mirror import QuantizedWeight, dequantize, quantize_weight
from ..quant.torch_mirror import MirrorLinear, apply_quantization, layer_spec, linear_layers
from .qasr_file import QasrWriter, read_qasr

ACTIVATIONS = "int8-block32-dynamic"

# The fbank every Conformer-CTC file uses; csrc/frontend/fbank.h defaults.
DEFAULT_FRONTEND = {
    "kind": "kaldi_fbank",
    "sample_rate": 16000,
    "num_bins": 80,
    "frame_length_ms": 25.0,
    "frame_shift_ms": 10.0,
    "dither": 0.0,
    "snip_edges": True,
}

Precision = Union[str, dict]


def resolve_precision(model: torch.nn.Module, precision: Precision) -> dict[str, Any]:
    """Per-layer specs for every linear layer.

    ``precision`` is one format for all layers ("f32", "q8", "q4", "q4a",
    also "float32"/"int8"/"int4") or a dict {layer: spec}; layers missing
    from the dict keep what the model has (a MirrorLinear's format, else f32).
    """
    aliases = {"float32": "f32", "float": "f32", "int8": "q8", "int4": "q4"}
    layers = linear_layers(model)
    out: dict[str, Any] = {}
    if isinstance(precision, str):
        fmt = aliases.get(precision, precision)
        for name, _ in layers:
            out[name] = (fmt, DEFAULT_GROUP.get(fmt, 0))
        for name in out:
            layer_spec(out[name])  # validates the format
        return out
    names = {n for n, _ in layers}
    unknown = set(precision) - names
    if unknown:
        raise ValueError(f"precision names layers the model does not have: {', '.join(sorted(unknown))}")
    for name, mod in layers:
        if name in precision:
            spec = precision[name]
            if isinstance(spec, str):
                spec = aliases.get(spec, spec)
            out[name] = spec if isinstance(spec, QuantizedWeight) else layer_spec(spec)
        elif isinstance(mod, MirrorLinear) and mod.format != "f32":
            out[name] = mod.quantized_weight()
        else:
            out[name] = ("f32", 0)
    return out


def conformer_writer(model: ConformerCTC, precision: Precision = "f32", tokenizer: Optional[dict] = None,
                     frontend: Optional[dict] = None, provenance: Optional[dict] = None,
                     extra: Optional[dict] = None) -> QasrWriter:
    """A QasrWriter holding the model (nothing written yet: ``predicted_size()`` is cheap)."""
    if not isinstance(model, ConformerCTC):
        raise TypeError(f"expected a ConformerCTC, got {type(model).__name__}")
    specs = resolve_precision(model, precision)
    w = QasrWriter()
    w.set_model(FAMILY, **model.config.to_dict())
    w.set_section("frontend", dict(frontend or DEFAULT_FRONTEND))
    if tokenizer is not None:
        _check_tokenizer(tokenizer, model.config)
        w.set_section("tokenizer", tokenizer)
    layers_json = {}
    for name, spec in specs.items():
        fmt, group = layer_spec(spec)
        layers_json[name] = {"format": fmt, "group": group}
    w.set_section("quantization", {"activations": ACTIVATIONS, "layers": layers_json, **(extra or {})})
    if provenance:
        w.update_provenance(**provenance)
    state = model.state_dict()
    linear_weights = {f"{n}.weight": n for n in specs}
    for key, tensor in state.items():
        array = tensor.detach().cpu().to(torch.float32).numpy()
        if key in linear_weights:
            spec = specs[linear_weights[key]]
            if isinstance(spec, QuantizedWeight):
                if spec.shape != array.shape:
                    raise ValueError(f"{key}: quantized weight has shape {spec.shape}, the model {array.shape}")
                w.add_matrix(key, spec)
            else:
                fmt, group = spec
                w.add_matrix(key, array if fmt == "f32" else quantize_weight(array, fmt, group))
        else:
            w.add_array(key, np.ascontiguousarray(array))
    return w


def export_conformer(model: ConformerCTC, path: Union[str, os.PathLike], precision: Precision = "f32",
                     tokenizer: Optional[dict] = None, frontend: Optional[dict] = None,
                     provenance: Optional[dict] = None, extra: Optional[dict] = None) -> int:
    """Write ``model`` to ``path``; returns the file size in bytes.

    ``tokenizer``: {"kind": "char"|"sentencepiece", "pieces": [...], "blank": 0}
    (see csrc/decode/tokenizer.h). Quantized layers use min-max scales unless
    the model carries calibrated MirrorLinear layers or ``precision`` gives
    QuantizedWeights.
    """
    return conformer_writer(model, precision, tokenizer, frontend, provenance, extra).write(path)


def _check_tokenizer(tok: dict, config: ConformerConfig) -> None:
    if tok.get("kind") not in ("char", "sentencepiece", "spm"):
        raise ValueError(f"tokenizer kind must be 'char' or 'sentencepiece', got {tok.get('kind')!r}")
    pieces = tok.get("pieces")
    if not isinstance(pieces, list) or not all(isinstance(p, str) for p in pieces):
        raise ValueError("tokenizer pieces must be a list of strings")
    if len(pieces) != config.vocab_size:
        raise ValueError(f"tokenizer has {len(pieces)} pieces, the model's vocabulary is {config.vocab_size}")
    if int(tok.get("blank", 0)) != config.blank:
        raise ValueError(f"tokenizer blank {tok.get('blank')} != model blank {config.blank}")


def load_conformer(path: Union[str, os.PathLike]) -> tuple[ConformerCTC, dict]:
    """A `.qasr` Conformer-CTC as a PyTorch model plus the file's header.

    Quantized layers become MirrorLinear holding the file's exact codes, so
    the model's forward is the serving arithmetic; f32 layers stay nn.Linear.
    """
    contents = read_qasr(path)
    header = contents.header
    model_h = header.get("model", {})
    if model_h.get("family") != FAMILY:
        raise ValueError(f"{path}: model family is {model_h.get('family')!r}, not {FAMILY!r}")
    config = ConformerConfig.from_dict(model_h)
    model = ConformerCTC(config)
    state = model.state_dict()
    quantized: dict[str, QuantizedWeight] = {}
    new_state = {}
    for key, ref in state.items():
        if key not in contents:
            raise ValueError(f"{path}: tensor {key!r} is missing")
        e = contents.entry(key)
        if e.spec.packed:
            m = contents.matrix(key)
            if isinstance(m, QuantizedWeight):
                quantized[key[: -len(".weight")]] = m
                arr = dequantize(m)
            else:
                arr = m
        else:
            arr = np.array(contents.array(key), dtype=np.float32)
        if tuple(arr.shape) != tuple(ref.shape):
            raise ValueError(f"{path}: tensor {key!r} has shape {tuple(arr.shape)}, expected {tuple(ref.shape)}")
        new_state[key] = torch.from_numpy(np.ascontiguousarray(arr))
    model.load_state_dict(new_state)
    if quantized:
        apply_quantization(model, quantized)
    model.eval()
    return model, header
