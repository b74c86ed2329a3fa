"""`qasr bench ...`: benchmarks, one sub-command per module of qasr_native.bench."""

from __future__ import annotations

import importlib
import pkgutil


def register(sub) -> None:
    from .. import bench

    p = sub.add_parser("bench", help="benchmarks against peer libraries (see `qasr bench -h`)")
    bench_sub = p.add_subparsers(dest="bench_command", metavar="BENCHMARK")
    for info in sorted(pkgutil.iter_modules(bench.__path__), key=lambda m: m.name):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{bench.__name__}.{info.name}")
        module.register(bench_sub)
    p.set_defaults(func=lambda args: (p.print_help(), 2)[1])
