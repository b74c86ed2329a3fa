"""Synthetic multi-speaker speech datasets (espeak-ng), reproducible from a seed.

``synthesize_dataset`` speaks ``clips_per_speaker`` distinct sentences of
one sentence split (train / dev / test, see ``sentences``) with each given
speaker and writes:

- ``OUT/wav/<speaker>/<speaker>-<k>.wav``: 16 kHz mono PCM16, peak at
  -6 dBFS before the optional gain augmentation;
- ``OUT/manifest.jsonl``: one object per clip, in plan order, with
  ``path`` (relative to OUT), ``text`` (normalised transcript),
  ``speaker``, ``duration`` (s), ``prompt`` (the sentence as spoken, with
  punctuation), ``sentence_split``, the voice fields (``voice``,
  ``variant``, ``accent``, ``gender``, ``pitch``, ``rate``, ``word_gap``)
  and, with augmentation, ``augment`` (speed, gain_db, snr_db, noise);
- ``OUT/synth_config.json``: the settings, checked on every later run.

Everything random is decided up front from the seed (which sentence each
clip gets; per clip, a generator seeded with (seed, clip index) draws the
augmentation), and espeak-ng is deterministic, so the same settings give
identical bytes with any number of worker processes. A run is resumable:
clips whose WAV exists are skipped (WAVs are written atomically, so an
existing file is a finished one), and the manifest is rewritten at the end.
Running again in the same folder with different settings is refused.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Union

import numpy as np

from .audio import SAMPLE_RATE, audio_duration, resample, write_wav
from .augment import AugmentConfig, apply_augmentation, draw_params, peak_normalize
from .manifest import ManifestEntry, write_manifest
from .sentences import generate_sentences, sentences_from_file
from .speakers import Speaker
from .text import normalize_text

__all__ = ["ClipPlan", "SynthResult", "plan_dataset", "synthesize_clip", "synthesize_dataset"]

CONFIG_NAME = "synth_config.json"
FORMAT_VERSION = 1


@dataclass
class ClipPlan:
    """Everything needed to make one clip, decided before any audio exists."""

    index: int
    speaker: Speaker
    prompt: str
    relpath: str
    augment: Dict[str, Any] = field(default_factory=dict)

    @property
    def text(self) -> str:
        return normalize_text(self.prompt)


@dataclass
class SynthResult:
    manifest: Path
    clips: int
    made: int
    skipped: int
    seconds: float
    audio_seconds: float

    @property
    def clips_per_second(self) -> float:
        return self.made / self.seconds if self.seconds > 0 else float("nan")

    def summary(self) -> str:
        rate = f"{self.clips_per_second:.1f} clips/s" if self.made else "nothing to make"
        return (f"{self.clips} clips ({self.made} made, {self.skipped} already there), "
                f"{self.audio_seconds / 3600:.2f} h of audio, {self.seconds:.1f} s, {rate}; manifest {self.manifest}")


def _sentences(total: int, split: str, seed: int, text_file: Optional[Union[str, Path]]) -> List[str]:
    if text_file is None:
        return generate_sentences(total, split, seed)
    pool = sentences_from_file(text_file, split)
    if not pool:
        raise ValueError(f"{text_file}: no usable {split} sentences")
    rng = np.random.default_rng([seed, 1])
    order = rng.permutation(len(pool))
    return [pool[order[k % len(pool)]] for k in range(total)]


def plan_dataset(speakers: Sequence[Speaker], clips_per_speaker: int, *, text_split: str = "train", seed: int = 0,
                 augment: Optional[AugmentConfig] = None,
                 text_file: Optional[Union[str, Path]] = None) -> List[ClipPlan]:
    """The clip list: speaker-major, ``clips_per_speaker`` each, every clip
    a different sentence (from a text file: sentences repeat only when the
    file has fewer than needed)."""
    if clips_per_speaker < 1:
        raise ValueError(f"clips per speaker must be >= 1, got {clips_per_speaker}")
    if not speakers:
        raise ValueError("no speakers given")
    ids = [s.id for s in speakers]
    if len(set(ids)) != len(ids):
        raise ValueError("speaker list has duplicates")
    total = len(speakers) * clips_per_speaker
    prompts = _sentences(total, text_split, seed, text_file)
    plans = []
    for si, spk in enumerate(speakers):
        for k in range(clips_per_speaker):
            index = si * clips_per_speaker + k
            params: Dict[str, Any] = {}
            if augment is not None and augment.active:
                params = draw_params(augment, np.random.default_rng([seed, index, 2]))
            plans.append(ClipPlan(index, spk, prompts[index], f"wav/{spk.id}/{spk.id}-{k:04d}.wav", params))
    return plans


def synthesize_clip(plan: ClipPlan) -> np.ndarray:
    """The 16 kHz float waveform of one planned clip."""
    from .espeak import synthesize

    x, rate = synthesize(plan.prompt, plan.speaker)
    x = resample(x, rate, SAMPLE_RATE) if rate != SAMPLE_RATE else x
    x = peak_normalize(x, 0.5)
    if plan.augment:
        x = apply_augmentation(x, plan.augment)
    return x


def _make(job) -> tuple:
    plan, out_dir = job
    path = Path(out_dir) / plan.relpath
    if path.is_file():
        return plan.index, audio_duration(path), False
    try:
        x = synthesize_clip(plan)
    except Exception as e:  # name the clip; the pool re-raises in the parent
        raise RuntimeError(f"clip {plan.relpath} ({plan.speaker.id}, {plan.prompt!r}): {e}") from None
    write_wav(path, x, SAMPLE_RATE)
    return plan.index, x.shape[0] / SAMPLE_RATE, True


def _file_sha256(path: Path) -> str:
    import hashlib

    return hashlib.sha256(path.read_bytes()).hexdigest()


def _config(plans_args: Dict[str, Any]) -> Dict[str, Any]:
    return {"format_version": FORMAT_VERSION, **plans_args}


def _check_config(out_dir: Path, config: Dict[str, Any]) -> None:
    path = out_dir / CONFIG_NAME
    if path.is_file():
        try:
            old = json.loads(path.read_text())
        except json.JSONDecodeError:
            raise ValueError(f"{path}: unreadable; remove it or choose another output folder") from None
        if old != config:
            diff = sorted(k for k in set(old) | set(config) if old.get(k) != config.get(k))
            raise ValueError(f"{out_dir} was made with different settings ({', '.join(diff)} differ); "
                             "choose another output folder or delete it")
    else:
        out_dir.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(config, indent=1) + "\n")
        os.replace(tmp, path)


def synthesize_dataset(out_dir: Union[str, Path], speakers: Sequence[Speaker], clips_per_speaker: int, *,
                       text_split: str = "train", seed: int = 0, augment: Optional[AugmentConfig] = None,
                       text_file: Optional[Union[str, Path]] = None, jobs: int = 0,
                       manifest_name: str = "manifest.jsonl", progress: bool = False) -> SynthResult:
    """Make (or finish) a synthetic dataset in ``out_dir``; see the module
    docstring. ``jobs`` worker processes (0: one per CPU core)."""
    from .espeak import check_speaker, espeak_version

    out_dir = Path(out_dir)
    for s in speakers:
        check_speaker(s)
    plans = plan_dataset(speakers, clips_per_speaker, text_split=text_split, seed=seed, augment=augment,
                         text_file=text_file)
    config = _config({
        "speakers": [s.id for s in speakers], "clips_per_speaker": clips_per_speaker, "text_split": text_split,
        "seed": seed, "augment": augment.to_dict() if augment is not None and augment.active else None,
        "text_file_sha256": None if text_file is None else _file_sha256(Path(text_file)),
        "sample_rate": SAMPLE_RATE, "espeak": espeak_version()})
    _check_config(out_dir, config)

    jobs = jobs or (os.cpu_count() or 1)
    durations: Dict[int, float] = {}
    made = skipped = 0
    t0 = time.perf_counter()
    last = t0
    work = [(p, str(out_dir)) for p in plans]

    def tick(done: int) -> None:
        nonlocal last
        now = time.perf_counter()
        if progress and (now - last > 2.0 or done == len(plans)):
            last = now
            rate = made / (now - t0) if now > t0 else 0.0
            print(f"\r  {done}/{len(plans)} clips ({made} made, {rate:.1f} clips/s)", end="", file=sys.stderr,
                  flush=True)

    if jobs == 1 or len(plans) == 1:
        results = map(_make, work)
        pool = None
    else:
        ctx = multiprocessing.get_context("fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn")
        pool = ctx.Pool(min(jobs, len(plans)))
        results = pool.imap_unordered(_make, work, chunksize=4)
    try:
        for i, (index, dur, was_made) in enumerate(results, 1):
            durations[index] = dur
            made += was_made
            skipped += not was_made
            tick(i)
    except BaseException:
        if pool is not None:
            pool.terminate()
        raise
    finally:
        if pool is not None:
            pool.close()
            pool.join()
    seconds = time.perf_counter() - t0
    if progress:
        print(file=sys.stderr)

    entries = []
    for p in plans:
        extra: Dict[str, Any] = {"prompt": p.prompt, "sentence_split": text_split, **p.speaker.describe()}
        if p.augment:
            extra["augment"] = {k: v for k, v in p.augment.items() if k != "noise_seed"}
        entries.append(ManifestEntry(str(out_dir / p.relpath), p.text, p.speaker.id, durations[p.index], extra))
    manifest = write_manifest(out_dir / manifest_name, entries)
    return SynthResult(manifest, len(plans), made, skipped, seconds, float(sum(durations.values())))
