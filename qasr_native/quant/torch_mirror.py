"""The core's quantized linear in PyTorch, for personalization and QAT.

Weight codes and scales come from the numpy mirror (:mod:`.mirror`), so the
weight formula exists once in Python. Activations are quantized here in
torch because they change every forward pass; :func:`quantize_activations`
is tested bit-equal to ``mirror.quantize_activations``.

Integer block sums are exact in float32: a 32-block of int8 x int8 products
is at most 32 * 127 * 127 < 2^24, so every partial sum is an exactly
representable integer whatever the summation order. Only the per-block
scaling (``acc += isum * (sx * s16)``, docs/quantization.md) rounds, so the
result matches the core to float32 accumulation rounding.

:func:`quantized_linear` is differentiable with a straight-through
estimator: the forward value is the integer arithmetic above, the gradient
is that of ``F.linear(x, dequantized_w)`` — what native QAT trains with.
"""

from __future__ import annotations

from typing import Optional

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .formats import BLOCK, DEFAULT_GROUP, FORMATS, SIMULATED_FORMATS, layout
from .mirror import QuantizedWeight, dequantize, quantize_weight


def quantize_activations(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-(row, 32-block) int8 codes (as float32, [M, nb, 32]) and scales [M, nb].

    Same rule as the core: ``inv = 127 / amax`` in float32; blocks where that
    is +inf (all zero, or so small the division overflows) get scale 0 and
    zero codes.
    """
    x = x.detach().to(torch.float32)
    M, K = x.shape
    nb = -(-K // BLOCK)
    if nb * BLOCK != K:
        x = F.pad(x, (0, nb * BLOCK - K))
    xb = x.reshape(M, nb, BLOCK)
    amax = xb.abs().amax(dim=2)
    inv = torch.tensor(127.0, dtype=torch.float32) / amax
    ok = ~torch.isinf(inv)
    inv = torch.where(ok, inv, torch.zeros_like(inv))
    q = torch.clamp(torch.round(xb * inv[..., None]), -127, 127)
    q = torch.where(ok[..., None], q, torch.zeros_like(q))
    scales = torch.where(ok, amax / torch.tensor(127.0, dtype=torch.float32), torch.zeros_like(amax))
    return q, scales


class TorchQuantizedWeight:
    """A QuantizedWeight prepared for torch: signed integer weights per 32-block.

    ``wint`` [nb, 32, N] holds u - z (exact small integers as float32),
    ``scales`` [N, nb] the f16 scale of each block's group as float32, and
    ``dequantized`` [N, K] the float weights the codes represent.
    """

    def __init__(self, q: QuantizedWeight, device: Optional[torch.device] = None) -> None:
        self.q = q
        N, K = q.codes.shape
        lay = layout(q.format, N, K, q.group)
        nb = lay.blocks
        g = lay.group_size
        zp = np.repeat(q.zero_points(), g, axis=1)[:, :K]
        w = np.zeros((N, nb * BLOCK), dtype=np.float32)
        w[:, :K] = q.codes.astype(np.int32) - zp
        self.wint = torch.from_numpy(w.reshape(N, nb, BLOCK).transpose(1, 2, 0).copy()).to(device)
        gidx = np.array([lay.group_of_block(b) for b in range(nb)])
        self.scales = torch.from_numpy(q.scales.astype(np.float32)[:, gidx].copy()).to(device)
        self.dequantized = torch.from_numpy(dequantize(q)).to(device)

    @property
    def shape(self) -> tuple[int, int]:
        return self.q.shape


def integer_linear(x: torch.Tensor, w: TorchQuantizedWeight, bias: Optional[torch.Tensor] = None) -> torch.Tensor:
    """Y = X W^T (+ bias) with the core's arithmetic, for X [..., K]; no gradient."""
    shape = x.shape
    x2 = x.detach().reshape(-1, shape[-1]).to(torch.float32)
    qx, sx = quantize_activations(x2)  # [M, nb, 32], [M, nb]
    isum = torch.bmm(qx.transpose(0, 1), w.wint)  # [nb, M, N], exact integers
    y = torch.zeros(x2.shape[0], w.shape[0], dtype=torch.float32, device=x.device)
    for b in range(isum.shape[0]):
        y += isum[b] * (sx[:, b, None] * w.scales[None, :, b])
    if bias is not None:
        y = y + bias.detach().to(torch.float32)
    return y.reshape(*shape[:-1], w.shape[0])


def dequantized_activations(x: torch.Tensor) -> torch.Tensor:
    """The values the core's int8 activation blocks stand for (codes x scales), [..., K] float32."""
    shape = x.shape
    q, s = quantize_activations(x.reshape(-1, shape[-1]))
    return (q * s[..., None]).reshape(q.shape[0], -1)[:, : shape[-1]].reshape(shape)


def float_equivalent_linear(x: torch.Tensor, w_dequantized: torch.Tensor,
                            bias: Optional[torch.Tensor] = None) -> torch.Tensor:
    """:func:`integer_linear` as one float32 matmul of the dequantized activations and weights.

    Equal in exact arithmetic (each block's scales factor out of its integer
    sum); in float32 it differs by rounding only (tested). For passes that run
    a layer thousands of times (the ``output`` sensitivity), where the
    per-block loop of :func:`integer_linear` would dominate.
    """
    return F.linear(dequantized_activations(x.detach().to(torch.float32)), w_dequantized, bias)


def quantized_linear(x: torch.Tensor, w: TorchQuantizedWeight, bias: Optional[torch.Tensor] = None,
                     weight: Optional[torch.Tensor] = None) -> torch.Tensor:
    """The core's quantized linear; gradients flow straight through.

    The value is :func:`integer_linear`. The gradient is that of
    ``F.linear(x, W, bias)`` with W = ``weight`` when given (the float
    master weights in QAT: straight-through to them) or the dequantized
    weights otherwise.
    """
    exact = integer_linear(x, w, bias)
    if not (x.requires_grad or (weight is not None and weight.requires_grad)
            or (bias is not None and bias.requires_grad)):
        return exact
    W = weight if weight is not None else w.dequantized
    surrogate = F.linear(x, W, bias)
    return surrogate + (exact - surrogate).detach()


def quantize_linear_weight(weight: torch.Tensor, format: str, group: int = 0,
                           scales: Optional[np.ndarray] = None, zeros: Optional[np.ndarray] = None,
                           device: Optional[torch.device] = None) -> TorchQuantizedWeight:
    """Quantize a torch weight [N, K] with the numpy mirror (min-max unless scales are given)."""
    w = weight.detach().to("cpu", torch.float32).numpy()
    return TorchQuantizedWeight(quantize_weight(w, format, group, scales, zeros), device or weight.device)


# ---------------------------------------------------------------------------
# Models running the mirror


def layer_spec(spec, simulated: bool = False) -> tuple[str, int]:
    """(format, group) from "q4", ("q4", 64), {"format": "q4", "group": 64} or a QuantizedWeight.

    ``simulated=True`` also accepts the research widths q2/q3/q5/q6 (priced
    and run by the mirror, never written); elsewhere they are an error.
    """
    if isinstance(spec, QuantizedWeight):
        return spec.format, spec.group
    if isinstance(spec, str):
        fmt, group = spec, None
    elif isinstance(spec, dict):
        fmt, group = spec.get("format"), spec.get("group")
    else:
        fmt, group = spec
    if fmt in ("float32", "float"):
        fmt = "f32"
    if fmt not in FORMATS and not (simulated and fmt in SIMULATED_FORMATS):
        hint = (f"; {fmt} is a simulated research width: not servable by the core" if fmt in SIMULATED_FORMATS
                else "")
        raise ValueError(f"unknown weight format {fmt!r} (expected one of {', '.join(FORMATS)}{hint})")
    return fmt, DEFAULT_GROUP[fmt] if group is None else int(group)


class MirrorLinear(nn.Module):
    """An nn.Linear whose forward is the core's arithmetic for its weight format.

    ``qat=False``: the weights are quantized once (min-max or the given
    QuantizedWeight) and frozen. ``qat=True``: the float weights are the
    trainable master copy, re-quantized every forward with straight-through
    gradients (native QAT).
    """

    def __init__(self, linear: nn.Linear, format: str = "f32", group: int = 0,
                 qweight: Optional[QuantizedWeight] = None, qat: bool = False) -> None:
        super().__init__()
        self.in_features, self.out_features = linear.in_features, linear.out_features
        self.weight = linear.weight
        self.bias = linear.bias
        self.format, self.group, self.qat = format, group, qat
        self.qweight: Optional[TorchQuantizedWeight] = None
        if format != "f32" and not qat:
            q = qweight if qweight is not None else quantize_weight(
                linear.weight.detach().cpu().float().numpy(), format, group)
            self.qweight = TorchQuantizedWeight(q, linear.weight.device)

    def quantized_weight(self) -> Optional[QuantizedWeight]:
        """The codes this layer serves with (None for f32)."""
        if self.format == "f32":
            return None
        if self.qweight is not None:
            return self.qweight.q
        return quantize_weight(self.weight.detach().cpu().float().numpy(), self.format, self.group)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.format == "f32":
            return F.linear(x, self.weight, self.bias)
        if self.qat:
            tq = quantize_linear_weight(self.weight, self.format, self.group)
            return quantized_linear(x, tq, self.bias, weight=self.weight)
        return quantized_linear(x, self.qweight, self.bias)

    def extra_repr(self) -> str:
        g = f", group={self.group}" if self.format != "f32" else ""
        return f"{self.in_features}, {self.out_features}, format={self.format}{g}, qat={self.qat}"


def apply_quantization(model: nn.Module, layers: dict, qat: bool = False, simulated: bool = False) -> nn.Module:
    """Replace the named nn.Linear (or MirrorLinear) modules by MirrorLinear, in place.

    ``layers`` maps a module name to a layer spec (see :func:`layer_spec`;
    ``simulated`` admits the research widths). Unknown names are an error so
    a typo cannot silently keep a layer float.
    """
    modules = dict(model.named_modules())
    for name, spec in layers.items():
        mod = modules.get(name)
        if not isinstance(mod, (nn.Linear, MirrorLinear)):
            raise ValueError(f"{name!r} is not a linear layer of this model")
        fmt, group = layer_spec(spec, simulated)
        base = nn.Linear(mod.in_features, mod.out_features, bias=mod.bias is not None)
        base.weight, base.bias = mod.weight, mod.bias
        q = spec if isinstance(spec, QuantizedWeight) else None
        new = MirrorLinear(base, fmt, group, q, qat)
        parent_name, _, child = name.rpartition(".")
        setattr(modules[parent_name] if parent_name else model, child, new)
    return model


def linear_layers(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """(name, module) of every nn.Linear / MirrorLinear, in module order."""
    return [(n, m) for n, m in model.named_modules() if isinstance(m, (nn.Linear, MirrorLinear))]
