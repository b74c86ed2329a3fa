"""Transcribers for every kind of model, and the evaluation loop.

- Conformer checkpoints (``.pt``, ``builtin``) run in PyTorch (float);
- ``.qasr`` files run in the C++ core through :class:`qasr_native.api.Recognizer`
  (``backend="core"``, the default), or in PyTorch with the core's arithmetic
  mirrored (``backend="torch"``: ``load_conformer``, MirrorLinear layers);
- Whisper directories (Hugging Face / CTranslate2, ``builtin-whisper``) run in
  transformers, greedy, no timestamps.
"""

from __future__ import annotations

import functools
import time
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence

import numpy as np

from ..data.manifest import ManifestEntry, read_manifest
from .metrics import error_rates, utterance_word_errors
from .significance import paired_bootstrap

SAMPLE_RATE = 16000


class Transcriber:
    """``name`` and ``__call__(audio_16k) -> text``."""

    def __init__(self, name: str, fn: Callable[[np.ndarray], str], kind: str) -> None:
        self.name, self.fn, self.kind = name, fn, kind

    def __call__(self, audio: np.ndarray) -> str:
        return self.fn(audio)


def _qasr_family(path: Path) -> Optional[str]:
    from ..export.qasr_file import read_qasr

    return read_qasr(path, verify=False).header.get("model", {}).get("family")


def make_transcriber(model: str, backend: str = "auto", threads: int = 1) -> Transcriber:
    """A transcriber for MODEL (see the module docstring); ``backend``: auto, core or torch."""
    if backend not in ("auto", "core", "torch"):
        raise ValueError(f"unknown backend {backend!r} (auto, core, torch)")
    p = Path(model)
    if model == "builtin-whisper" or p.is_dir():
        from ..models.whisper import load_whisper, transcribe_whisper

        bundle = load_whisper(model)
        return Transcriber(model, lambda a: transcribe_whisper(bundle, a).text, "whisper/transformers")
    if p.suffix == ".qasr":
        if not p.exists():
            raise FileNotFoundError(f"{model}: no such model file")
        family = _qasr_family(p)
        if backend in ("auto", "core"):
            try:
                from ..api import Recognizer

                rec = Recognizer(str(p), threads=threads)
            except (ImportError, ValueError) as e:
                if backend == "core":
                    raise RuntimeError(f"{model}: the C++ core cannot run this file here ({e}); "
                                       "use --backend torch") from None
            else:
                return Transcriber(model, lambda a: rec.transcribe(a, sample_rate=SAMPLE_RATE).text, "core")
        if family == "whisper":
            return _whisper_mirror(p)
        if family != "conformer_ctc":
            raise ValueError(f"{model}: the torch backend runs Conformer-CTC and Whisper files (this is {family!r})")
    # Conformer in PyTorch: checkpoints in float, .qasr files with the mirrored integer arithmetic
    import torch

    from ..personalize.adapters.conformer import ConformerAdapter, ctc_greedy

    if p.suffix == ".qasr":
        from ..export.conformer import load_conformer

        m, header = load_conformer(p)
        adapter = ConformerAdapter(m, str(p), header.get("tokenizer"), header.get("frontend"))
        kind = "torch-mirror"
    else:
        adapter = ConformerAdapter.load(model)
        kind = "torch-float"

    def run(audio: np.ndarray) -> str:
        feats = adapter.features(audio)
        if feats.shape[0] == 0:
            return ""
        with torch.no_grad():
            logits, _ = adapter.model(torch.from_numpy(feats)[None])
        return adapter.decode_ids(ctc_greedy(logits[0], adapter.config.blank).tolist())

    return Transcriber(model, run, kind)


@functools.lru_cache(maxsize=4)
def _whisper_processor(source: str):
    from ..models.whisper import load_whisper

    return load_whisper(source).processor


