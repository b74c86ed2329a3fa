"""Is model B's WER really lower than model A's? A paired bootstrap over utterances.

Two models decoded on the same utterances give, per utterance, word errors
(e_A, e_B) against the same reference length n. The statistic is the
difference of the **mean over groups** (speakers) of each group's corpus
WER, the number the personalization experiments report. The bootstrap
resamples utterances with replacement *within each group* (so every group
keeps its size and its weight in the mean) and the *same* utterances for both
models (paired: the noise shared by both models cancels), then reads the
percentile interval of the difference and the share of resamples in which B
is better. This is the bootstrap test of Bisani & Ney (ICASSP 2004) with
groups, from their description.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, Sequence, Tuple

import numpy as np

#: one utterance: (word errors, reference words)
Counts = Sequence[Tuple[int, int]]
_CHUNK = 1 << 21  # resampled indices held at once


@dataclass(frozen=True)
class PairedComparison:
    delta: float  # mean-over-groups WER of B minus A, percent (negative: B is better)
    low: float  # percentile interval of delta
    high: float
    p_b_better: float  # share of resamples with delta < 0
    utterances: int
    words: int

    def to_dict(self) -> dict:
        return {k: (round(v, 4) if isinstance(v, float) else v) for k, v in self.__dict__.items()}


def _as_array(counts: Counts, what: str) -> np.ndarray:
    a = np.asarray(counts, dtype=np.int64).reshape(-1, 2)
    if a.size == 0:
        raise ValueError(f"{what}: no utterances")
    if (a < 0).any():
        raise ValueError(f"{what}: negative counts")
    return a


def paired_bootstrap(a: Dict[str, Counts], b: Dict[str, Counts], resamples: int = 10000,
                     confidence: float = 0.95, seed: int = 0) -> PairedComparison:
    """Paired, group-stratified bootstrap of WER(B) - WER(A) (mean over groups, percent).

    ``a`` and ``b`` map each group to its utterances' (errors, words), in the
    same utterance order for both models.
    """
    if set(a) != set(b):
        raise ValueError(f"the two models were scored on different groups: {sorted(set(a) ^ set(b))}")
    if not a:
        raise ValueError("no groups to compare")
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    if resamples < 1:
        raise ValueError(f"resamples must be >= 1, got {resamples}")
    rng = np.random.default_rng(seed)
    deltas = np.zeros(resamples)
    point = 0.0
    n_utt = n_words = 0
    for g in sorted(a):
        ea, eb = _as_array(a[g], f"group {g!r} (A)"), _as_array(b[g], f"group {g!r} (B)")
        if len(ea) != len(eb) or not np.array_equal(ea[:, 1], eb[:, 1]):
            raise ValueError(f"group {g!r}: the two models were not scored on the same utterances")
        words = ea[:, 1]
        if words.sum() == 0:
            raise ValueError(f"group {g!r}: no reference words")
        point += (eb[:, 0].sum() - ea[:, 0].sum()) / words.sum()
        diff = eb[:, 0] - ea[:, 0]
        step = max(1, _CHUNK // len(ea))  # bounded memory on large test sets
        for start in range(0, resamples, step):
            idx = rng.integers(0, len(ea), size=(min(step, resamples - start), len(ea)))
            # max(., 1): only a resample of nothing but empty references has no words
            deltas[start:start + len(idx)] += diff[idx].sum(axis=1) / np.maximum(words[idx].sum(axis=1), 1)
        n_utt += len(ea)
        n_words += int(words.sum())
    k = len(a)
    deltas *= 100.0 / k
    tail = (1.0 - confidence) / 2.0
    low, high = np.quantile(deltas, [tail, 1.0 - tail])
    return PairedComparison(float(100.0 * point / k), float(low), float(high), float((deltas < 0).mean()), n_utt, n_words)


__all__ = ["PairedComparison", "paired_bootstrap"]
