"""Label-free layer sensitivity from the user's clips, with streaming statistics.

One forward pass per clip with a hook on every quantizable layer; each hook
folds that layer's output (and, when asked, its input) into fixed-size
running statistics and lets go of the tensors. Memory is the model, one
clip's activations, and O(layers x candidates) numbers (plus K x K input
moments per layer for cosine calibration and a weight-shaped Fisher diagonal
per layer for ``fisher``) -- never all layers' activations over all clips.

Methods
- ``median`` (the seed's score, faithful): median |output| over every element
  of the layer's output on all clips. Computed from a 8192-bin histogram of
  log10|y| over [1e-12, 1e6] (bin ratio 1.0051, so the value is within 0.26%
  of the exact median; zeros are counted exactly), not by keeping the outputs.
- ``distortion``: for each layer and candidate width, the layer alone
  quantized (min-max scales, the core's integer arithmetic incl. int8
  activation blocks) on the float model's input to that layer: relative MSE
  sum|y - yq|^2 / sum|y|^2 and 1 - cos(y, yq) over all clips' outputs. A
  layer whose matrix is also a lookup table in the served file
  (``adapter.tied_tables``: Whisper's output projection and token
  embeddings) is measured with both uses quantized, on the input it then
  gets (one more forward per candidate; earlier blocks replayed).
- ``fisher``: 1/2 sum F (w - wq)^2 per layer and width, F the diagonal Fisher
  of the weights, sum over clips of (dL_c/dW)^2 where L_c is the loss of the
  model's output against clip c's OWN greedy transcript (a per-clip
  pseudo-label; not another clip's posterior, and not its own soft posterior,
  whose gradient is zero).
- ``output``: end to end. For each layer and candidate width, the layer alone
  quantized (min-max, the core's arithmetic) and the KL divergence
  KL(p_float || p_quant) of the model's output distribution, summed over the
  positions the pseudo-label loss scores and over clips. It sees what a
  layer-local error does downstream (e.g. a decoder falling into a loop when
  the end-of-text probability drops), which ``distortion`` cannot. One
  forward per (layer, width, clip); blocks that run before the layer are
  replayed from the float pass (``adapter.reusable_blocks``); tied lookup
  tables are quantized with their layer.
"""

from __future__ import annotations

import contextlib
import math
import time
import warnings
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch

from ..quant.mirror import dequantize, quantize_weight
from ..quant.torch_mirror import TorchQuantizedWeight, float_equivalent_linear, integer_linear
from .adapters.base import LayerInfo, LinearAdapter
from .widths import spec_key

METHODS = ("median", "distortion", "fisher", "output")
_HIST_BINS, _HIST_LO, _HIST_HI = 8192, -12.0, 6.0


@dataclass
class LayerStats:
    """Running statistics of one layer over the clips seen so far."""

    hist: Optional[torch.Tensor] = None  # log10|y| histogram (median)
    zeros: int = 0
    count: int = 0
    yy: float = 0.0
    err: Dict[str, float] = field(default_factory=dict)  # sum |y - yq|^2 per candidate
    dot: Dict[str, float] = field(default_factory=dict)  # sum y . yq
    qq: Dict[str, float] = field(default_factory=dict)  # sum |yq|^2
    hessian: Optional[torch.Tensor] = None  # sum x^T x (float64) for cosine calibration
    rows: int = 0


