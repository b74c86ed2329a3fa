"""`qasr pack MODEL --precision float32|int8|int4|q4a|FILE.json -o OUT.qasr`.

Packs a model without personalization, with min-max scales: one precision
for every layer, or a per-layer assignment from a JSON object
``{"layer name": "int8" | "int4" | "float32" | {"format": "q4", "group": 64}}``
(layers not named stay float32). For baselines and for users who know what
they want. MODEL: a Conformer ``.pt``/``.qasr``, ``builtin``, or a Whisper directory.
"""

from __future__ import annotations

import json
from pathlib import Path


def run(args) -> int:
    import torch

    torch.set_num_threads(max(1, args.threads))
    from ..personalize.adapters import load_adapter
    from ..personalize.pipeline import pack
    from ..personalize.size import format_bytes

    precision = args.precision
    if precision.endswith(".json"):
        p = Path(precision)
        if not p.is_file():
            raise FileNotFoundError(f"{precision}: no such precision file")
        try:
            precision = json.loads(p.read_text())
        except json.JSONDecodeError as e:
            raise ValueError(f"{p}: not valid JSON ({e})") from None
        if not isinstance(precision, dict):
            raise ValueError(f"{p}: expected a JSON object {{layer: precision}}")
    adapter = load_adapter(args.model)
    r = pack(adapter, precision, args.output)
    print(f"wrote {r['output']}: {format_bytes(r['actual_size'])} (predicted {r['predicted_size']}, "
          f"float32 {format_bytes(r['float_size'])})")
    return 0


def register(sub) -> None:
    p = sub.add_parser("pack", help="pack a model to .qasr at a uniform or given per-layer precision")
    p.add_argument("model", help="Conformer .pt/.qasr, 'builtin', or a Whisper directory")
    p.add_argument("--precision", required=True,
                   help="float32, int8, int4, q4a, or a JSON file {layer: precision}")
    p.add_argument("-o", "--output", required=True, help="output .qasr path")
    p.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    p.set_defaults(func=run)
