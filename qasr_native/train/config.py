"""`qasr train` configuration (JSON, or YAML when PyYAML is installed).

Relative paths in a config file are resolved against the current directory
(the documented commands run from the repository root). See
docs/training.md for every field; ``configs/`` holds the built-in model's.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any, Dict, Optional, Sequence

DEFAULTS: Dict[str, Any] = {
    "seed": 0,
    "threads": 1,
    "out_dir": "work/runs/run",
    # A preset name plus overrides, or every ConformerConfig field.
    "model": {"preset": "tiny"},
    "data": {
        "train": None,           # manifest (JSONL/TSV)
        "valid": None,           # manifest, optional
        "cache_dir": "work/cache/fbank",
        "valid_limit": None,     # decode only the first N validation clips
    },
    # Initialise from a checkpoint (.pt from qasr train) or a .qasr; the
    # tokenizer and CMVN come with it.
    "init": None,
    "steps": 1000,
    "batch": {"max_frames": 20000, "max_batch": 64},
    "optim": {"lr": 2e-3, "betas": [0.9, 0.98], "weight_decay": 1e-3, "warmup_steps": 300,
              "min_lr_ratio": 0.02, "clip_norm": 5.0},
    "specaugment": {"freq_masks": 2, "freq_width": 15, "time_masks": 4, "time_width": 0.05, "time_width_max": 40},
    # Dynamic chunk training (encoder frames of 40 ms with 4x subsampling):
    # with probability full_context_prob the batch sees full context, else a
    # chunk size drawn uniformly from [min_chunk, max_chunk] and a left
    # context (in chunks; -1 = unlimited) drawn from left_chunks.
    "chunk": {"full_context_prob": 0.4, "min_chunk": 2, "max_chunk": 32, "left_chunks": [-1, 1, 2, 4, 8]},
    # weights: float | q8 | q4 | q4a | mixed | {layer: spec}; activations: int8 | float.
    "quant": {"weights": "float", "activations": "float", "qat": True},
    "log_every": 25,
    "eval_every": 500,
    "ckpt_every": 250,
    # Validation decoding: full context, plus these (chunk_size, left_chunks) settings.
    "eval_streaming": [[16, 4]],
    "export": None,              # path of the .qasr written at the end (weights as trained)
}


def _merge(base: dict, over: dict, where: str = "") -> dict:
    out = copy.deepcopy(base)
    for k, v in over.items():
        if k not in base:
            raise ValueError(f"unknown config field {where}{k!r}")
        if isinstance(base[k], dict) and isinstance(v, dict) and k not in ("quant",) and k != "model":
            out[k] = _merge(base[k], v, f"{where}{k}.")
        else:
            out[k] = copy.deepcopy(v)
    return out


def load_config(path: Optional[str] = None, overrides: Sequence[str] = (),
                base: Optional[dict] = None) -> dict:
    """DEFAULTS, then the file, then ``key.sub=value`` overrides (values parsed as JSON when they parse)."""
    cfg = copy.deepcopy(DEFAULTS)
    if base:
        cfg = _merge(cfg, base)
    if path is not None:
        p = Path(path)
        if not p.exists():
            raise FileNotFoundError(f"config {path} not found")
        text = p.read_text()
        if p.suffix in (".yaml", ".yml"):
            try:
                import yaml
            except ImportError:
                raise RuntimeError("YAML configs need PyYAML (pip install pyyaml); JSON works without it") from None
            data = yaml.safe_load(text) or {}
        else:
            try:
                data = json.loads(text)
            except json.JSONDecodeError as e:
                raise ValueError(f"{path}: not valid JSON: {e}") from None
        if not isinstance(data, dict):
            raise ValueError(f"{path}: the config must be a mapping")
        cfg = _merge(cfg, data)
    for item in overrides:
        key, sep, value = item.partition("=")
        if not sep:
            raise ValueError(f"override must be KEY=VALUE, got {item!r}")
        try:
            val = json.loads(value)
        except json.JSONDecodeError:
            val = value
        node = cfg
        parts = key.split(".")
        for k in parts[:-1]:
            if not isinstance(node.get(k), dict):
                raise ValueError(f"unknown config field {key!r}")
            node = node[k]
        if parts[-1] not in node and node is not cfg.get("model") and node is not cfg.get("quant"):
            raise ValueError(f"unknown config field {key!r}")
        node[parts[-1]] = val
    if not cfg["data"].get("train"):
        raise ValueError("the config names no training manifest (data.train)")
    if int(cfg["steps"]) < 1:
        raise ValueError("steps must be >= 1")
    return cfg


def builtin_config_path(name: str) -> Path:
    """Path of a config shipped in qasr_native/train/configs/ (``builtin_float``, ``builtin_qat4``)."""
    p = Path(__file__).parent / "configs" / f"{name}.json"
    if not p.exists():
        have = ", ".join(sorted(q.stem for q in p.parent.glob("*.json")))
        raise FileNotFoundError(f"no shipped config {name!r} (have: {have})")
    return p
