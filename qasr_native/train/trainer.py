"""CTC training of the Conformer with dynamic chunks, SpecAugment and native QAT.

One step: a length-bucketed batch of cached fbank features, SpecAugment, a
random attention chunk (or full context) so the model learns to stream, CTC
loss per target token, AdamW with warm-up and cosine decay, gradient
clipping. Quantized settings train through the core's arithmetic
(:mod:`.quant`). Every random draw of a step comes from a generator seeded
by (seed, step) and each epoch's batches from (seed, epoch), so a resumed
run continues exactly as an uninterrupted one would.

Outputs in ``out_dir``: ``ckpt_last.pt`` (everything needed to resume),
``ckpt_best.pt`` (lowest validation WER, then CER), ``log.jsonl`` and, when
``export`` is set, the `.qasr` file.
"""

from __future__ import annotations

import json
import math
import os
import time
from pathlib import Path
from typing import Callable, Optional

import numpy as np
import torch
import torch.nn.functional as F

from ..export.conformer import export_conformer, load_conformer
from ..models.conformer import ConformerConfig, ConformerCTC
from .dataset import FeatureSet, length_batches, load_features, make_batch
from .evaluate import error_rates, transcribe_features
from .quant import apply_setting, export_specs, servable
from .specaugment import SpecAugmentConfig, spec_augment
from .tokenizer import CharTokenizer

CKPT_VERSION = 1


def build_model(model_cfg: dict, vocab_size: int) -> ConformerCTC:
    d = dict(model_cfg)
    preset = d.pop("preset", None)
    if preset is not None:
        base = ConformerConfig.preset(preset, vocab_size).to_dict()
        base.update(d)
        base["vocab_size"] = vocab_size
        return ConformerCTC(ConformerConfig.from_dict(base))
    d["vocab_size"] = vocab_size
    return ConformerCTC(ConformerConfig.from_dict(d))


def load_checkpoint_model(path) -> tuple[ConformerCTC, CharTokenizer, dict]:
    """A float model (master weights) and tokenizer from a qasr train checkpoint or a .qasr file."""
    path = str(path)
    if path.endswith(".qasr"):
        model, header = load_conformer(path)
        plain = ConformerCTC(model.config)
        plain.load_state_dict(model.state_dict())  # dequantized weights as float masters
        return plain, CharTokenizer.from_dict(header["tokenizer"]), {}
    ck = torch.load(path, map_location="cpu", weights_only=False)
    if ck.get("version") != CKPT_VERSION:
        raise ValueError(f"{path}: not a qasr train checkpoint (version {ck.get('version')!r})")
    model = ConformerCTC(ConformerConfig.from_dict(ck["model_config"]))
    model.load_state_dict(ck["state_dict"])
    return model, CharTokenizer.from_dict(ck["tokenizer"]), ck


def lr_factor(step: int, total: int, warmup: int, min_ratio: float) -> float:
    if warmup > 0 and step < warmup:
        return (step + 1) / warmup
    if total <= warmup:
        return 1.0
    p = min(1.0, (step - warmup) / max(1, total - warmup))
    return min_ratio + (1.0 - min_ratio) * 0.5 * (1.0 + math.cos(math.pi * p))


def draw_chunk(cfg: dict, gen: torch.Generator) -> tuple[Optional[int], int]:
    """(chunk_size or None for full context, left_chunks) for one batch."""
    c = cfg["chunk"]
    if c is None or float(torch.rand((), generator=gen)) < float(c["full_context_prob"]):
        return None, -1
    size = int(torch.randint(int(c["min_chunk"]), int(c["max_chunk"]) + 1, (1,), generator=gen))
    lefts = list(c["left_chunks"])
    left = int(lefts[int(torch.randint(0, len(lefts), (1,), generator=gen))])
    return size, left


