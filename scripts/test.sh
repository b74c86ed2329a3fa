#!/usr/bin/env bash
# The project's test command: builds the C++ core and its tests, runs them
# (ctest), then runs the Python tests against the installed package.
set -euo pipefail
cd "$(dirname "$0")/.."
build=${QASR_TEST_BUILD_DIR:-build/tests}
jobs=$(nproc 2>/dev/null || echo 2)

cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DQASR_BUILD_TESTS=ON -DQASR_BUILD_TOOLS=ON
cmake --build "$build" -j "$jobs"
ctest --test-dir "$build" --output-on-failure -j "$jobs"

# Run pytest from inside python_tests so the source tree's qasr_native
# (which has no compiled _core) does not shadow the installed package.
export QASR_TOOLS_DIR="$PWD/$build"
cd python_tests
python -m pytest -q "$@"
