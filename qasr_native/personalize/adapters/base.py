"""What personalization needs from a model, and the part every nn.Linear model shares.

An adapter exposes the quantizable layers (name, weight shape, the op that
uses the weight), turns one audio clip into model inputs, runs the model on
them (so hooks can watch each layer), gives a label-free loss for Fisher
statistics (the clip's own greedy output as the target), decodes for
evaluation, swaps layers to the core's arithmetic (the torch mirror) and
builds the `.qasr` writer for a per-layer assignment.

Algorithms (sensitivity, allocation, calibration) only talk to this
interface, so a Wav2Vec2 / Wav2Vec2-Conformer CTC adapter is a new subclass
of :class:`LinearAdapter` with its own ``prepare`` / ``forward`` /
``pseudo_label_loss`` / ``transcribe`` / ``writer``; nothing else changes.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Any, Dict, Iterator, List, Optional, Tuple

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ...export.qasr_file import QasrWriter
from ...quant.mirror import QuantizedWeight
from ...quant.torch_mirror import MirrorLinear, TorchQuantizedWeight, apply_quantization, layer_spec

#: A layer's precision: ("f32", 0), ("q8", 0), ("q4", 32) ... or calibrated codes.
Spec = Any


@dataclass(frozen=True)
class LayerInfo:
    """One quantizable weight.

    ``name`` is the module name (what assignments and reports use),
    ``tensor`` the weight's name in the `.qasr` file, ``shape`` (N, K) in
    the nn.Linear layout, ``op`` the operation that uses the weight
    ("linear"; "conv" / "embedding" once the core quantizes those), and
    ``role`` a free-form tag for reports (e.g. "ffn", "attention").
    """

    name: str
    tensor: str
    shape: Tuple[int, int]
    op: str = "linear"
    role: str = ""

    @property
    def numel(self) -> int:
        return int(self.shape[0]) * int(self.shape[1])


class ModelInputs:
    """What ``prepare`` returns for one clip; adapters subclass it freely.

    ``valid_rows(layer)`` says how many leading rows (time steps) of that
    layer's input/output belong to the clip, so statistics skip padding
    (Whisper pads every clip to 30 s); None = all rows.
    """

    seconds: float = 0.0

    def valid_rows(self, layer: LayerInfo) -> Optional[int]:
        return None


class LinearAdapter:
    """The shared part of adapters for models whose quantizable layers are nn.Linear."""

    family: str = "?"

    def __init__(self, model: nn.Module, source: str) -> None:
        self.model = model.eval()
        self.source = source
        self._modules = dict(model.named_modules())

    # -- layers ---------------------------------------------------------------
    def layers(self) -> List[LayerInfo]:
        """Every quantizable layer, in module order (subclasses may filter or tag)."""
        return [LayerInfo(n, f"{n}.weight", tuple(m.weight.shape), "linear", "")
                for n, m in self.model.named_modules() if isinstance(m, (nn.Linear, MirrorLinear))]

    def module(self, name: str) -> nn.Module:
        m = self._modules.get(name)
        if m is None:
            raise ValueError(f"{name!r} is not a layer of this model")
        return m

    def weight(self, name: str) -> np.ndarray:
        """The float weight [N, K] as float32 numpy (the source of every quantization)."""
        return self.module(name).weight.detach().cpu().to(torch.float32).numpy()

    def float_size(self) -> int:
        """Bytes of the model as float32 `.qasr` (the reference for ratio budgets)."""
        return self.sizer().file_size({l.name: ("f32", 0) for l in self.layers()})

    # -- running --------------------------------------------------------------
    def prepare(self, audio: np.ndarray) -> ModelInputs:  # pragma: no cover - abstract
        """Model inputs for one 16 kHz clip; ValueError when the clip cannot be used."""
        raise NotImplementedError

    def forward(self, inputs: ModelInputs) -> torch.Tensor:  # pragma: no cover - abstract
        """Run the model (whatever layers are swapped in) and return its output logits."""
        raise NotImplementedError

    def pseudo_label_loss(self, inputs: ModelInputs) -> torch.Tensor:  # pragma: no cover - abstract
        """A differentiable loss of the model's output against this clip's own
        greedy (float-model) output: the label-free target for Fisher statistics."""
        raise NotImplementedError

    def transcribe(self, audio: np.ndarray) -> str:  # pragma: no cover - abstract
        raise NotImplementedError

    def output_log_probs(self, inputs: ModelInputs) -> torch.Tensor:
        """Log-probabilities [P, V] of the model's output at the positions that
        ``pseudo_label_loss`` scores (what the ``output`` sensitivity compares)."""
        logits = self.forward(inputs)
        return torch.log_softmax(logits.reshape(-1, logits.shape[-1]).to(torch.float32), dim=-1)

    def reusable_blocks(self, layer: LayerInfo) -> List[str]:
        """Modules whose float outputs cannot depend on ``layer`` (they run before
        it on the model's input only), so a pass that changes only ``layer`` may
        replay their recorded outputs instead of recomputing them. [] is always
        correct (recompute everything); adapters list blocks to save time."""
        return []

    def tied_tables(self, name: str) -> List[str]:
        """Embedding modules that the served file looks rows up from layer ``name``'s
        (quantized) matrix, e.g. Whisper's token embeddings tied to ``proj_out``.
        Quantizing ``name`` then changes their output too, and everything that
        measures a quantized ``name`` swaps them with :meth:`tied_lookup`."""
        return []

    @contextlib.contextmanager
    def tied_lookup(self, name: str, weight: torch.Tensor) -> Iterator[None]:
        """Within the block, the tables tied to ``name`` look rows up from ``weight``
        (the dequantized matrix the file holds) instead of the float table."""
        mods = [self.module(t) for t in self.tied_tables(name)]
        for m in mods:
            m.forward = (lambda w: (lambda ids: F.embedding(ids, w)))(weight)
        try:
            yield
        finally:
            for m in mods:
                del m.forward  # the class's forward is visible again

    @contextlib.contextmanager
    def quantized(self, assignment: Dict[str, Spec]) -> Iterator[nn.Module]:
        """Temporarily run the named layers with the core's arithmetic.

        ``assignment`` maps layer names to specs (("q4", 32), QuantizedWeight,
        ...); f32 layers keep their float module, and tables tied to a
        quantized layer look rows up from its dequantized codes, as served.
        The original modules are restored on exit, so the float model is never
        modified.
        """
        saved = {}
        todo = {}
        for name, spec in assignment.items():
            fmt = spec.format if isinstance(spec, QuantizedWeight) else layer_spec(spec, simulated=True)[0]
            if fmt == "f32":
                continue
            saved[name] = self.module(name)
            todo[name] = spec
        try:
            apply_quantization(self.model, todo, simulated=True)  # research widths run in the mirror
            with contextlib.ExitStack() as tied:
                for name in todo:
                    if self.tied_tables(name):
                        tied.enter_context(self.tied_lookup(name, self.model.get_submodule(name).qweight.dequantized))
                yield self.model
        finally:
            for name, mod in saved.items():
                parent, _, child = name.rpartition(".")
                setattr(self._modules[parent] if parent else self.model, child, mod)

    # -- files ----------------------------------------------------------------
    def writer(self, assignment: Dict[str, Spec], provenance: Optional[dict] = None,
               extra: Optional[dict] = None) -> QasrWriter:  # pragma: no cover
        """A QasrWriter holding the model with these per-layer precisions
        (``extra``: more members of the header's quantization section)."""
        raise NotImplementedError

    def sizer(self, provenance: Optional[dict] = None, extra: Optional[dict] = None) -> "AssignmentSizer":
        """Exact file sizes for any assignment (built from the float writer: one source of truth)."""
        from ..size import AssignmentSizer

        float_assignment = {l.name: ("f32", 0) for l in self.layers()}
        w = self.writer(float_assignment, provenance, extra)
        return AssignmentSizer(w.header, w.specs, {l.name: l.tensor for l in self.layers()})

    def describe(self) -> dict:
        """Provenance fields for the source model."""
        return {"source_model": self.source, "family": self.family}


def quantized_weight_for(adapter: LinearAdapter, name: str, spec: Spec) -> Optional[QuantizedWeight]:
    """Min-max codes for a spec (None for f32), via the numpy mirror."""
    from ...quant.mirror import quantize_weight

    if isinstance(spec, QuantizedWeight):
        return spec
    fmt, group = layer_spec(spec, simulated=True)
    if fmt == "f32":
        return None
    return quantize_weight(adapter.weight(name), fmt, group)


__all__ = ["LayerInfo", "ModelInputs", "LinearAdapter", "Spec", "quantized_weight_for", "TorchQuantizedWeight"]
