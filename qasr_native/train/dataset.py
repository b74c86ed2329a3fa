"""Manifest -> fbank features (cached on disk) -> padded batches.

Features are the C++ core's Kaldi fbank (``qasr_native._core.fbank``), the
very function the runtime serves with, so training sees exactly the
features served. One manifest's features are cached as one ``.npz``
(concatenated frames + offsets) keyed by a hash of the manifest's paths,
transcripts, file sizes and mtimes, and of the fbank settings.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, List, Optional, Sequence

import numpy as np
import torch

from ..data.audio import load_audio
from ..data.manifest import ManifestEntry, read_manifest
from ..export.conformer import DEFAULT_FRONTEND

FBANK_VERSION = 1  # bump when the feature computation changes


def compute_fbank(samples: np.ndarray, frontend: Optional[dict] = None) -> np.ndarray:
    """[frames, bins] float32 fbank of 16 kHz float samples with the core's frontend."""
    from .. import _core

    fe = dict(DEFAULT_FRONTEND if frontend is None else frontend)
    if fe != DEFAULT_FRONTEND:
        # The runtime computes exactly these features; others would not serve.
        raise ValueError(f"only the runtime's frontend {DEFAULT_FRONTEND} is supported, got {fe}")
    x = np.ascontiguousarray(samples, dtype=np.float32)
    return np.asarray(_core.fbank(x, float(fe["sample_rate"]), int(fe["num_bins"])), dtype=np.float32)


def _cache_key(entries: Sequence[ManifestEntry], frontend: dict) -> str:
    h = hashlib.sha256()
    h.update(json.dumps({"v": FBANK_VERSION, "frontend": frontend}, sort_keys=True).encode())
    for e in entries:
        st = os.stat(e.path)
        h.update(f"{os.path.abspath(e.path)}\t{e.text}\t{st.st_size}\t{st.st_mtime_ns}\n".encode())
    return h.hexdigest()[:20]


@dataclass
class FeatureSet:
    """Features of every clip of a manifest, in manifest order."""

    entries: List[ManifestEntry]
    frames: np.ndarray    # [total_frames, bins] float32
    offsets: np.ndarray   # [n + 1] int64

    def __len__(self) -> int:
        return len(self.entries)

    def feats(self, i: int) -> np.ndarray:
        return self.frames[self.offsets[i]:self.offsets[i + 1]]

    def num_frames(self, i: int) -> int:
        return int(self.offsets[i + 1] - self.offsets[i])

    @property
    def texts(self) -> List[str]:
        return [e.text for e in self.entries]

    def stats(self) -> tuple[np.ndarray, np.ndarray]:
        """Per-bin mean and standard deviation over all frames (for CMVN)."""
        x = self.frames.astype(np.float64)
        return x.mean(axis=0), x.std(axis=0)


def load_features(manifest, cache_dir: Optional[os.PathLike] = None, frontend: Optional[dict] = None,
                  progress: bool = True, limit: Optional[int] = None) -> FeatureSet:
    """Features of ``manifest`` (computed once, then read from ``cache_dir``)."""
    entries = read_manifest(manifest)
    if limit is not None:
        entries = entries[:limit]
    if not entries:
        raise ValueError(f"{manifest}: no clips")
    fe = dict(DEFAULT_FRONTEND if frontend is None else frontend)
    path = None
    if cache_dir is not None:
        path = Path(cache_dir) / f"fbank-{_cache_key(entries, fe)}.npz"
        if path.exists():
            with np.load(path) as z:
                return FeatureSet(entries, z["frames"], z["offsets"])
    from tqdm import tqdm

    feats = []
    for e in tqdm(entries, desc=f"fbank {Path(str(manifest)).parent.name}", disable=not progress, unit="clip"):
        f = compute_fbank(load_audio(e.path, int(fe["sample_rate"])), fe)
        feats.append(f)
    offsets = np.zeros(len(feats) + 1, dtype=np.int64)
    offsets[1:] = np.cumsum([len(f) for f in feats])
    frames = np.concatenate(feats) if offsets[-1] else np.zeros((0, int(fe["num_bins"])), np.float32)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp.npz")
        np.savez(tmp, frames=frames, offsets=offsets)
        os.replace(tmp, path)
    return FeatureSet(entries, frames, offsets)


@dataclass
class Batch:
    feats: torch.Tensor        # [B, T, bins]
    lengths: torch.Tensor      # [B]
    targets: torch.Tensor      # [sum(target_lengths)]
    target_lengths: torch.Tensor
    indices: List[int]


def make_batch(fs: FeatureSet, indices: Sequence[int], targets: Sequence[Sequence[int]]) -> Batch:
    lens = [fs.num_frames(i) for i in indices]
    T = max(lens)
    x = np.zeros((len(indices), T, fs.frames.shape[1]), dtype=np.float32)
    for b, i in enumerate(indices):
        x[b, :lens[b]] = fs.feats(i)
    tl = [len(targets[i]) for i in indices]
    flat = [t for i in indices for t in targets[i]]
    return Batch(torch.from_numpy(x), torch.tensor(lens, dtype=torch.long), torch.tensor(flat, dtype=torch.long),
                 torch.tensor(tl, dtype=torch.long), list(indices))


def length_batches(lengths: Sequence[int], max_frames: int, max_batch: int, rng: Optional[np.random.Generator],
                   ) -> List[List[int]]:
    """Batches of similar length with at most ``max_frames`` padded frames (or ``max_batch`` clips).

    With ``rng``: lengths are sorted after a small random jitter and the
    batch order is shuffled, so batches differ between epochs.
    """
    lengths = np.asarray(lengths, dtype=np.float64)
    key = lengths * (1.0 + (rng.uniform(-0.1, 0.1, len(lengths)) if rng is not None else 0.0))
    order = np.argsort(key, kind="stable")
    batches, cur, cur_max = [], [], 0
    for i in order:
        n = int(lengths[i])
        new_max = max(cur_max, n)
        if cur and (new_max * (len(cur) + 1) > max_frames or len(cur) >= max_batch):
            batches.append(cur)
            cur, new_max = [], n
        cur.append(int(i))
        cur_max = new_max
    if cur:
        batches.append(cur)
    if rng is not None:
        rng.shuffle(batches)
    return batches


def iterate_batches(fs: FeatureSet, targets, batches: Sequence[Sequence[int]]) -> Iterator[Batch]:
    for idx in batches:
        yield make_batch(fs, idx, targets)
