"""SpecAugment (Park et al. 2019) on fbank batches: frequency and time masks.

Masks are filled with zeros *after* CMVN would be wrong here (the model
normalises inside), so they are filled with each utterance's mean feature
value, which the model's CMVN maps near zero.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass
class SpecAugmentConfig:
    freq_masks: int = 2
    freq_width: int = 15       # max bins per frequency mask
    time_masks: int = 4        # upper bound; scaled down for short utterances
    time_width: float = 0.05   # max width of a time mask as a fraction of the utterance
    time_width_max: int = 40   # and in frames

    @classmethod
    def from_dict(cls, d: dict) -> "SpecAugmentConfig":
        return cls(**d)


def spec_augment(feats: torch.Tensor, lengths: torch.Tensor, cfg: SpecAugmentConfig,
                 generator: torch.Generator) -> torch.Tensor:
    """Masked copy of ``feats`` [B, T, F]; frames past each length are left alone."""
    out = feats.clone()
    B, T, Fdim = feats.shape
    for b in range(B):
        n = int(lengths[b])
        if n <= 0:
            continue
        fill = out[b, :n].mean()
        for _ in range(cfg.freq_masks):
            w = int(torch.randint(0, cfg.freq_width + 1, (1,), generator=generator))
            if w == 0 or w >= Fdim:
                continue
            f0 = int(torch.randint(0, Fdim - w + 1, (1,), generator=generator))
            out[b, :n, f0:f0 + w] = fill
        max_w = min(cfg.time_width_max, int(cfg.time_width * n))
        if max_w < 1:
            continue
        for _ in range(cfg.time_masks):
            w = int(torch.randint(0, max_w + 1, (1,), generator=generator))
            if w == 0:
                continue
            t0 = int(torch.randint(0, n - w + 1, (1,), generator=generator))
            out[b, t0:t0 + w, :] = fill
    return out
