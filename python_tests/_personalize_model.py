"""A tiny random Conformer-CTC with a char tokenizer, for the personalization tests."""

import torch

from qasr_native.models.conformer import ConformerConfig, ConformerCTC
from qasr_native.personalize.adapters.conformer import ConformerAdapter

PIECES = ["<blank>", "|"] + [chr(97 + i) for i in range(26)] + ["'"]
TOKENIZER = {"kind": "char", "pieces": PIECES, "blank": 0}


def tiny_model(seed=0, n_layers=2):
    torch.manual_seed(seed)
    cfg = ConformerConfig(d_model=64, n_heads=2, n_layers=n_layers, ff_dim=96, conv_kernel=5, sub_channels=8,
                          vocab_size=len(PIECES))
    m = ConformerCTC(cfg).eval()
    with torch.no_grad():  # a few large weights, so 4 bits hurt some layers more than others
        for n, p in m.named_parameters():
            if n.endswith("weight") and p.dim() == 2:
                p.mul_(1 + 3 * torch.rand(1))
                p.view(-1)[torch.randint(p.numel(), (3,))] *= 8
    return m


def tiny_adapter(seed=0, n_layers=2):
    return ConformerAdapter(tiny_model(seed, n_layers), f"tiny-random-{seed}", TOKENIZER)