@dataclass
class Sensitivity:
    """Per-layer results; ``scores[layer][key]`` per candidate (0 for float)."""

    method: str
    layers: List[str]
    median: Dict[str, float] = field(default_factory=dict)
    rel_mse: Dict[str, Dict[str, float]] = field(default_factory=dict)
    one_minus_cos: Dict[str, Dict[str, float]] = field(default_factory=dict)
    fisher: Dict[str, Dict[str, float]] = field(default_factory=dict)
    output_kl: Dict[str, Dict[str, float]] = field(default_factory=dict)
    clips: int = 0
    seconds: float = 0.0
    skipped: List[str] = field(default_factory=list)
    timings: Dict[str, float] = field(default_factory=dict)
    hessians: Dict[str, np.ndarray] = field(default_factory=dict, repr=False)  # for calibration
    hessian_rows: Dict[str, int] = field(default_factory=dict)  # input rows summed into each
    fisher_diag: Dict[str, np.ndarray] = field(default_factory=dict, repr=False)

    def scores(self, candidates: Sequence[Tuple[str, int]]) -> Dict[str, Dict[str, float]]:
        """Estimated damage per (layer, candidate) for the knapsack (lower is better)."""
        if self.method == "median":
            raise ValueError("the median score ranks layers but has no per-width cost; use it with "
                             "--allocation myqasr, or --sensitivity distortion|fisher|output for the knapsack")
        table = {"fisher": self.fisher, "output": self.output_kl}.get(self.method, self.rel_mse)
        out = {}
        for name in self.layers:
            out[name] = {spec_key(c): (0.0 if c[0] == "f32" else float(table[name][spec_key(c)])) for c in candidates}
        return out

    def ranking_score(self, candidates: Sequence[Tuple[str, int]]) -> Dict[str, float]:
        """One number per layer for round-robin ordering: the median (seed) or
        the damage at the narrowest candidate width."""
        if self.method == "median":
            return dict(self.median)
        lowest = spec_key(candidates[-1])
        return {n: v[lowest] for n, v in self.scores(candidates).items()}

    def to_json(self) -> dict:
        return {"method": self.method, "clips": self.clips, "seconds": round(self.seconds, 3),
                "skipped": self.skipped, "median": self.median, "rel_mse": self.rel_mse,
                "one_minus_cos": self.one_minus_cos, "fisher": self.fisher, "output_kl": self.output_kl,
                "timings_s": {k: round(v, 3) for k, v in self.timings.items()}}


def _hist_median(hist: torch.Tensor, zeros: int, count: int) -> float:
    """Lower median (torch.median's convention) of |y| from the histogram and the zero count."""
    if count == 0:
        return float("nan")
    k = (count - 1) // 2  # 0-based rank of the lower median
    if k < zeros:
        return 0.0
    cum = torch.cumsum(hist.to(torch.float64), 0)
    b = int(torch.searchsorted(cum, torch.tensor([float(k - zeros + 1)], dtype=torch.float64)).item())
    b = min(b, _HIST_BINS - 1)
    width = (_HIST_HI - _HIST_LO) / _HIST_BINS
    return float(10.0 ** (_HIST_LO + (b + 0.5) * width))


def _rows(t: torch.Tensor, n: Optional[int]) -> torch.Tensor:
    """Leading ``n`` time rows of a [..., T, C] tensor, flattened to [M, C]."""
    if n is not None and t.dim() >= 2:
        t = t[..., :n, :]
    return t.reshape(-1, t.shape[-1])


