"""`qasr version`: versions and what the core can run on this machine."""

from __future__ import annotations


def run(args) -> int:
    from .. import __version__, _core

    print(f"qasr_native {__version__}")
    print(f"core        {_core.__version__}")
    print(f"cpu         {_core.cpu_features()}")
    print(f"kernels     {', '.join(_core.kernels())} (active: {_core.active_kernel()})")
    print(f"threads     {_core.num_threads()}")
    if args.check:
        from ..selfcheck import self_check

        for kernel, status in self_check().items():
            print(f"self-check  {kernel}: {status}")
    return 0


def register(sub) -> None:
    p = sub.add_parser("version", help="print versions, CPU features and kernels")
    p.add_argument("--check", action="store_true", help="also check every kernel against the Python mirror")
    p.set_defaults(func=run)
