"""Interleaved timing: every contender is sampled in turn, many times, and
the median kept, so a burst of load from other processes on a shared machine
lands on all of them alike instead of on whichever ran at that moment."""

from __future__ import annotations

import statistics
import time
from typing import Callable, Dict, List

# A runner executes its operation `reps` times and returns the seconds taken.
Runner = Callable[[int], float]


def calibrate(run: Runner, target_s: float, max_reps: int = 1_000_000) -> int:
    """Repetitions that make one sample take about `target_s` seconds."""
    run(1)  # warm up: first-call allocations, lazy initialization, caches
    reps, elapsed = 1, run(1)
    while elapsed < target_s * 0.2 and reps < max_reps:
        reps *= 4
        elapsed = run(reps)
    return max(1, min(max_reps, int(reps * target_s / max(elapsed, 1e-9))))


def interleaved(runners: Dict[str, Runner], samples: int, target_s: float, pause_s: float = 0.0) -> Dict[str, float]:
    """Median seconds per call of each runner, sampling them round-robin.

    The starting runner rotates each round so none always follows the same
    neighbour; `pause_s` (for multi-threaded runs) lets the previous
    contender's spinning worker threads go idle before the next sample.
    """
    reps = {name: calibrate(run, target_s) for name, run in runners.items()}
    times: Dict[str, List[float]] = {name: [] for name in runners}
    names = list(runners)
    for s in range(samples):
        order = names[s % len(names):] + names[: s % len(names)]
        for name in order:
            if pause_s:
                time.sleep(pause_s)
            times[name].append(runners[name](reps[name]) / reps[name])
    return {name: statistics.median(v) for name, v in times.items()}
