#!/usr/bin/env python
"""Pool several personalize_experiments.py runs (different speakers, same model,
methods and budgets) into one comparison with the seed: mean WER over all their
speakers and the paired bootstrap of each method against the seed.

  python scripts/personalize_pooled.py work/exp6_stats/results.json work/exp6b/results.json

Reads the per-utterance word errors the runs saved (``rows[].utterances``) and
prints a markdown table.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("results", nargs="+", help="results.json files of personalize_experiments.py")
    ap.add_argument("--against", default="seed", help="the method every other one is compared with")
    args = ap.parse_args()
    from qasr_native.evaluation.significance import paired_bootstrap

    per: dict = {}  # (method, budget) -> {speaker: [(errors, words)]}
    models = set()
    for path in args.results:
        res = json.loads(Path(path).read_text())
        models.add(res["model"])
        for row in res["rows"]:
            if "utterances" not in row:
                raise SystemExit(f"{path}: rows have no per-utterance counts (rerun with this version of the script)")
            cell = per.setdefault((row["method"], row["budget"]), {})
            clash = set(cell) & set(row["utterances"])
            if clash:
                raise SystemExit(f"{path}: speakers {sorted(clash)} are already in another run")
            cell.update(row["utterances"])
    if len(models) != 1:
        raise SystemExit(f"the runs are of different models: {sorted(models)}")
    speakers = sorted({s for cell in per.values() for s in cell})
    print(f"{len(args.results)} runs, {len(speakers)} speakers\n")
    print(f"| method | budget | mean WER | WER − {args.against} | 95 % interval | P(better) | words |")
    print("|---|---|---|---|---|---|---|")
    for (method, budget), cell in per.items():
        if set(cell) != set(speakers):
            print(f"({method} {budget or ''}: left out, scored on {len(cell)} of the {len(speakers)} speakers)",
                  file=sys.stderr)
            continue
        wer = np.mean([100.0 * sum(e for e, _ in u) / sum(n for _, n in u) for u in cell.values()])
        base = per.get((args.against, budget))
        if base is None or method == args.against:
            print(f"| {method} | {budget or '-'} | {wer:.2f} | | | | |")
            continue
        p = paired_bootstrap(base, cell)
        print(f"| {method} | {budget} | {wer:.2f} | {p.delta:+.2f} | [{p.low:+.2f}, {p.high:+.2f}] "
              f"| {p.p_b_better:.3f} | {p.words} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
