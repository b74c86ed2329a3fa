#!/usr/bin/env bash
# Cross-compiles the core, its tests and tools for aarch64 and runs the tests
# under qemu-user twice: on a CPU with the DotProd extension (-cpu max) and on
# one without it (Cortex-A72, like a Raspberry Pi 4).
set -euo pipefail
cd "$(dirname "$0")/.."
build=${QASR_ARM_BUILD_DIR:-build/aarch64}
jobs=$(nproc 2>/dev/null || echo 2)
cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_TOOLCHAIN_FILE=cmake/aarch64-linux-gnu.cmake -DQASR_BUILD_TESTS=ON -DQASR_BUILD_TOOLS=ON
cmake --build "$build" -j "$jobs"
qemu="qemu-aarch64 -L /usr/aarch64-linux-gnu"
# QASR_EXPECT_KERNELS makes the tests fail if a CPU model does not expose the
# variants it should, so neither NEON variant can be skipped silently.
echo "== aarch64 tests, -cpu max (dotprod)"
QASR_EXPECT_KERNELS=neon,neondot $qemu -cpu max "$build/qasr_tests" --gtest_brief=1
echo "== aarch64 tests, -cpu cortex-a72 (no dotprod)"
QASR_EXPECT_KERNELS=neon $qemu -cpu cortex-a72 "$build/qasr_tests" --gtest_brief=1
