"""Benchmarks behind ``qasr bench``.

Each public module here (no leading underscore) is one ``qasr bench NAME``
sub-command and defines ``register(subparsers)``, adding a parser whose
``func`` default runs it; ``qasr_native.cli.bench`` discovers them, so a new
benchmark is a new file. Helpers shared by benchmarks live in ``_*.py``.
Peers (torch, ONNX Runtime, ...) are optional imports: a benchmark skips a
missing one with a message instead of failing.
"""
