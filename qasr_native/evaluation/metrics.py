"""WER and CER with jiwer on normalised text.

The normaliser is :func:`qasr_native.data.normalize_text`, the one the
training targets use: lowercase, accents folded, numbers, ordinals,
money, times and percentages written out as words ("3.5%" -> "three point
five percent"), every character other than a-z and the apostrophe turned
into a space, runs of spaces collapsed. Both the reference and the
hypothesis go through it. Rates are corpus-level (total edits / total
reference words or characters, spaces excluded from CER), in percent.
Utterances whose normalised reference is empty are not scored (counted).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import List, Sequence, Tuple

from ..data.text import normalize_text


def normalize_for_scoring(text: str) -> str:
    return normalize_text(text or "")


@dataclass
class ErrorRates:
    wer: float  # percent
    cer: float  # percent
    words: int  # reference words scored
    chars: int
    word_errors: int
    char_errors: int
    utterances: int
    unscored: int  # empty references

    def to_dict(self) -> dict:
        return {k: (round(v, 3) if isinstance(v, float) else v) for k, v in self.__dict__.items()}


def error_rates(references: Sequence[str], hypotheses: Sequence[str]) -> ErrorRates:
    """Corpus WER/CER (percent) of hypotheses against references, both normalised here."""
    import jiwer

    if len(references) != len(hypotheses):
        raise ValueError(f"{len(references)} references but {len(hypotheses)} hypotheses")
    refs: List[str] = []
    hyps: List[str] = []
    for r, h in zip(references, hypotheses):
        r, h = normalize_for_scoring(r), normalize_for_scoring(h)
        if r:
            refs.append(r)
            hyps.append(h)
    unscored = len(references) - len(refs)
    if not refs:
        raise ValueError("no utterance has a non-empty reference transcript to score")
    w = jiwer.process_words(refs, hyps)
    # CER over characters without spaces: word boundaries are already in the WER
    c = jiwer.process_characters([r.replace(" ", "") for r in refs], [h.replace(" ", "") for h in hyps])
    n_words = w.hits + w.substitutions + w.deletions
    n_chars = c.hits + c.substitutions + c.deletions
    we = w.substitutions + w.deletions + w.insertions
    ce = c.substitutions + c.deletions + c.insertions
    return ErrorRates(100.0 * we / n_words, 100.0 * ce / n_chars, n_words, n_chars, we, ce, len(refs), unscored)


def utterance_word_errors(references: Sequence[str], hypotheses: Sequence[str]) -> List[Tuple[int, int]]:
    """(word errors, reference words) per utterance with a non-empty normalised reference, in order
    (what :func:`qasr_native.evaluation.significance.paired_bootstrap` resamples); their sums give
    :func:`error_rates`' word counts."""
    import jiwer

    if len(references) != len(hypotheses):
        raise ValueError(f"{len(references)} references but {len(hypotheses)} hypotheses")
    out: List[Tuple[int, int]] = []
    for r, h in zip(references, hypotheses):
        r, h = normalize_for_scoring(r), normalize_for_scoring(h)
        if r:
            w = jiwer.process_words(r, h)
            out.append((w.substitutions + w.deletions + w.insertions, w.hits + w.substitutions + w.deletions))
    return out
