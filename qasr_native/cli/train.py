"""`qasr train`: train a Conformer-CTC (float or native QAT) from a config.

    qasr train --config qasr_native/train/configs/builtin_float.json
    qasr train --config builtin_qat4 --set steps=200 --set out_dir=work/runs/x
    qasr train --config CONFIG.yaml --resume          # continue from OUT_DIR/ckpt_last.pt
    qasr train --config CONFIG.json --export-only     # write the .qasr from OUT_DIR/ckpt_last.pt

A config is JSON (YAML with PyYAML installed); names without a path are the
configs shipped in qasr_native/train/configs/. See docs/training.md.
"""

from __future__ import annotations

import json
import os
import sys


def _config_path(name: str) -> str:
    if os.path.exists(name) or os.sep in name or name.endswith((".json", ".yaml", ".yml")):
        return name
    from ..train.config import builtin_config_path

    return str(builtin_config_path(name))


def run_train(args) -> int:
    from ..train.config import load_config
    from ..train.trainer import Trainer

    cfg = load_config(_config_path(args.config), args.set or [])
    if args.dry_run:
        print(json.dumps(cfg, indent=2))
        return 0
    trainer = Trainer(cfg, progress=not args.quiet, log=lambda s: print(s, file=sys.stderr))
    resumed = trainer.resume() if (args.resume or args.export_only) else False
    if args.export_only:
        if not resumed:
            raise FileNotFoundError(f"{cfg['out_dir']}/ckpt_last.pt not found")
        if not cfg.get("export"):
            raise ValueError("the config sets no export path")
        print(json.dumps(trainer.export(cfg["export"])))
        return 0
    if resumed:
        print(f"resumed from step {trainer.step}", file=sys.stderr)
    result = trainer.fit(max_steps=args.max_steps)
    print(json.dumps(result))
    return 0


def register(sub) -> None:
    p = sub.add_parser("train", help="train a Conformer-CTC (dynamic chunks, SpecAugment, native QAT)",
                       description="Train the reference Conformer-CTC from a config (docs/training.md).")
    p.add_argument("--config", required=True,
                   help="JSON/YAML config, or the name of a shipped one (builtin_float, builtin_qat4)")
    p.add_argument("--set", action="append", metavar="KEY=VALUE",
                   help="override a config field, e.g. --set steps=100 --set optim.lr=0.001 (repeatable)")
    p.add_argument("--resume", action="store_true", help="continue from OUT_DIR/ckpt_last.pt when it exists")
    p.add_argument("--max-steps", type=int, help="stop after this many more steps (resume later)")
    p.add_argument("--export-only", action="store_true", help="export OUT_DIR/ckpt_last.pt and exit")
    p.add_argument("--dry-run", action="store_true", help="print the resolved config and exit")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.add_argument("--debug", action="store_true", help="show tracebacks")
    p.set_defaults(func=run_train)
