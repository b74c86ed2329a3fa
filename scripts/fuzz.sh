#!/usr/bin/env bash
# Builds the libFuzzer targets (clang, ASan + UBSan, the whole core compiled
# with coverage instrumentation) and runs each for a bounded time:
#   scripts/fuzz.sh [SECONDS]     (default 60, split 3:1:2 between the .qasr
#                                  reader, the JSON parser and the WAV parser)
# Seeds come from scripts/make_fuzz_corpus.py; inputs the fuzzer finds are
# kept in build/fuzz/corpus/ between runs, crashes in build/fuzz/artifacts/.
# Exits non-zero when a fuzzer finds a crash, leak or sanitizer error.
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-60}
build=${QASR_FUZZ_BUILD_DIR:-build/fuzz}
jobs=${QASR_JOBS:-2}
cxx=${QASR_FUZZ_CXX:-clang++}
cc=${QASR_FUZZ_CC:-clang}

cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCMAKE_C_COMPILER="$cc" -DCMAKE_CXX_COMPILER="$cxx" \
  -DQASR_BUILD_FUZZERS=ON -DQASR_SANITIZE=address,undefined \
  -DQASR_BUILD_TESTS=OFF -DQASR_BUILD_TOOLS=OFF -DQASR_BUILD_PYTHON=OFF >/dev/null
cmake --build "$build" -j "$jobs" --target qasr_file_fuzz json_fuzz wav_fuzz

seeds="$build/seeds"
rm -rf "$seeds"
python3 scripts/make_fuzz_corpus.py "$seeds"
mkdir -p "$build/artifacts"

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
run() {  # name seconds seed-subdir [dictionary]
  local name=$1 t=$2 sub=$3 dict=${4:-} rc log
  [ "$t" -ge 1 ] || t=1
  mkdir -p "$build/corpus/$name"
  log="$build/$name.log"
  echo "== $name for ${t}s (log: $log)"
  set +e
  "$build/$name" -max_total_time="$t" -timeout=10 -rss_limit_mb=2048 -max_len=65536 -print_final_stats=1 \
    ${dict:+-dict=$dict} -artifact_prefix="$build/artifacts/$name-" \
    "$build/corpus/$name" "$seeds/$sub" >"$log" 2>&1
  rc=$?
  set -e
  grep -vE '^(#[0-9]+[[:space:]]|"|###### )' "$log" | tail -n 40
  return "$rc"
}
status=0
run qasr_file_fuzz $((secs / 2)) qasr_file cpp_tests/fuzz/qasr_file.dict || status=$?
run json_fuzz $((secs / 6)) json cpp_tests/fuzz/qasr_file.dict || status=$?
run wav_fuzz $((secs - secs / 2 - secs / 6)) wav || status=$?
if [ "$status" -ne 0 ]; then
  echo "fuzzing found a problem (exit $status); reproducers: $build/artifacts/" >&2
fi
exit "$status"
