"""Adapter for Whisper (transformers' WhisperForConditionalGeneration).

Loaded from a local Hugging Face or CTranslate2 directory (or
``builtin-whisper``) by :func:`qasr_native.models.whisper.load_whisper`.
Quantizable layers: every nn.Linear of the encoder and the decoder and the
output projection (tied to the token embeddings); the two input
convolutions, norms, biases and positional tables stay float (as the
`.qasr` writer stores them).

Per clip, ``prepare`` computes the log-mel features and the float model's
own greedy transcript; the measured forward pass is the encoder on the
features plus the decoder teacher-forced on that transcript, so decoder
layers are measured on the tokens the model would produce. Whisper pads
every clip to 30 s: encoder statistics use only the frames that cover the
clip. The label-free loss is the cross-entropy of the decoder against that
same transcript (plus end-of-text).

Files are written by :func:`qasr_native.export.whisper.whisper_writer`.
The output projection is tied to the token embeddings: the served file
looks embeddings up from the projection's (dequantized) codes, so wherever
``proj_out`` is quantized (``quantized``, the ``distortion`` and ``output``
sensitivities) the lookup is swapped too (``tied_tables``); the Fisher
diagonal already sums both uses, the tied parameter's gradient.
"""

from __future__ import annotations

import math
import re
from typing import Dict, List, Optional

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .base import LayerInfo, LinearAdapter, ModelInputs

SAMPLE_RATE = 16000
MAX_SECONDS = 30.0
_HOP = 160
#: the token embedding table; the `.qasr` file has none of its own and looks rows up from proj_out's codes
EMBED_TOKENS = "model.decoder.embed_tokens"


def _role(name: str) -> str:
    if name == "proj_out":
        return "output"
    stack = "enc" if ".encoder." in name else "dec"
    if ".encoder_attn." in name:
        return f"{stack}.cross_attention"
    if ".self_attn." in name:
        return f"{stack}.attention"
    return f"{stack}.ffn"


class WhisperInputs(ModelInputs):
    def __init__(self, feats: torch.Tensor, seconds: float, prompt: List[int], tokens: List[int], eot: int) -> None:
        self.feats = feats  # [1, n_mels, 3000]
        self.seconds = seconds
        self.prompt, self.tokens, self.eot = prompt, tokens, eot
        self.decoder_ids = torch.tensor([prompt + tokens], dtype=torch.long)
        # encoder frames are 2 mel frames (stride-2 conv) = 20 ms each
        self.enc_rows = max(1, math.ceil(seconds * SAMPLE_RATE / _HOP / 2))

    def valid_rows(self, layer: LayerInfo) -> Optional[int]:
        return self.enc_rows if ".encoder." in layer.name else None


class WhisperAdapter(LinearAdapter):
    family = "whisper"

    def __init__(self, bundle) -> None:
        super().__init__(bundle.model, str(bundle.source))
        self.bundle = bundle

    @classmethod
    def load(cls, source: str) -> "WhisperAdapter":
        from ...models.whisper import load_whisper

        return cls(load_whisper(source, attn_implementation="eager"))

    def layers(self) -> List[LayerInfo]:
        out = []
        for n, m in self.model.named_modules():
            if isinstance(m, nn.Linear) or type(m).__name__ == "MirrorLinear":
                out.append(LayerInfo(n, f"{n}.weight", tuple(m.weight.shape), "linear", _role(n)))
        return out

    # -- running --------------------------------------------------------------
    def _features(self, audio: np.ndarray) -> torch.Tensor:
        fe = self.bundle.feature_extractor
        f = fe(audio, sampling_rate=SAMPLE_RATE, return_tensors="np").input_features[0]
        return torch.from_numpy(np.ascontiguousarray(f, dtype=np.float32))[None]

    def prepare(self, audio: np.ndarray) -> WhisperInputs:
        from ...models.whisper import transcribe_whisper

        audio = np.asarray(audio, dtype=np.float32)
        if audio.ndim != 1:
            raise ValueError(f"expected mono audio, got shape {audio.shape}")
        if audio.size < _HOP * 2:
            raise ValueError(f"clip of {audio.size / SAMPLE_RATE:.3f} s is shorter than one encoder frame")
        audio = audio[: int(MAX_SECONDS * SAMPLE_RATE)]  # one Whisper window; longer clips are cut
        feats = self._features(audio)
        out = transcribe_whisper(self.bundle, audio, features=feats[0].numpy())
        eot = int(self.bundle.generation_config.eos_token_id)
        return WhisperInputs(feats, audio.size / SAMPLE_RATE, list(out.prompt), list(out.tokens), eot)

    def forward(self, inputs: WhisperInputs) -> torch.Tensor:
        # no KV cache: one teacher-forced pass, and replayed blocks (reusable_blocks) leave no stale cache state
        return self.model(input_features=inputs.feats, decoder_input_ids=inputs.decoder_ids, use_cache=False).logits

    def _scored_logits(self, inputs: WhisperInputs) -> torch.Tensor:
        """Logits [len(tokens) + 1, V] at the positions that predict the transcript and end-of-text."""
        return self.forward(inputs)[0, len(inputs.prompt) - 1:]  # position i predicts token i + 1

    def pseudo_label_loss(self, inputs: WhisperInputs) -> torch.Tensor:
        target = torch.tensor(inputs.tokens + [inputs.eot], dtype=torch.long)
        return F.cross_entropy(self._scored_logits(inputs), target, reduction="sum")

    def output_log_probs(self, inputs: WhisperInputs) -> torch.Tensor:
        return torch.log_softmax(self._scored_logits(inputs).to(torch.float32), dim=-1)

    def tied_tables(self, name: str) -> List[str]:
        return [EMBED_TOKENS] if name == "proj_out" else []

    def reusable_blocks(self, layer: LayerInfo) -> List[str]:
        if layer.name == "proj_out":  # the decoder reads the tied embeddings: only the encoder is reusable
            return ["model.encoder"]
        m = re.match(r"model\.(encoder|decoder)\.layers\.(\d+)\.", layer.name)
        if not m:
            return []
        before = [f"model.{m.group(1)}.layers.{i}" for i in range(int(m.group(2)))]
        if m.group(1) == "encoder":
            return ["model.encoder.conv1", "model.encoder.conv2"] + before
        return ["model.encoder"] + before

    def transcribe(self, audio: np.ndarray) -> str:
        from ...models.whisper import transcribe_whisper

        return transcribe_whisper(self.bundle, np.asarray(audio, dtype=np.float32)[: int(MAX_SECONDS * SAMPLE_RATE)]).text

    # -- files ----------------------------------------------------------------
    def writer(self, assignment: Dict[str, object], provenance: Optional[dict] = None,
               extra: Optional[dict] = None):
        try:
            from ...export.whisper import whisper_writer
        except ImportError:
            raise RuntimeError("packing Whisper needs qasr_native.export.whisper, which this build lacks") from None
        names = [l.name for l in self.layers()]
        precision = {n: assignment.get(n, ("f32", 0)) for n in names}
        prov = dict(provenance or {})
        prov.pop("source_model", None)  # the writer records the bundle's source itself
        return whisper_writer(self.bundle, precision, provenance=prov, extra=extra)

    def describe(self) -> dict:
        d = super().describe()
        d["parameters"] = sum(p.numel() for p in self.model.parameters())
        return d