class _Collector:
    def __init__(self, adapter: LinearAdapter, layers: Sequence[LayerInfo], candidates, median: bool,
                 distortion: bool, hessian: bool) -> None:
        self.adapter = adapter
        self.layers = list(layers)
        self.cands = [c for c in candidates if c[0] != "f32"]
        self.want_median, self.want_dist, self.want_hess = median, distortion, hessian
        self.stats = {l.name: LayerStats() for l in self.layers}
        self.qweights: Dict[Tuple[str, str], TorchQuantizedWeight] = {}
        self.inputs = None
        self.active = False  # hooks count only the measured forward, not prepare()'s own decoding
        # layers whose matrix is also a lookup table in the served file: their distortion is measured
        # with both uses quantized (tied_pass), against the float output kept from the main pass
        self.tied = [l for l in self.layers if distortion and adapter.tied_tables(l.name)]
        self.float_out: Dict[str, torch.Tensor] = {}
        self.tied_dequantized: Dict[Tuple[str, str], torch.Tensor] = {}  # lookup table per (layer, candidate)

    def _qw(self, layer: LayerInfo, cand) -> TorchQuantizedWeight:
        key = (layer.name, spec_key(cand))
        tq = self.qweights.get(key)
        if tq is None:
            tq = TorchQuantizedWeight(quantize_weight(self.adapter.weight(layer.name), cand[0], cand[1]))
            tq.dequantized = None  # integer_linear does not need it; halves the cache
            self.qweights[key] = tq
        return tq

    def hook(self, layer: LayerInfo):
        st = self.stats[layer.name]
        module = self.adapter.module(layer.name)

        def fn(mod, args, out):
            if not self.active:
                return
            n = self.inputs.valid_rows(layer) if self.inputs is not None else None
            y = _rows(out.detach().to(torch.float32), n)
            if self.want_median:
                a = y.abs().flatten()
                nz = a > 0
                st.zeros += int((~nz).sum())
                st.count += a.numel()
                h = torch.histc(torch.log10(a[nz]).clamp(_HIST_LO, _HIST_HI - 1e-9), _HIST_BINS, _HIST_LO, _HIST_HI)
                st.hist = h if st.hist is None else st.hist + h
            if self.want_dist or self.want_hess:
                x = _rows(args[0].detach().to(torch.float32), n)
                if self.want_hess:
                    xd = x.to(torch.float64)
                    h = xd.T @ xd
                    st.hessian = h if st.hessian is None else st.hessian + h
                    st.rows += x.shape[0]
                if self.want_dist:
                    yd = y.to(torch.float64)
                    st.yy += float((yd * yd).sum())
                    if layer in self.tied:
                        self.float_out[layer.name] = yd
                        return
                    for c in self.cands:
                        yq = integer_linear(x, self._qw(layer, c), module.bias).to(torch.float64)
                        k = spec_key(c)
                        st.err[k] = st.err.get(k, 0.0) + float(((yd - yq) ** 2).sum())
                        st.dot[k] = st.dot.get(k, 0.0) + float((yd * yq).sum())
                        st.qq[k] = st.qq.get(k, 0.0) + float((yq * yq).sum())
        return module.register_forward_hook(fn)

    def tied_pass(self, recorded: Dict[str, object]) -> None:
        """Distortion of each tied layer with its lookup quantized too: one more forward per
        candidate, the blocks before the layer replayed from the main pass (``recorded``)."""
        for layer in self.tied:
            st = self.stats[layer.name]
            module = self.adapter.module(layer.name)
            yd = self.float_out.pop(layer.name)
            n = self.inputs.valid_rows(layer)
            for c in self.cands:
                qw = self._qw(layer, c)
                k = spec_key(c)
                table = self.tied_dequantized.get((layer.name, k))
                if table is None:
                    table = self.tied_dequantized[(layer.name, k)] = torch.from_numpy(dequantize(qw.q))
                seen = []
                h = module.register_forward_hook(lambda mod, args, out: seen.append(args[0].detach()))
                try:
                    with _replaying(self.adapter, recorded, self.adapter.reusable_blocks(layer)), \
                            self.adapter.tied_lookup(layer.name, table):
                        self.adapter.forward(self.inputs)
                finally:
                    h.remove()
                x = _rows(seen[-1].to(torch.float32), n)
                yq = integer_linear(x, qw, module.bias).to(torch.float64)
                st.err[k] = st.err.get(k, 0.0) + float(((yd - yq) ** 2).sum())
                st.dot[k] = st.dot.get(k, 0.0) + float((yd * yq).sum())
                st.qq[k] = st.qq.get(k, 0.0) + float((yq * yq).sum())


def _prepared(adapter: LinearAdapter, clips, skipped: List[str], progress: Optional[str]):
    """(clip, inputs) for usable clips; too-short clips are skipped with a warning."""
    it = clips
    if progress:
        from tqdm import tqdm

        it = tqdm(clips, total=len(clips), desc=progress, unit="clip", leave=False)
    for clip in it:
        try:
            inputs = adapter.prepare(clip.audio)
        except ValueError as e:
            skipped.append(f"{clip.path}: {e}")
            warnings.warn(f"skipping calibration clip {clip.path}: {e}")
            continue
        yield clip, inputs


