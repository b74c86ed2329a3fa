"""Word and character error rates of models on a manifest (docs/personalization.md, "Evaluation")."""

from .metrics import ErrorRates, error_rates, normalize_for_scoring
from .runner import Transcriber, evaluate, make_transcriber

__all__ = ["ErrorRates", "error_rates", "normalize_for_scoring", "Transcriber", "evaluate", "make_transcriber"]
