#!/usr/bin/env python
"""WER vs file size from personalize_grid.py results (docs/img/personalize_wer_vs_size.png).

Each config is one line over its budgets (x: the largest file of the
budget, in MB; y: mean WER over the speakers); the uniform rows are single
points. Simulated (not servable) results are drawn with hollow markers and
dashed lines.

  python scripts/plot_personalize_grid.py OUT.png RESULTS.json [RESULTS.json ...] \\
      [--configs knapsack+distortion+mse,myqasr-code+median+cosine]
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import OrderedDict

import numpy as np


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out")
    ap.add_argument("results", nargs="+")
    ap.add_argument("--configs", default=None, help="configs to draw (default: all)")
    args = ap.parse_args()
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    keep = set(args.configs.split(",")) if args.configs else None
    lines = OrderedDict()  # (config, simulated) -> [(size, wer)]
    for path in args.results:
        res = json.load(open(path))
        sp = res["speakers"]
        for r in res["rows"]:
            c = r["config"]
            if keep is not None and c not in keep and not c.startswith("uniform"):
                continue
            key = (c, bool(r.get("simulated")))
            point = (max(r["sizes"].values()) / 1e6, float(np.mean([r["wer"][s] for s in sp])))
            if point not in lines.setdefault(key, []):
                lines[key].append(point)
    fig, ax = plt.subplots(figsize=(7, 4.2))
    for (c, sim), pts in lines.items():
        pts.sort()
        x, y = zip(*pts)
        label = c + (" (simulated: not servable)" if sim else "")
        if c.startswith("uniform"):
            ax.plot(x, y, marker="s", linestyle="", color="black", label=None)
            ax.annotate(c.replace("uniform ", ""), (x[0], y[0]), textcoords="offset points", xytext=(4, 4), fontsize=7)
            continue
        ax.plot(x, y, marker="o", linestyle="--" if sim else "-", fillstyle="none" if sim else "full", label=label)
    ax.set_xscale("log")
    from matplotlib.ticker import FixedLocator, NullLocator, ScalarFormatter

    ax.xaxis.set_major_locator(FixedLocator([1, 1.25, 1.5, 2, 2.5, 3, 4, 6, 8]))
    ax.xaxis.set_minor_locator(NullLocator())
    ax.xaxis.set_major_formatter(ScalarFormatter())
    ax.set_xlabel("file size (MB, 10^6 B; log scale)")
    ax.set_ylabel("mean WER over speakers (%)")
    ax.set_title("Built-in Conformer-CTC, 6 held-out speakers")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(args.out, dpi=110)
    print(args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
