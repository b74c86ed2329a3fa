"""Writes a small deterministic Conformer-CTC .qasr (random weights, mixed
q4/q8/f32 layers) for cross-build checks: scripts/test_aarch64.sh runs the
x86 and the aarch64 qasr-transcribe on it and compares their outputs.

    python scripts/make_test_model.py OUT.qasr
"""

import sys

import torch

from qasr_native.export.conformer import export_conformer
from qasr_native.models.conformer import ConformerCTC, ConformerConfig

PIECES = ["<blank>", " "] + list("etaoinshrdlucmwfgypbvk")


def main(out: str) -> None:
    torch.manual_seed(1234)
    model = ConformerCTC(ConformerConfig(d_model=96, n_heads=4, n_layers=3, ff_dim=256, sub_channels=32,
                                         vocab_size=len(PIECES))).eval()
    formats = ["q4", "q8", "q4a", "f32"]
    precision = {n: formats[i % 4] for i, (n, _) in enumerate(model.quantizable_layers())}
    export_conformer(model, out, precision, tokenizer={"kind": "char", "pieces": PIECES, "blank": 0})


if __name__ == "__main__":
    main(sys.argv[1])