class Trainer:
    def __init__(self, cfg: dict, progress: bool = True, log: Callable[[str], None] = print) -> None:
        self.cfg = cfg
        self.progress = progress
        self.say = log
        self.out_dir = Path(cfg["out_dir"])
        self.seed = int(cfg["seed"])
        torch.set_num_threads(int(cfg["threads"]))
        torch.manual_seed(self.seed)  # model initialisation
        data = cfg["data"]
        self.train_fs = load_features(data["train"], data.get("cache_dir"), progress=progress)
        self.valid_fs: Optional[FeatureSet] = None
        if data.get("valid"):
            self.valid_fs = load_features(data["valid"], data.get("cache_dir"), progress=progress,
                                          limit=data.get("valid_limit"))
        init_ck: dict = {}
        if cfg.get("init"):
            self.model, self.tokenizer, init_ck = load_checkpoint_model(cfg["init"])
        else:
            self.tokenizer = CharTokenizer.train(self.train_fs.texts)
            self.model = build_model(cfg["model"], len(self.tokenizer))
            mean, std = self.train_fs.stats()
            self.model.set_cmvn(mean, std)
        self.targets = [self.tokenizer.encode(t) for t in self.train_fs.texts]
        if self.valid_fs is not None:
            for t in self.valid_fs.texts:
                self.tokenizer.encode(t)  # fails early on characters training never saw
        q = cfg["quant"]
        self.quant = {"weights": q.get("weights", "float"), "activations": q.get("activations", "float"),
                      "qat": bool(q.get("qat", True))}
        apply_setting(self.model, self.quant["weights"], self.quant["activations"], qat=self.quant["qat"])
        o = cfg["optim"]
        decay, no_decay = [], []
        for n, p in self.model.named_parameters():
            (decay if p.dim() >= 2 else no_decay).append(p)
        self.opt = torch.optim.AdamW([{"params": decay, "weight_decay": float(o["weight_decay"])},
                                      {"params": no_decay, "weight_decay": 0.0}],
                                     lr=float(o["lr"]), betas=tuple(o["betas"]))
        self.specaug = SpecAugmentConfig.from_dict(cfg["specaugment"]) if cfg.get("specaugment") else None
        self.step = 0
        self.epoch = 0
        self.batch_in_epoch = 0
        self.wall_s = 0.0
        self.best: Optional[dict] = None
        self.history: list = []
        self.init_info = {"init": cfg.get("init"), "init_step": init_ck.get("step")} if cfg.get("init") else None

    # -- checkpoints --------------------------------------------------------
    def _ckpt(self) -> dict:
        return {
            "version": CKPT_VERSION,
            "model_config": self.model.config.to_dict(),
            "state_dict": {k: v.detach().clone() for k, v in self.model.state_dict().items()},
            "tokenizer": self.tokenizer.to_dict(),
            "optimizer": self.opt.state_dict(),
            "step": self.step, "epoch": self.epoch, "batch_in_epoch": self.batch_in_epoch,
            "wall_s": self.wall_s, "best": self.best, "config": self.cfg, "quant": self.quant,
        }

    def save(self, name: str) -> Path:
        self.out_dir.mkdir(parents=True, exist_ok=True)
        path = self.out_dir / name
        tmp = path.with_suffix(".tmp")
        torch.save(self._ckpt(), tmp)
        os.replace(tmp, path)
        return path

    def resume(self) -> bool:
        """Continue from ``out_dir/ckpt_last.pt`` if it exists."""
        path = self.out_dir / "ckpt_last.pt"
        if not path.exists():
            return False
        ck = torch.load(path, map_location="cpu", weights_only=False)
        if ck.get("version") != CKPT_VERSION:
            raise ValueError(f"{path}: not a qasr train checkpoint")
        if ck["tokenizer"] != self.tokenizer.to_dict():
            raise ValueError(f"{path}: the checkpoint's tokenizer differs from this run's")
        if ck["quant"] != self.quant:
            raise ValueError(f"{path}: checkpoint quantization {ck['quant']} differs from the config's {self.quant}")
        self.model.load_state_dict(ck["state_dict"])
        self.opt.load_state_dict(ck["optimizer"])
        self.step, self.epoch, self.batch_in_epoch = ck["step"], ck["epoch"], ck["batch_in_epoch"]
        self.wall_s, self.best = ck["wall_s"], ck["best"]
        return True

    def _log(self, rec: dict) -> None:
        self.out_dir.mkdir(parents=True, exist_ok=True)
        self.history.append(rec)
        with open(self.out_dir / "log.jsonl", "a") as f:
            f.write(json.dumps(rec) + "\n")

    # -- evaluation ---------------------------------------------------------
    def evaluate(self) -> Optional[dict]:
        if self.valid_fs is None:
            return None
        refs = self.valid_fs.texts
        res = {}
        hyps = transcribe_features(self.model, self.valid_fs, self.tokenizer)
        res["full"] = error_rates(refs, hyps)
        res["example"] = {"ref": refs[0], "hyp": hyps[0]}
        for chunk, left in self.cfg.get("eval_streaming") or []:
            h = transcribe_features(self.model, self.valid_fs, self.tokenizer, int(chunk), int(left))
            res[f"chunk{chunk}_left{left}"] = error_rates(refs, h)
        return res

    # -- training -----------------------------------------------------------
    def train_step(self, batch) -> float:
        gen = torch.Generator().manual_seed(self.seed * 1_000_003 + self.step)
        feats = batch.feats
        if self.specaug is not None:
            feats = spec_augment(feats, batch.lengths, self.specaug, gen)
        chunk, left = draw_chunk(self.cfg, gen)
        logits, out_lens = self.model(feats, batch.lengths, chunk, left)
        logp = F.log_softmax(logits, dim=-1).transpose(0, 1)  # [T, B, V]
        loss = F.ctc_loss(logp, batch.targets, out_lens, batch.target_lengths, blank=self.tokenizer.blank,
                          reduction="sum", zero_infinity=True) / batch.target_lengths.sum().clamp(min=1)
        o = self.cfg["optim"]
        for g in self.opt.param_groups:
            g["lr"] = float(o["lr"]) * lr_factor(self.step, int(self.cfg["steps"]), int(o["warmup_steps"]),
                                                 float(o["min_lr_ratio"]))
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        if o.get("clip_norm"):
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), float(o["clip_norm"]))
        self.opt.step()
        self.step += 1
        return float(loss.detach())

    def _epoch_batches(self, epoch: int) -> list:
        rng = np.random.default_rng([self.seed, epoch])
        b = self.cfg["batch"]
        lens = [self.train_fs.num_frames(i) for i in range(len(self.train_fs))]
        return length_batches(lens, int(b["max_frames"]), int(b["max_batch"]), rng)

    def fit(self, max_steps: Optional[int] = None) -> dict:
        """Train to ``steps`` (or stop after ``max_steps`` more steps: for tests and time limits)."""
        from tqdm import tqdm

        cfg = self.cfg
        total = int(cfg["steps"])
        stop_at = total if max_steps is None else min(total, self.step + max_steps)
        self.model.train()
        bar = tqdm(total=total, initial=self.step, desc="train", disable=not self.progress, unit="step")
        t0 = time.time()
        recent: list = []
        try:
            while self.step < stop_at:
                batches = self._epoch_batches(self.epoch)
                while self.batch_in_epoch < len(batches) and self.step < stop_at:
                    batch = make_batch(self.train_fs, batches[self.batch_in_epoch], self.targets)
                    loss = self.train_step(batch)
                    self.batch_in_epoch += 1
                    recent.append(loss)
                    bar.update(1)
                    if self.step % int(cfg["log_every"]) == 0 or self.step == stop_at:
                        avg = sum(recent) / len(recent)
                        recent = []
                        bar.set_postfix(loss=f"{avg:.3f}", lr=f"{self.opt.param_groups[0]['lr']:.2e}")
                        self._log({"step": self.step, "epoch": self.epoch, "loss": avg,
                                   "lr": self.opt.param_groups[0]["lr"],
                                   "wall_s": round(self.wall_s + time.time() - t0, 1)})
                    if self.step % int(cfg["eval_every"]) == 0 or self.step == total:
                        self._eval_and_log(t0)
                    if self.step % int(cfg["ckpt_every"]) == 0:
                        self.wall_s += time.time() - t0
                        t0 = time.time()
                        self.save("ckpt_last.pt")
                if self.batch_in_epoch >= len(batches):
                    self.epoch += 1
                    self.batch_in_epoch = 0
        finally:
            bar.close()
            self.wall_s += time.time() - t0
            self.save("ckpt_last.pt")
        result = {"step": self.step, "epoch": self.epoch, "wall_s": round(self.wall_s, 1), "best": self.best}
        if self.step >= total and cfg.get("export"):
            result["export"] = self.export(cfg["export"])
        return result

    def _eval_and_log(self, t0: float) -> None:
        res = self.evaluate()
        if res is None:
            return
        rec = {"step": self.step, "eval": res, "wall_s": round(self.wall_s + time.time() - t0, 1)}
        self._log(rec)
        self.say(f"step {self.step}: valid WER {res['full']['wer']:.3f} CER {res['full']['cer']:.3f}"
                 + "".join(f", {k} WER {v['wer']:.3f}" for k, v in res.items() if k.startswith("chunk")))
        key = (res["full"]["wer"], res["full"]["cer"])
        if self.best is None or key < (self.best["wer"], self.best["cer"]):
            self.best = {"step": self.step, "wer": key[0], "cer": key[1]}
            self.save("ckpt_best.pt")

    def export(self, path) -> dict:
        """Write the model as trained (weights in the formats it trained with) to ``path``."""
        prov = {
            "trained_by": "qasr train",
            "seed": self.seed,
            "steps": self.step,
            "wall_s": round(self.wall_s, 1),
            "train_manifest": str(self.cfg["data"]["train"]),
            "train_clips": len(self.train_fs),
            "quant": self.quant,
            "servable_as_trained": servable(self.quant["weights"], self.quant["activations"]),
        }
        if self.init_info:
            prov.update(self.init_info)
        if self.best:
            prov["best_valid"] = self.best
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        size = export_conformer(self.model, path, precision=export_specs(self.model),
                                tokenizer=self.tokenizer.to_dict(), provenance=prov)
        self.say(f"exported {path} ({size} bytes)")
        return {"path": str(path), "bytes": size}