def measure(adapter: LinearAdapter, clips, method: str = "distortion",
            candidates: Sequence[Tuple[str, int]] = (("f32", 0), ("q8", 0), ("q4", 32)),
            layers: Optional[Sequence[LayerInfo]] = None, hessians: bool = False, fisher_diag: bool = False,
            progress: Optional[str] = "sensitivity") -> Sensitivity:
    """Sensitivity of every layer on ``clips`` (an iterable of objects with ``.path`` / ``.audio``).

    ``hessians`` also accumulates each layer's input moments (cosine
    calibration), ``fisher_diag`` keeps the weight Fisher (fisher calibration).
    Raises ValueError when no clip is usable.
    """
    if method not in METHODS:
        raise ValueError(f"unknown sensitivity method {method!r} (expected {', '.join(METHODS)})")
    layers = list(layers if layers is not None else adapter.layers())
    res = Sensitivity(method, [l.name for l in layers])
    need_fisher = method == "fisher" or fisher_diag
    col = _Collector(adapter, layers, candidates, median=(method == "median"),
                     distortion=(method == "distortion"), hessian=hessians)
    t0 = time.perf_counter()
    seen_seconds = 0.0
    if col.want_median or col.want_dist or col.want_hess:
        handles = [col.hook(l) for l in layers]
        recorded: Dict[str, object] = {}
        for b in sorted({b for l in col.tied for b in adapter.reusable_blocks(l)}):
            handles.append(adapter.module(b).register_forward_hook(
                (lambda name: (lambda mod, args, out: recorded.__setitem__(name, out) if col.active else None))(b)))
        try:
            with torch.no_grad():
                for clip, inputs in _prepared(adapter, clips, res.skipped, progress and f"{progress} ({method})"):
                    col.inputs, col.active = inputs, True
                    try:
                        adapter.forward(inputs)
                    finally:
                        col.active = False
                    col.tied_pass(recorded)
                    recorded.clear()
                    res.clips += 1
                    seen_seconds += clip.audio.size / 16000
        finally:
            for h in handles:
                h.remove()
        res.timings["statistics"] = time.perf_counter() - t0
    if need_fisher:
        t1 = time.perf_counter()
        diag = _fisher_diagonal(adapter, layers, clips, res, progress)
        res.timings["fisher"] = time.perf_counter() - t1
        if fisher_diag:
            res.fisher_diag = diag
        if method == "fisher":
            for l in layers:
                w = adapter.weight(l.name)
                F_ = diag[l.name]
                res.fisher[l.name] = {}
                for c in col.cands:
                    d = dequantize(quantize_weight(w, c[0], c[1])) - w
                    res.fisher[l.name][spec_key(c)] = 0.5 * float((F_ * d.astype(np.float64) ** 2).sum())
    else:
        res.seconds = seen_seconds
    if method == "output":
        t1 = time.perf_counter()
        _output_kl(adapter, layers, col.cands, clips, res, progress)
        res.timings["output"] = time.perf_counter() - t1
    if res.clips == 0:
        raise ValueError("no usable calibration clip (all were too short or missing): "
                         + "; ".join(res.skipped[:3]))
    for l in layers:
        st = col.stats[l.name]
        if col.want_median:
            res.median[l.name] = _hist_median(st.hist if st.hist is not None else torch.zeros(_HIST_BINS),
                                              st.zeros, st.count)
        if col.want_dist:
            res.rel_mse[l.name], res.one_minus_cos[l.name] = {}, {}
            for c in col.cands:
                k = spec_key(c)
                res.rel_mse[l.name][k] = st.err[k] / st.yy if st.yy > 0 else 0.0
                den = math.sqrt(st.yy * st.qq[k])
                res.one_minus_cos[l.name][k] = 1.0 - st.dot[k] / den if den > 0 else 0.0
        if hessians and st.hessian is not None:
            res.hessians[l.name] = st.hessian.numpy()
            res.hessian_rows[l.name] = st.rows
    return res


