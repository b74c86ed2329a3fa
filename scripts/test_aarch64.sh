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

# The standalone executable: the aarch64 build must transcribe like the x86
# one (same tokens and text, full context and streaming) on a small model.
if python -c "import torch" 2>/dev/null; then
  native=""
  for d in "${QASR_TOOLS_DIR:-}" build/tests build/dev; do
    if [ -n "$d" ] && [ -x "$d/qasr-transcribe" ]; then native="$d/qasr-transcribe"; break; fi
  done
  if [ -z "$native" ]; then
    cmake -S . -B build/native-tools -G Ninja -DCMAKE_BUILD_TYPE=Release -DQASR_BUILD_TESTS=OFF -DQASR_BUILD_TOOLS=ON
    cmake --build build/native-tools -j "$jobs" --target qasr-transcribe
    native=build/native-tools/qasr-transcribe
  fi
  work=$(mktemp -d)
  trap 'rm -rf "$work"' EXIT
  # The installed package when there is one (CI: the source tree has no
  # compiled _core), else the development tree (scripts/dev_build.sh).
  if (cd / && python -c "import qasr_native._core") 2>/dev/null; then
    python "$PWD/scripts/make_test_model.py" "$work/model.qasr"
  else
    PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" python scripts/make_test_model.py "$work/model.qasr"
  fi
  models=("$work/model.qasr")
  [ -f qasr_native/assets/builtin.qasr ] && models+=(qasr_native/assets/builtin.qasr)
  for model in "${models[@]}"; do
    for clip in qasr_native/assets/clips/*.wav; do
      for mode in "" "--stream"; do
        # Compare everything but the timing fields.
        strip() { sed -E 's/, "seconds": [0-9.]+, "rtf": [0-9.]+//'; }
        x86=$("$native" "$model" "$clip" --json $mode | strip)
        arm=$($qemu -cpu max "$build/qasr-transcribe" "$model" "$clip" --json $mode | strip)
        if [ "$x86" != "$arm" ]; then
          echo "qasr-transcribe differs on $(basename "$model") $(basename "$clip") $mode:"
          echo "  x86:     $x86"
          echo "  aarch64: $arm"
          exit 1
        fi
      done
    done
    echo "== qasr-transcribe aarch64 == x86 on $(basename "$model") ($(ls qasr_native/assets/clips/*.wav | wc -l) clips, full and streaming)"
  done
else
  echo "== torch missing: the qasr-transcribe cross check needs it to write a model; skipped"
fi
