#!/usr/bin/env bash
# Builds a wheel, tags it manylinux with auditwheel (when available), installs
# it into a fresh virtual environment with binary packages only (no compiler
# involved), and smoke-tests it: import, kernel self-check, `qasr --version`,
# and the bundled qasr-transcribe executable.
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-dist}
rm -rf "$out/raw" && mkdir -p "$out/raw"
python -m pip wheel . --no-deps -w "$out/raw"
raw=$(ls "$out"/raw/qasr_native-*.whl)
if python -m auditwheel --version >/dev/null 2>&1; then
  python -m auditwheel repair "$raw" -w "$out"
  wheel=$(ls -t "$out"/qasr_native-*manylinux*.whl | head -n 1)
else
  echo "auditwheel not installed: keeping the plain linux wheel"
  cp "$raw" "$out/" && wheel="$out/$(basename "$raw")"
fi
echo "wheel: $wheel"

venv=$(mktemp -d)/venv
python -m venv "$venv"
"$venv/bin/python" -m pip install -q --only-binary :all: "$wheel"
cd "$venv"  # away from the source tree
"$venv/bin/python" - <<'PY'
import qasr_native
from qasr_native.selfcheck import self_check
print("import ok:", qasr_native.__version__, qasr_native.__file__)
print("self-check:", self_check())
import pathlib
builtin = pathlib.Path(qasr_native.__file__).parent / "assets" / "builtin.qasr"
assert builtin.is_file() and builtin.stat().st_size > 0, f"{builtin} is not in the wheel"
print("built-in model:", builtin, builtin.stat().st_size, "bytes")
PY
"$venv/bin/qasr" --version
"$venv/bin/qasr" version
if [ -x "$venv/bin/qasr-transcribe" ]; then "$venv/bin/qasr-transcribe" --help >/dev/null || true; fi
echo "wheel smoke test passed: $wheel"
