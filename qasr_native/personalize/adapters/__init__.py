"""Model adapters: what personalization needs from each model family (see base.py)."""

from __future__ import annotations

from pathlib import Path

from .base import LayerInfo, LinearAdapter, ModelInputs


def load_adapter(model: str) -> LinearAdapter:
    """An adapter for MODEL: ``builtin`` / a Conformer ``.qasr`` / ``.pt``, or a
    Whisper directory (Hugging Face or CTranslate2) / ``builtin-whisper``."""
    p = Path(model)
    if model == "builtin-whisper" or p.is_dir():
        from .whisper import WhisperAdapter

        return WhisperAdapter.load(model)
    if p.suffix == ".qasr" and p.exists():
        from ...export.qasr_file import read_qasr

        family = read_qasr(p).header.get("model", {}).get("family")
        if family == "whisper":
            raise ValueError(f"{model}: personalizing a packed Whisper file is not supported; "
                             "give the Whisper model directory")
    from .conformer import ConformerAdapter

    return ConformerAdapter.load(model)


__all__ = ["LayerInfo", "LinearAdapter", "ModelInputs", "load_adapter"]