def _fisher_diagonal(adapter: LinearAdapter, layers: Sequence[LayerInfo], clips, res: Sensitivity,
                     progress: Optional[str]) -> Dict[str, np.ndarray]:
    """sum over clips of (dL_c/dW)^2 per layer, L_c against clip c's own greedy output."""
    params = [adapter.module(l.name).weight for l in layers]
    saved = [p.requires_grad for p in adapter.model.parameters()]
    for p in adapter.model.parameters():
        p.requires_grad_(False)
    for p in params:
        p.requires_grad_(True)
    diag = {l.name: torch.zeros_like(p, dtype=torch.float64) for l, p in zip(layers, params)}
    skipped: List[str] = []
    n = 0
    seconds = 0.0
    try:
        for clip, inputs in _prepared(adapter, clips, skipped, progress and f"{progress} (fisher)"):
            for p in params:
                p.grad = None
            loss = adapter.pseudo_label_loss(inputs)
            loss.backward()
            for l, p in zip(layers, params):
                if p.grad is not None:
                    diag[l.name] += p.grad.detach().to(torch.float64) ** 2
            n += 1
            seconds += clip.audio.size / 16000
    finally:
        for p in params:
            p.grad = None
        for p, r in zip(adapter.model.parameters(), saved):
            p.requires_grad_(r)
    if res.clips == 0:
        res.clips, res.skipped = n, skipped
    res.seconds = seconds
    return {k: v.numpy() for k, v in diag.items()}


@contextlib.contextmanager
def _replaying(adapter: LinearAdapter, recorded: Dict[str, object], names: Sequence[str]):
    """Within the block, the named modules return their recorded outputs instead of running."""
    mods = [adapter.module(n) for n in names]
    for n, m in zip(names, mods):
        m.forward = (lambda out: (lambda *args, **kwargs: out))(recorded[n])
    try:
        yield
    finally:
        for m in mods:
            del m.forward  # the class's forward is visible again


def _output_kl(adapter: LinearAdapter, layers: Sequence[LayerInfo], cands, clips, res: Sensitivity,
               progress: Optional[str]) -> None:
    """sum over clips of KL(p_float || p_layer-alone-quantized) per layer and candidate.

    The quantized layer runs as ``float_equivalent_linear`` (the core's
    product up to float32 rounding, one matmul) to keep the passes cheap.
    """
    wdq = {(l.name, spec_key(c)): torch.from_numpy(dequantize(quantize_weight(adapter.weight(l.name), c[0], c[1])))
           for l in layers for c in cands}
    blocks = {l.name: adapter.reusable_blocks(l) for l in layers}
    wanted = sorted({b for bs in blocks.values() for b in bs})
    kl = {l.name: {spec_key(c): 0.0 for c in cands} for l in layers}
    skipped: List[str] = []
    n, seconds = 0, 0.0
    with torch.no_grad():
        for clip, inputs in _prepared(adapter, clips, skipped, progress and f"{progress} (output)"):
            recorded: Dict[str, object] = {}
            handles = [adapter.module(b).register_forward_hook(
                (lambda name: (lambda mod, args, out: recorded.__setitem__(name, out)))(b)) for b in wanted]
            try:
                ref = adapter.output_log_probs(inputs)
            finally:
                for h in handles:
                    h.remove()
            p = ref.exp()
            for l in layers:
                module = adapter.module(l.name)
                with _replaying(adapter, recorded, blocks[l.name]):
                    for c in cands:
                        k = spec_key(c)
                        module.forward = (lambda w, b: (lambda x: float_equivalent_linear(x, w, b)))(
                            wdq[(l.name, k)], module.bias)
                        try:
                            with adapter.tied_lookup(l.name, wdq[(l.name, k)]):
                                lq = adapter.output_log_probs(inputs)
                        finally:
                            del module.forward
                        kl[l.name][k] += float((p * (ref - lq)).sum(dtype=torch.float64))
            n += 1
            seconds += clip.audio.size / 16000
    res.output_kl = kl
    if res.clips == 0:
        res.clips, res.skipped, res.seconds = n, skipped, seconds
