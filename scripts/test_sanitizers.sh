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
