"""Keeps `qasr bench kernels` from rotting: a quick run on one shape through
the CLI, every mode, checking the report's structure (never its timings)."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import qasr_native
from qasr_native import _core

# Run the children against the same qasr_native this process imported (the
# source tree in development, the installed package under scripts/test.sh),
# from a neutral directory so nothing else shadows it.
PKG_PARENT = str(Path(qasr_native.__file__).resolve().parents[1])


def _env() -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = PKG_PARENT + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    return env


def test_quick_run_writes_records_for_every_contender(tmp_path):
    out = tmp_path / "bench.json"
    proc = subprocess.run(
        [sys.executable, "-m", "qasr_native.cli", "bench", "kernels", "--quick", "--shapes", "256x1024", "--M", "1",
         "--samples", "2", "--sample-ms", "1", "--json", str(out)],
        cwd=tmp_path, env=_env(), capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert "### mode `main`" in proc.stdout
    data = json.loads(out.read_text())
    records = data["records"]
    modes = {r["mode"] for r in records}
    assert "main" in modes
    impls = {(r["mode"], r["impl"]) for r in records}
    assert ("main", "qasr-q4g32") in impls and ("main", "qasr-q8") in impls
    for r in records:
        assert (r["M"], r["K"], r["N"], r["threads"]) == (1, 256, 1024, 1)
        assert r["gops"] > 0 and r["us"] > 0
        # every other contender of the mode gets a ratio
        same = {i for m, i in impls if m == r["mode"] and i != r["impl"]}
        assert set(r["ratio_to"]) == same
    # Peers are optional; when installed they must have run.
    for module, impl in [("torch", "torch-int8"), ("onnxruntime", "ort-int8"), ("onnxruntime", "ort-nbits-b128")]:
        try:
            __import__(module)
        except ImportError:
            continue
        assert ("main", impl) in impls
    if "avx2" in _core.kernels():
        assert {"noamx", "avx2"} <= modes


@pytest.mark.skipif(sys.platform != "linux", reason="seccomp is Linux-only")
def test_amx_denial_refuses_the_request_in_a_child_process(tmp_path):
    code = ("from qasr_native.bench import _isa; import errno; _isa.deny_amx(); "
            "assert _isa.request_amx() == errno.EPERM; print('ok')")
    proc = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=_env(), capture_output=True, text=True,
                          timeout=60)
    if proc.returncode != 0 and "x86_64" in proc.stderr:
        pytest.skip("not x86_64")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "ok"
