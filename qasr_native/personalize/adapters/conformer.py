"""Adapter for the reference Conformer-CTC (qasr_native.models.conformer).

Sources: a `.qasr` file (quantized layers come back as their dequantized
float weights, so re-personalizing a packed file starts from what it
serves), a PyTorch checkpoint (``.pt``: a ``qasr train`` checkpoint, a ConformerCTC, or a dict with
``config`` and ``state_dict``/``model`` and optionally ``tokenizer``), or
``builtin`` (qasr_native/assets/builtin.qasr).

Features are the core's Kaldi fbank (the frontend written in the file);
the label-free target of a clip is the float model's own CTC greedy output.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Dict, List, Optional

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ...export.conformer import DEFAULT_FRONTEND, conformer_writer, load_conformer
from ...models.conformer import ConformerConfig, ConformerCTC, subsampled_lengths
from ...quant.torch_mirror import MirrorLinear
from .base import LayerInfo, LinearAdapter, ModelInputs

SAMPLE_RATE = 16000


def builtin_conformer_path() -> Path:
    return Path(__file__).resolve().parents[2] / "assets" / "builtin.qasr"


class ConformerInputs(ModelInputs):
    def __init__(self, feats: torch.Tensor, seconds: float, labels: torch.Tensor) -> None:
        self.feats = feats  # [1, T, n_mels]
        self.seconds = seconds
        self.labels = labels  # [L] greedy CTC output of the float model


def _role(name: str) -> str:
    for key, role in ((".attn.", "attention"), (".ff1.", "ffn"), (".ff2.", "ffn"), (".conv.", "conv_module")):
        if key in name:
            return role
    if name.startswith("subsample"):
        return "subsampling"
    if name == "head":
        return "output"
    return ""


def _dequantized_copy(model: ConformerCTC) -> ConformerCTC:
    """MirrorLinear layers (from a quantized file) back to nn.Linear with their dequantized weights."""
    for name, mod in list(model.named_modules()):
        if isinstance(mod, MirrorLinear):
            lin = nn.Linear(mod.in_features, mod.out_features, bias=mod.bias is not None)
            with torch.no_grad():
                w = mod.qweight.dequantized if mod.qweight is not None else mod.weight
                lin.weight.copy_(w)
                if mod.bias is not None:
                    lin.bias.copy_(mod.bias)
            parent, _, child = name.rpartition(".")
            setattr(model.get_submodule(parent) if parent else model, child, lin)
    return model


class ConformerAdapter(LinearAdapter):
    family = "conformer_ctc"

    def __init__(self, model: ConformerCTC, source: str, tokenizer: Optional[dict] = None,
                 frontend: Optional[dict] = None, source_quantized: bool = False) -> None:
        if not isinstance(model, ConformerCTC):
            raise TypeError(f"ConformerAdapter needs a ConformerCTC, got {type(model).__name__}")
        super().__init__(model, source)
        self.config: ConformerConfig = model.config
        self.tokenizer = tokenizer
        self.frontend = dict(frontend or DEFAULT_FRONTEND)
        self.source_quantized = source_quantized
        if self.frontend.get("kind") != "kaldi_fbank":
            raise ValueError(f"{source}: frontend {self.frontend.get('kind')!r} is not the Kaldi fbank")

    # -- loading --------------------------------------------------------------
    @classmethod
    def load(cls, source: str) -> "ConformerAdapter":
        if source == "builtin":
            path = builtin_conformer_path()
            if not path.exists():
                raise FileNotFoundError(f"the built-in model {path} is not shipped in this build")
            source = str(path)
        p = Path(source)
        if not p.exists():
            raise FileNotFoundError(f"{source}: no such model file")
        if p.suffix == ".qasr":
            model, header = load_conformer(p)
            quantized = any(isinstance(m, MirrorLinear) for m in model.modules())
            return cls(_dequantized_copy(model), str(p), header.get("tokenizer"), header.get("frontend"), quantized)
        obj = torch.load(p, map_location="cpu", weights_only=False)
        if isinstance(obj, dict) and "model_config" in obj:  # a `qasr train` checkpoint
            from ...train.trainer import load_checkpoint_model

            model, tok, _ = load_checkpoint_model(p)
            return cls(model, str(p), tok.to_dict())
        if isinstance(obj, ConformerCTC):
            return cls(obj, str(p))
        if isinstance(obj, dict) and "config" in obj:
            cfg = obj["config"]
            config = cfg if isinstance(cfg, ConformerConfig) else ConformerConfig.from_dict(dict(cfg))
            model = ConformerCTC(config)
            state = obj.get("state_dict", obj.get("model"))
            if state is None:
                raise ValueError(f"{source}: checkpoint has no 'state_dict' or 'model'")
            model.load_state_dict(state)
            tok = obj.get("tokenizer")
            if tok is not None and not isinstance(tok, dict):
                tok = tok.to_dict() if hasattr(tok, "to_dict") else None
            return cls(model, str(p), tok, obj.get("frontend"))
        raise ValueError(f"{source}: not a Conformer-CTC checkpoint (a ConformerCTC or a dict with 'config' "
                         "and 'state_dict')")

    # -- layers ---------------------------------------------------------------
    def layers(self) -> List[LayerInfo]:
        return [LayerInfo(l.name, l.tensor, l.shape, "linear", _role(l.name)) for l in super().layers()]

    # -- running --------------------------------------------------------------
    def features(self, audio: np.ndarray) -> np.ndarray:
        from ... import _core

        x = np.ascontiguousarray(audio, dtype=np.float32)
        return np.asarray(_core.fbank(x, float(self.frontend["sample_rate"]), int(self.frontend["num_bins"])),
                          dtype=np.float32)

    def prepare(self, audio: np.ndarray) -> ConformerInputs:
        audio = np.asarray(audio, dtype=np.float32)
        if audio.ndim != 1:
            raise ValueError(f"expected mono audio, got shape {audio.shape}")
        feats = self.features(audio) if audio.size else np.zeros((0, self.config.n_mels), np.float32)
        if subsampled_lengths(feats.shape[0], self.config) == 0:
            raise ValueError(f"clip of {audio.size / SAMPLE_RATE:.3f} s is shorter than one encoder frame")
        f = torch.from_numpy(feats)[None]
        with torch.no_grad():
            logits, _ = self.model(f)
        labels = ctc_greedy(logits[0], self.config.blank)
        return ConformerInputs(f, audio.size / SAMPLE_RATE, labels)

    def forward(self, inputs: ConformerInputs) -> torch.Tensor:
        logits, _ = self.model(inputs.feats)
        return logits

    def pseudo_label_loss(self, inputs: ConformerInputs) -> torch.Tensor:
        logits = self.forward(inputs)
        logp = F.log_softmax(logits, dim=-1).transpose(0, 1)  # [T, 1, V]
        T = logp.shape[0]
        return F.ctc_loss(logp, inputs.labels[None], torch.tensor([T]), torch.tensor([inputs.labels.numel()]),
                          blank=self.config.blank, reduction="sum", zero_infinity=True)

    def reusable_blocks(self, layer: LayerInfo) -> List[str]:
        m = re.match(r"blocks\.(\d+)\.", layer.name)
        if m:
            return ["subsample"] + [f"blocks.{i}" for i in range(int(m.group(1)))]
        if layer.name.startswith("head"):
            return ["subsample"] + [f"blocks.{i}" for i in range(len(self.model.blocks))]
        return []

    def decode_ids(self, ids: List[int]) -> str:
        if not self.tokenizer:
            return " ".join(str(i) for i in ids)
        pieces = self.tokenizer["pieces"]
        text = "".join(" " if pieces[i] == "|" else pieces[i].replace("\u2581", " ") for i in ids)
        return " ".join(text.split())

    def transcribe(self, audio: np.ndarray) -> str:
        inputs = self.prepare(audio)
        with torch.no_grad():
            logits = self.forward(inputs)
        return self.decode_ids(ctc_greedy(logits[0], self.config.blank).tolist())

    # -- files ----------------------------------------------------------------
    def writer(self, assignment: Dict[str, object], provenance: Optional[dict] = None,
               extra: Optional[dict] = None):
        names = {l.name for l in self.layers()}
        precision = {n: assignment.get(n, ("f32", 0)) for n in names}
        return conformer_writer(self.model, precision, tokenizer=self.tokenizer, frontend=self.frontend,
                                provenance=provenance, extra=extra)

    def describe(self) -> dict:
        d = super().describe()
        d["parameters"] = self.model.num_parameters()
        if self.source_quantized:
            d["source_quantized"] = True
        return d


def ctc_greedy(logits: torch.Tensor, blank: int = 0) -> torch.Tensor:
    """Best path: argmax per frame, repeats merged, blanks dropped ([T, V] -> [L])."""
    best = logits.argmax(dim=-1)
    if best.numel() == 0:
        return best
    keep = torch.ones_like(best, dtype=torch.bool)
    keep[1:] = best[1:] != best[:-1]
    return best[keep & (best != blank)]
