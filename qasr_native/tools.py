"""Where the native executables (qasr-transcribe, qasr-bench-kernels) are.

A wheel installs them next to the Python scripts; a development build leaves
them in build/dev or build/tests; tests point at their build with
QASR_TOOLS_DIR.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Optional


def find_tool(name: str) -> Optional[Path]:
    """Path of the executable ``name``, or None when it was not built."""
    candidates = []
    if os.environ.get("QASR_TOOLS_DIR"):
        candidates.append(Path(os.environ["QASR_TOOLS_DIR"]) / name)
    found = shutil.which(name)
    if found:
        candidates.append(Path(found))
    repo = Path(__file__).resolve().parents[1]
    candidates += [repo / "build" / "dev" / name, repo / "build" / "tests" / name]
    for c in candidates:
        if c.is_file() and os.access(c, os.X_OK):
            return c
    return None
