"""Bit allocation to an exact byte budget.

- ``knapsack``: minimise the summed per-layer damage estimate (sensitivity
  ``distortion`` or ``fisher``) over the candidate widths subject to the file
  size <= budget. Exact dynamic programming over the layers' tensor bytes
  (multiples of 64: every tensor is 64-aligned, docs/format.md), with the
  header's few variable bytes handled by checking the exact size of the
  result and re-solving with the overshoot removed; leftover bytes are then
  spent greedily (best damage reduction per byte) under exact size checks.
- ``myqasr``: the seed's round-robin decrement, faithful in its structure:
  start every layer at the widest candidate (float32), walk the layers in
  sensitivity order lowering each one step, stop as soon as the size fits.
  Steps go down the candidate widths (32 -> 8 -> 4, or 32 -> 8 -> 6 -> 5 ->
  4 -> 3 -> 2 over the research set) and the size is the exact file size. ``order="paper"``
  lowers the least sensitive layer first (the paper's Algorithm 1: layers
  with larger median |activation| keep more bits); ``order="code"`` is the
  released code's default (``uniform_reverse``: the most sensitive first).
- :func:`seed_bits` reproduces the seed exactly for reports: one bit at a
  time from 32, size = sum(bits/8 * params) over all parameters (the float
  ones at 32 bits, scales not counted). Its widths (e.g. {6, 7}) are not
  served by the core; the result is a simulation and says so.

Both allocators take any candidate list, including the simulated research
widths (2, 3, 5, 6 bits, priced by the size model as bit-packed codes plus
f16 scales); whether the result is servable is the caller's question
(``widths.is_servable``; the pipeline writes only servable results).

Budgets below the smallest reachable size raise ValueError naming that
size; budgets at or above the float size keep every layer float.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict, List, Mapping, Optional, Sequence, Tuple

import numpy as np

from .size import AssignmentSizer, format_bytes
from .widths import spec_key

ALLOCATIONS = ("knapsack", "myqasr")
ORDERS = ("paper", "code")
_MAX_UNITS = 1 << 22


class BudgetError(ValueError):
    """The budget cannot be met; ``smallest`` is the smallest reachable size in bytes."""

    def __init__(self, msg: str, smallest: int) -> None:
        super().__init__(msg)
        self.smallest = smallest


@dataclass
class Allocation:
    assignment: Dict[str, Tuple[str, int]]
    size: int  # exact predicted file size
    budget: int
    method: str
    notes: List[str] = field(default_factory=list)
    estimated_damage: Optional[float] = None


def check_budget(sizer: AssignmentSizer, layers: Sequence[str], candidates: Sequence[Tuple[str, int]],
                 budget: int) -> Optional[Allocation]:
    """Raises BudgetError below the smallest size; returns the all-float
    allocation when the budget already holds the float model."""
    narrow = {n: candidates[-1] for n in layers}
    smallest = sizer.file_size(narrow)
    if budget < smallest:
        raise BudgetError(f"budget {format_bytes(budget)} is below the smallest reachable size "
                          f"{format_bytes(smallest)} (every layer at {candidates[-1][0]})", smallest)
    widest = {n: candidates[0] for n in layers}
    full = sizer.file_size(widest)
    if budget >= full:
        return Allocation(widest, full, budget, "float",
                          [f"budget {format_bytes(budget)} holds the model at {candidates[0][0]} "
                           f"({format_bytes(full)}): nothing is quantized"])
    return None


def knapsack(sizer: AssignmentSizer, layers: Sequence[str], candidates: Sequence[Tuple[str, int]],
             scores: Mapping[str, Mapping[str, float]], budget: int) -> Allocation:
    """Exact minimum of sum(scores[layer][candidate]) with file size <= budget."""
    done = check_budget(sizer, layers, candidates, budget)
    if done is not None:
        return done
    layers = list(layers)
    cost = np.array([[sizer.tensor_bytes(n, c) for c in candidates] for n in layers], dtype=np.int64)
    dmg = np.array([[float(scores[n][spec_key(c)]) for c in candidates] for n in layers], dtype=np.float64)
    base = cost.min(axis=1)
    narrow = {n: candidates[int(np.argmin(cost[i]))] for i, n in enumerate(layers)}
    fixed = sizer.file_size(narrow) - int(base.sum())  # header, other tensors, padding
    notes: List[str] = []
    slack = 0
    for _ in range(8):
        room = budget - fixed - int(base.sum()) - slack
        choice = _dp(cost - base[:, None], dmg, max(room, 0))
        assignment = {n: candidates[k] for n, k in zip(layers, choice)}
        size = sizer.file_size(assignment)
        if size <= budget:
            break
        slack += size - budget  # the header grew with the choice: re-solve with that much less room
    else:  # pragma: no cover - the header varies by bytes, this converges at once
        raise RuntimeError("knapsack did not converge to the budget")
    assignment, size = _spend_leftover(sizer, layers, candidates, assignment, size, dmg, cost, budget)
    total = float(sum(dmg[i, candidates.index(assignment[n])] for i, n in enumerate(layers)))
    return Allocation(assignment, size, budget, "knapsack", notes, total)


def _dp(cost: np.ndarray, dmg: np.ndarray, room: int) -> List[int]:
    """Choice per layer minimising damage with sum(cost) <= room (costs multiples of 64 bytes)."""
    unit = 64
    units = room // unit
    if units > _MAX_UNITS:  # coarser grid for huge budgets: costs rounded up, still within the budget
        unit = 64 * -(-units // _MAX_UNITS)
        units = room // unit
    c_units = -(-cost // unit)
    L, C = cost.shape
    dp = np.zeros(units + 1)
    picks = np.zeros((L, units + 1), dtype=np.int8)
    for i in range(L):
        new = np.full(units + 1, np.inf)
        for k in range(C):
            cu = int(c_units[i, k])
            if cu > units:
                continue
            cand = np.full(units + 1, np.inf)
            cand[cu:] = dp[: units + 1 - cu] + dmg[i, k]
            better = cand < new
            new[better] = cand[better]
            picks[i, better] = k
        dp = new
    if not np.isfinite(dp[units]):
        raise ValueError("no assignment fits the budget")  # check_budget guarantees one does
    out = [0] * L
    u = units
    for i in range(L - 1, -1, -1):
        k = int(picks[i, u])
        out[i] = k
        u -= int(c_units[i, k])
    return out


def _spend_leftover(sizer, layers, candidates, assignment, size, dmg, cost, budget):
    """Upgrade layers (largest damage drop per extra byte first) while the exact size fits."""
    idx = {n: candidates.index(assignment[n]) for n in layers}
    while True:
        best = None
        for i, n in enumerate(layers):
            k = idx[n]
            for k2 in range(len(candidates)):
                gain = dmg[i, k] - dmg[i, k2]
                extra = cost[i, k2] - cost[i, k]
                if gain <= 0 or extra <= 0 or size + extra > budget + 64:
                    continue
                r = gain / extra
                if best is None or r > best[0]:
                    best = (r, n, k2)
        if best is None:
            return assignment, size
        _, n, k2 = best
        trial = dict(assignment)
        trial[n] = candidates[k2]
        s = sizer.file_size(trial)
        if s > budget:
            # this upgrade does not fit after all; stop (the header bytes made the difference)
            return assignment, size
        assignment, size, idx[n] = trial, s, k2


def myqasr(sizer: AssignmentSizer, layers: Sequence[str], candidates: Sequence[Tuple[str, int]],
           ranking: Mapping[str, float], budget: int, order: str = "paper") -> Allocation:
    """The seed's round-robin decrement over the served widths, stopping at the exact size."""
    if order not in ORDERS:
        raise ValueError(f"unknown order {order!r} (expected {', '.join(ORDERS)})")
    done = check_budget(sizer, layers, candidates, budget)
    if done is not None:
        return done
    # Stable sort: ties keep module order, as numpy.argsort does in the seed.
    names = sorted(layers, key=lambda n: ranking[n])
    if order == "code":
        names = names[::-1]
    level = {n: 0 for n in layers}
    assignment = {n: candidates[0] for n in layers}
    size = sizer.file_size(assignment)
    while size > budget:
        moved = False
        for n in names:
            if level[n] + 1 >= len(candidates):
                continue
            level[n] += 1
            assignment[n] = candidates[level[n]]
            moved = True
            size = sizer.file_size(assignment)
            if size <= budget:
                break
        if not moved:  # pragma: no cover - check_budget rules this out
            raise BudgetError("budget unreachable", size)
    return Allocation(dict(assignment), size, budget, f"myqasr-{order}")


def seed_bits(layer_numel: Mapping[str, int], other_params: int, ranking: Mapping[str, float], budget: int,
              order: str = "code") -> Dict[str, object]:
    """The seed's allocation exactly as released: bits per layer (simulated, not servable).

    Size = sum(bits / 8 * params) over the quantizable layers plus
    ``other_params`` at 32 bits; each visit lowers a layer by one bit; stops
    as soon as the size is below ``budget``. Nothing stops it at 1 bit or
    below (the seed's missing lower bound): layers reaching 0 bits are
    reported as such.
    """
    names = sorted(layer_numel, key=lambda n: ranking[n])
    if order == "code":
        names = names[::-1]
    bits = {n: 32 for n in layer_numel}

    def size() -> float:
        return sum(bits[n] / 8 * layer_numel[n] for n in bits) + 4 * other_params

    s = size()
    while s > budget:
        if all(b <= 0 for b in bits.values()):
            break
        for n in names:
            bits[n] -= 1
            s = size()
            if s < budget:
                break
    widths = sorted(set(bits.values()))
    return {"bits": bits, "seed_size_bytes": s, "widths": widths, "simulated": True,
            "served": all(b in (4, 8, 32) for b in widths)}
