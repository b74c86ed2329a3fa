#!/usr/bin/env bash
# Development build without pip: the core, its tests and tools, and the
# Python module, which is copied into qasr_native/ so that the source tree
# imports as a package (`python -m pytest python_tests` from the root).
set -euo pipefail
cd "$(dirname "$0")/.."
build=${QASR_DEV_BUILD_DIR:-build/dev}
cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DQASR_BUILD_PYTHON=ON -DQASR_INPLACE_MODULE=ON \
  -DQASR_BUILD_TESTS=ON -DQASR_BUILD_TOOLS=ON >/dev/null
cmake --build "$build" -j "$(nproc 2>/dev/null || echo 2)"