def _whisper_mirror(path: Path) -> Transcriber:
    """A Whisper `.qasr` in transformers with the core's arithmetic mirrored; the
    processor (tokenizer, feature extractor) comes from the source model the file names."""
    from ..export.qasr_file import read_qasr
    from ..export.whisper import mirror_bundle
    from ..models.whisper import transcribe_whisper

    source = read_qasr(path, verify=False).header.get("provenance", {}).get("source_model")
    if not source:
        raise ValueError(f"{path}: no provenance.source_model to take the Whisper processor from")
    bundle = mirror_bundle(path, _whisper_processor(source))
    return Transcriber(str(path), lambda a: transcribe_whisper(bundle, a[: 30 * SAMPLE_RATE]).text, "torch-mirror")


def evaluate(transcribers: Sequence[Transcriber], manifest, limit: Optional[int] = None,
             progress: bool = True) -> dict:
    """Every model on every utterance; WER/CER per model, overall and per speaker; with several
    models, each one's WER difference to the first with a paired bootstrap interval
    (:mod:`qasr_native.evaluation.significance`; a mean over speakers when the manifest names them)."""
    from ..audio import load_audio

    entries: List[ManifestEntry] = read_manifest(manifest)
    if limit is not None:
        entries = entries[:limit]
    if not entries:
        raise ValueError(f"{manifest}: no utterances")
    hyps: Dict[str, List[str]] = {t.name: [] for t in transcribers}
    seconds: Dict[str, float] = {t.name: 0.0 for t in transcribers}
    audio_s = 0.0
    it = entries
    if progress:
        from tqdm import tqdm

        it = tqdm(entries, desc="eval", unit="utt", leave=False)
    for e in it:
        audio = np.asarray(load_audio(e.path, target_rate=SAMPLE_RATE), dtype=np.float32)
        audio_s += audio.size / SAMPLE_RATE
        for t in transcribers:
            t0 = time.perf_counter()
            hyps[t.name].append(t(audio))
            seconds[t.name] += time.perf_counter() - t0
    refs = [e.text for e in entries]
    result = {"manifest": str(manifest), "utterances": len(entries), "audio_seconds": round(audio_s, 2),
              "models": {}, "per_utterance": []}
    speakers = sorted({e.speaker for e in entries if e.speaker})
    for t in transcribers:
        er = error_rates(refs, hyps[t.name])
        row = {"kind": t.kind, **er.to_dict(), "rtf": round(seconds[t.name] / max(audio_s, 1e-9), 4)}
        if len(speakers) > 1:
            row["per_speaker"] = {}
            for s in speakers:
                idx = [i for i, e in enumerate(entries) if e.speaker == s]
                try:
                    row["per_speaker"][s] = error_rates([refs[i] for i in idx],
                                                        [hyps[t.name][i] for i in idx]).to_dict()
                except ValueError:
                    pass
        result["models"][t.name] = row
    if len(transcribers) > 1:
        # each model against the first one (e.g. float vs quantized), paired over the same utterances;
        # groups are the speakers, so a mean over speakers is what the interval is about
        groups = {}
        for i, e in enumerate(entries):
            groups.setdefault(e.speaker or "", []).append(i)

        def counts(name):
            return {g: utterance_word_errors([refs[i] for i in idx], [hyps[name][i] for i in idx])
                    for g, idx in groups.items()}

        base = transcribers[0].name
        ref_counts = {g: c for g, c in counts(base).items() if c}  # groups with only empty references drop out
        result["paired"] = {"against": base, "models": {}}
        for t in transcribers[1:]:
            other = {g: c for g, c in counts(t.name).items() if g in ref_counts}
            result["paired"]["models"][t.name] = paired_bootstrap(ref_counts, other).to_dict()
    for i, e in enumerate(entries):
        result["per_utterance"].append({"path": e.path, "speaker": e.speaker, "reference": e.text,
                                        **{t.name: hyps[t.name][i] for t in transcribers}})
    return result
