"""Training the Conformer-CTC: features, tokenizer, SpecAugment, dynamic chunks, native QAT.

Needs torch, tqdm and jiwer (the ``train`` extra). See docs/training.md.
"""

from .config import load_config
from .tokenizer import CharTokenizer

__all__ = ["CharTokenizer", "load_config"]
