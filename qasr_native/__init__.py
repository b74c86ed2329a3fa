"""qasr_native: personalized low-bit speech recognition for edge CPUs."""

from __future__ import annotations

from importlib import metadata as _metadata

try:
    __version__ = _metadata.version("qasr-native")
except _metadata.PackageNotFoundError:  # running from a source tree
    __version__ = "0.0.0+local"

from . import _core  # noqa: E402  (the C++ core; always built with the package)

__all__ = ["__version__", "_core", "Recognizer", "Stream", "Result", "EndpointRules"]


def __getattr__(name: str):
    # The serving API, without importing it (and numpy) for every CLI command.
    if name in ("Recognizer", "Stream", "Result", "EndpointRules"):
        from . import api

        return getattr(api, name)
    raise AttributeError(f"module 'qasr_native' has no attribute {name!r}")
