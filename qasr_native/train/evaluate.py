"""Greedy CTC transcription of feature sets and corpus WER/CER (jiwer)."""

from __future__ import annotations

from typing import List, Optional, Sequence

import torch

from .dataset import FeatureSet, length_batches, make_batch


def ctc_greedy_ids(logits: torch.Tensor, length: int, blank: int = 0) -> List[int]:
    """Argmax per frame, repeats collapsed, blanks dropped (one utterance [T, V])."""
    best = logits[:length].argmax(dim=-1)
    if best.numel() == 0:
        return []
    ids = torch.unique_consecutive(best)
    return [int(i) for i in ids if int(i) != blank]


@torch.no_grad()
def transcribe_features(model, fs: FeatureSet, tokenizer, chunk_size: Optional[int] = None,
                        left_chunks: int = -1, max_frames: int = 30000, progress: bool = False) -> List[str]:
    """Greedy transcripts of every clip of ``fs`` (manifest order)."""
    from tqdm import tqdm

    was_training = model.training
    model.eval()
    hyps: List[Optional[str]] = [None] * len(fs)
    dummy = [[]] * len(fs)
    batches = length_batches([fs.num_frames(i) for i in range(len(fs))], max_frames, 256, None)
    for idx in tqdm(batches, desc="decode", disable=not progress, leave=False):
        b = make_batch(fs, idx, dummy)
        logits, lens = model(b.feats, b.lengths, chunk_size, left_chunks)
        for j, i in enumerate(idx):
            hyps[i] = tokenizer.decode(ctc_greedy_ids(logits[j], int(lens[j]), tokenizer.blank))
    model.train(was_training)
    return hyps  # type: ignore[return-value]


def error_rates(refs: Sequence[str], hyps: Sequence[str]) -> dict:
    """Corpus WER and CER (jiwer) over clips with a non-empty reference."""
    import jiwer

    pairs = [(r, h) for r, h in zip(refs, hyps) if r.strip()]
    if not pairs:
        raise ValueError("no clip has a reference transcript")
    r, h = [p[0] for p in pairs], [p[1] for p in pairs]
    return {"wer": float(jiwer.wer(r, h)), "cer": float(jiwer.cer(r, h)), "clips": len(pairs)}
