"""Quantization settings for training and the experiment grid.

A setting is (weights, activations, qat):

* weights: "float" | "q8" | "q4" | "q4a" (each optionally "@GROUP": "q4@64") | "mixed"
  (q8 per row where the model is most sensitive: the subsampling projection,
  attention and the CTC head; q4@64 for the feed-forward and
  convolution-module projections) | {layer: spec}.
* activations: "int8" (the core's dynamic per-row 32-block int8, what every
  quantized layer serves with) | "float".
* qat: True trains the float master weights through the quantizer with a
  straight-through estimator; False freezes min-max codes (PTQ evaluation).

Servable settings run the C++ core's exact arithmetic (MirrorLinear,
qasr_native/quant/torch_mirror.py): quantized weights with int8 activations,
float weights with float activations. The other cells of the paper-style
grid (quantized weights with float activations, float weights with int8
activations) cannot be served by the core; SimLinear simulates them from
the same quantizers (weights via the mirror's codes, activations via
torch_mirror.quantize_activations), for the experiment table only.
"""

from __future__ import annotations

from typing import Dict, Optional, Tuple, Union

import torch
import torch.nn.functional as F
from torch import nn

from ..export.conformer import resolve_precision
from ..quant.torch_mirror import (MirrorLinear, apply_quantization, layer_spec, linear_layers,
                                  quantize_activations, quantize_linear_weight)

WEIGHTS = ("float", "q8", "q4", "q4a", "mixed")
ACTIVATIONS = ("float", "int8")

# Substrings of layer names kept at 8 bits by the "mixed" setting.
MIXED_8BIT = ("subsample.out", "attn.qkv", "attn.out", "head")
MIXED_4BIT_GROUP = 64  # the other layers: q4 with 64-wide groups (the built-in model's format)


def weight_specs(model: nn.Module, weights: Union[str, dict]) -> Dict[str, Tuple[str, int]]:
    """{layer: (format, group)} for every linear layer of ``model``."""
    if isinstance(weights, dict):
        return {n: layer_spec(s) for n, s in resolve_precision(model, weights).items()}
    base, _, group = weights.partition("@") if isinstance(weights, str) else (weights, "", "")
    if base not in WEIGHTS or (group and (base in ("float", "mixed") or not group.isdigit())):
        raise ValueError(f"weights must be one of {', '.join(WEIGHTS)} (q8/q4/q4a optionally @GROUP, e.g. q4@64) "
                         f"or a {{layer: spec}} dict, got {weights!r}")
    names = [n for n, _ in linear_layers(model)]
    if group:
        return {n: layer_spec((base, int(group))) for n in names}
    if weights == "float":
        return {n: ("f32", 0) for n in names}
    if weights == "mixed":
        return {n: layer_spec("q8" if any(k in n for k in MIXED_8BIT) else ("q4", MIXED_4BIT_GROUP)) for n in names}
    return {n: layer_spec(weights) for n in names}


class SimLinear(nn.Module):
    """A linear layer with simulated quantization, for grid cells the core cannot serve.

    Weights: the mirror's codes dequantized (float weights: unchanged).
    Activations: the core's int8 block quantization dequantized, or float.
    Straight-through gradients to the float master weights and inputs.
    """

    def __init__(self, linear: nn.Module, format: str, group: int, quant_act: bool, qat: bool) -> None:
        super().__init__()
        self.in_features, self.out_features = linear.in_features, linear.out_features
        self.weight, self.bias = linear.weight, linear.bias
        self.format, self.group, self.quant_act, self.qat = format, group, quant_act, qat
        self._frozen: Optional[torch.Tensor] = None
        if format != "f32" and not qat:
            self._frozen = quantize_linear_weight(self.weight, format, group).dequantized

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        w = self.weight
        if self.format != "f32":
            wq = self._frozen if self._frozen is not None else \
                quantize_linear_weight(w, self.format, self.group).dequantized
            w = w + (wq - w).detach() if self.qat else wq
        if self.quant_act:
            shape = x.shape
            x2 = x.reshape(-1, shape[-1])
            q, s = quantize_activations(x2)
            xd = (q * s[..., None]).reshape(x2.shape[0], -1)[:, :shape[-1]].reshape(shape)
            x = x + (xd - x).detach()
        return F.linear(x, w, self.bias)

    def extra_repr(self) -> str:
        return (f"{self.in_features}, {self.out_features}, format={self.format}, group={self.group}, "
                f"quant_act={self.quant_act}, qat={self.qat}")


def servable(weights: Union[str, dict], activations: str) -> bool:
    """True when the C++ core computes exactly this setting."""
    return (weights == "float") == (activations == "float")


def apply_setting(model: nn.Module, weights: Union[str, dict] = "float", activations: str = "int8",
                  qat: bool = True) -> nn.Module:
    """Swap the model's linear layers for the given quantization setting, in place.

    Layers are swapped from their float master weights (plain nn.Linear,
    MirrorLinear or SimLinear), so a model can move between settings.
    """
    if activations not in ACTIVATIONS:
        raise ValueError(f"activations must be one of {', '.join(ACTIVATIONS)}, got {activations!r}")
    modules = dict(model.named_modules())
    for name, mod in list(modules.items()):  # back to plain nn.Linear on the master weights
        if isinstance(mod, (MirrorLinear, SimLinear)):
            _set(model, modules, name, _plain(mod))
    specs = weight_specs(model, weights)
    all_float = all(fmt == "f32" for fmt, _ in specs.values())
    if activations == "int8" and not all_float:
        # Servable: the core's arithmetic. f32 layers of a mixed model run float in the core too.
        return apply_quantization(model, {n: s for n, s in specs.items() if s[0] != "f32"}, qat=qat)
    for name, (fmt, group) in specs.items():
        mod = _plain(modules[name])
        if fmt == "f32" and activations == "float":
            new: nn.Module = mod
        else:
            new = SimLinear(mod, fmt, group, quant_act=activations == "int8", qat=qat)
        _set(model, modules, name, new)
    return model


def export_specs(model: nn.Module) -> Dict[str, Tuple[str, int]]:
    """The weight formats a model's layers serve with (SimLinear and MirrorLinear aware)."""
    out = {}
    for name, mod in model.named_modules():
        if isinstance(mod, (MirrorLinear, SimLinear)):
            out[name] = (mod.format, mod.group)
        elif isinstance(mod, nn.Linear):
            out[name] = ("f32", 0)
    return out


def _plain(mod: nn.Module) -> nn.Linear:
    if isinstance(mod, nn.Linear):
        return mod
    lin = nn.Linear(mod.in_features, mod.out_features, bias=mod.bias is not None)
    lin.weight, lin.bias = mod.weight, mod.bias
    return lin


def _set(model: nn.Module, modules: dict, name: str, new: nn.Module) -> None:
    parent, _, child = name.rpartition(".")
    setattr(modules[parent] if parent else model, child, new)
    modules[name] = new
