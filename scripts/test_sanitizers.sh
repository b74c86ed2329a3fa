#!/usr/bin/env bash
# The C++ tests built and run under AddressSanitizer + UndefinedBehaviorSanitizer.
set -euo pipefail
cd "$(dirname "$0")/.."
build=${QASR_ASAN_BUILD_DIR:-build/asan}
jobs=$(nproc 2>/dev/null || echo 2)
cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DQASR_SANITIZE=address,undefined \
  -DQASR_BUILD_TESTS=ON -DQASR_BUILD_TOOLS=ON
cmake --build "$build" -j "$jobs"
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
ctest --test-dir "$build" --output-on-failure -j "$jobs"

# The thread pool's lock-free hand-offs under ThreadSanitizer (TSan cannot
# share a build with ASan). GoogleTest is compiled from Debian's sources so
# that it is instrumented too.
gtest_src=${QASR_GTEST_SOURCE_DIR:-/usr/src/googletest}/googletest
tsan_bin="$build/thread_pool_tsan"
${CXX:-g++} -std=c++17 -O1 -g -fsanitize=thread -Icsrc -I"$gtest_src/include" -I"$gtest_src" \
  csrc/common/thread_pool.cc cpp_tests/thread_pool_test.cc "$gtest_src/src/gtest-all.cc" \
  "$gtest_src/src/gtest_main.cc" -pthread -o "$tsan_bin"
TSAN_OPTIONS=halt_on_error=1 "$tsan_bin"
echo "== thread pool clean under TSan"

# The executor end to end under the sanitizers: qasr-transcribe on a small
# mixed-precision model (written by PyTorch), full context and streaming,
# greedy and beam search, over the shipped clips.
if python -c "import torch" 2>/dev/null; then
  work=$(mktemp -d)
  trap 'rm -rf "$work"' EXIT
  # The installed package when there is one (CI: the source tree has no
  # compiled _core), else the development tree (scripts/dev_build.sh).
  if (cd / && python -c "import qasr_native._core") 2>/dev/null; then
    python "$PWD/scripts/make_test_model.py" "$work/model.qasr"
  else
    PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" python scripts/make_test_model.py "$work/model.qasr"
  fi
  for clip in qasr_native/assets/clips/*.wav; do
    for args in "" "--stream" "--stream --chunk-ms 120 --left-chunks 1 --beam 4" "--beam 8 --threads 2"; do
      "$build/qasr-transcribe" "$work/model.qasr" "$clip" --json $args >/dev/null
    done
  done
  echo "== qasr-transcribe clean under ASan+UBSan ($(ls qasr_native/assets/clips/*.wav | wc -l) clips x 4 modes)"
fi
