"""`qasr bench kernels`: our packed int4/int8 kernels against the peers.

Y = X · Wᵀ (+ bias) for M ∈ {1, 16, 64, 256} rows and (K, N) ∈ {(256, 1024),
(1024, 256), (512, 2048), (2048, 512), (1024, 4096)}, one thread and all
threads, weights hot in cache (the same matrix is called again and again).
Contenders, each through its own Python API, one operation per call:

- qasr: ``_core.linear`` on q4 (group 32 and 128) and q8 (one scale per row)
  with the best kernel of this CPU; the same timed from C++ (no Python call
  per operation) as a reference column.
- torch fp32 ``F.linear`` and torch dynamic int8 (``quantize_dynamic``,
  fbgemm engine).
- ONNX Runtime ``MatMulNBits`` (4-bit, block 32 and 128, accuracy_level 4:
  int8 compute) called through IO binding, and ONNX Runtime dynamic int8
  (``onnxruntime.quantization.quantize_dynamic`` of a MatMul model).

Three process configurations ("modes"), each a separate worker process so
instruction-set limits apply from the start:

- ``main``: everything, every library free to use any ISA it detects.
- ``noamx``: ONNX Runtime with AMX denied (a seccomp filter refuses its
  request for the AMX tile state; see ``_isa.deny_amx``), against ours.
- ``avx2``: our AVX2 kernels against fbgemm capped to AVX2
  (``FBGEMM_ENABLE_INSTRUCTIONS=AVX2``, ``ATEN_CPU_CAPABILITY=avx2``).

Within a worker all contenders are sampled interleaved and the median kept.
The result is a markdown table of GOP/s (1 multiply-add = 2 ops), % of the
int8-dot peak measured by ``qasr-bench-kernels --peak-only`` and the ratios
the targets in docs/benchmarks.md are stated in; ``--json`` writes one record
per contender and shape.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np

from ..tools import find_tool
from . import _isa, _timing

SHAPES: Tuple[Tuple[int, int], ...] = ((256, 1024), (1024, 256), (512, 2048), (2048, 512), (1024, 4096))
MS: Tuple[int, ...] = (1, 16, 64, 256)
MODES = ("main", "noamx", "avx2")

def _clock(threads: int) -> Callable[[], float]:
    """Wall time, or this thread's CPU time for one-thread runs when
    QASR_BENCH_CPU_TIME=1 (``--cpu-time``): on a shared, loaded machine it
    does not count the time the thread was descheduled. Every contender runs
    a one-thread operation on the calling thread, so both are comparable."""
    if threads == 1 and os.environ.get("QASR_BENCH_CPU_TIME") == "1":
        return time.thread_time
    return time.perf_counter


# Relative output error each contender must stay under (vs float64), so a
# misconfigured peer (wrong packing, wrong op) fails loudly instead of being
# timed doing something else.
_TOLERANCE = {"int4": 0.2, "int8": 0.05, "fp32": 1e-4}


# ---------------------------------------------------------------------------
# Contenders.


@dataclass
class Contender:
    """One implementation: `prepare(w, bias)` (per weight matrix) returns
    `(make_runner, output)`: make_runner(x, threads) -> Runner, output(x) ->
    Y for the accuracy check."""

    name: str
    family: str  # int4 | int8 | fp32
    isa: str
    prepare: Callable


def _ours(fmt: str, group: int, kernel: Optional[str], cpp: bool = False) -> Contender:
    from .. import _core

    label = f"qasr-{fmt}" + (f"g{group}" if group else "") + ("-cpp" if cpp else "")
    isa = kernel or _core.active_kernel()

    def prepare(w: np.ndarray, bias: np.ndarray):
        packed = _core.pack(w, fmt, group)

        def make_runner(x: np.ndarray, threads: int):
            clock = _clock(threads)

            def run(reps: int) -> float:
                _core.set_num_threads(threads)
                if cpp:
                    return _core.time_linear(packed, x, bias, reps, kernel=kernel,
                                             cpu_time=clock is time.thread_time)
                t0 = clock()
                for _ in range(reps):
                    _core.linear(packed, x, bias, kernel=kernel)
                return clock() - t0

            return run

        return make_runner, lambda x: _core.linear(packed, x, bias, kernel=kernel)

    family = "int4" if fmt.startswith("q4") else "int8"
    return Contender(label, family, f"{isa}" + (" (timed in C++)" if cpp else ""), prepare)


def _torch_fp32() -> Contender:
    import torch
    import torch.nn.functional as F

    def prepare(w: np.ndarray, bias: np.ndarray):
        wt, bt = torch.from_numpy(w.copy()), torch.from_numpy(bias.copy())

        def make_runner(x: np.ndarray, threads: int):
            xt = torch.from_numpy(x.copy())
            clock = _clock(threads)

            def run(reps: int) -> float:
                torch.set_num_threads(threads)
                with torch.inference_mode():
                    t0 = clock()
                    for _ in range(reps):
                        F.linear(xt, wt, bt)
                    return clock() - t0

            return run

        def output(x: np.ndarray) -> np.ndarray:
            with torch.inference_mode():
                return F.linear(torch.from_numpy(x.copy()), wt, bt).numpy()

        return make_runner, output

    return Contender("torch-fp32", "fp32", f"MKL sgemm ({torch.backends.cpu.get_cpu_capability()})", prepare)


def _torch_int8(isa: str) -> Contender:
    import torch

    torch.backends.quantized.engine = "fbgemm"

    def prepare(w: np.ndarray, bias: np.ndarray):
        N, K = w.shape
        lin = torch.nn.Linear(K, N)
        with torch.no_grad():
            lin.weight.copy_(torch.from_numpy(w))
            lin.bias.copy_(torch.from_numpy(bias))
        model = torch.ao.quantization.quantize_dynamic(torch.nn.Sequential(lin), {torch.nn.Linear}, dtype=torch.qint8)

        def make_runner(x: np.ndarray, threads: int):
            xt = torch.from_numpy(x.copy())
            clock = _clock(threads)

            def run(reps: int) -> float:
                torch.set_num_threads(threads)
                with torch.inference_mode():
                    t0 = clock()
                    for _ in range(reps):
                        model(xt)
                    return clock() - t0

            return run

        def output(x: np.ndarray) -> np.ndarray:
            with torch.inference_mode():
                return model(torch.from_numpy(x.copy())).numpy()

        return make_runner, output

    return Contender("torch-int8", "int8", f"fbgemm ({isa})", prepare)


def _ort_session(model_bytes: bytes, threads: int):
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    so.log_severity_level = 3
    return ort.InferenceSession(model_bytes, so, providers=["CPUExecutionProvider"])


def _ort_contender(name: str, family: str, isa: str, build: Callable[[np.ndarray], bytes]) -> Contender:
    """An ONNX model X[M, K] -> Y[M, N] run through IO binding (input and
    output bound once, so a call is just the run)."""
    import onnxruntime as ort

    def prepare(w: np.ndarray, bias: np.ndarray):
        model = build(w)
        sessions: Dict[int, object] = {}

        def session(threads: int):
            if threads not in sessions:
                sessions[threads] = _ort_session(model, threads)
            return sessions[threads]

        def make_runner(x: np.ndarray, threads: int):
            sess = session(threads)
            io = sess.io_binding()
            xv = ort.OrtValue.ortvalue_from_numpy(np.ascontiguousarray(x))
            yv = ort.OrtValue.ortvalue_from_shape_and_type([x.shape[0], w.shape[0]], np.float32)
            io.bind_ortvalue_input("X", xv)
            io.bind_ortvalue_output("Y", yv)
            clock = _clock(threads)

            def run(reps: int) -> float:
                t0 = clock()
                for _ in range(reps):
                    sess.run_with_iobinding(io)
                return clock() - t0

            return run

        def output(x: np.ndarray) -> np.ndarray:
            return session(1).run(["Y"], {"X": x})[0] + bias

        return make_runner, output

    return Contender(name, family, isa, prepare)


def _nbits_model(w: np.ndarray, block: int) -> bytes:
    """MatMulNBits (com.microsoft) with our own symmetric 4-bit codes: codes
    u = q + 8 and the default zero point 8, so it holds the same weights as
    our q4 format with group = block."""
    from onnx import TensorProto, helper, numpy_helper

    from .. import _core

    N, K = w.shape
    if K % block:
        raise ValueError(f"K = {K} is not a multiple of the block {block}")
    q = _core.pack(w, "q4", block).unpack()
    nblk = K // block
    u = q["codes"].reshape(N, nblk, block)
    packed = (u[..., 0::2] | (u[..., 1::2] << 4)).astype(np.uint8)
    scales = q["scales"].view(np.float16).astype(np.float32).reshape(N, nblk)
    node = helper.make_node("MatMulNBits", ["X", "B", "S"], ["Y"], domain="com.microsoft", K=K, N=N, bits=4,
                            block_size=block, accuracy_level=4)
    graph = helper.make_graph(
        [node], "nbits", [helper.make_tensor_value_info("X", TensorProto.FLOAT, ["M", K])],
        [helper.make_tensor_value_info("Y", TensorProto.FLOAT, ["M", N])],
        initializer=[numpy_helper.from_array(packed, "B"), numpy_helper.from_array(scales, "S")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("com.microsoft", 1)])
    model.ir_version = 9
    return model.SerializeToString()


def _ort_int8_model(w: np.ndarray) -> bytes:
    """A float MatMul model dynamically quantized by ONNX Runtime's own tool."""
    from onnx import TensorProto, helper, numpy_helper
    from onnxruntime.quantization import QuantType, quantize_dynamic

    N, K = w.shape
    node = helper.make_node("MatMul", ["X", "W"], ["Y"])
    graph = helper.make_graph(
        [node], "mm", [helper.make_tensor_value_info("X", TensorProto.FLOAT, ["M", K])],
        [helper.make_tensor_value_info("Y", TensorProto.FLOAT, ["M", N])],
        initializer=[numpy_helper.from_array(np.ascontiguousarray(w.T), "W")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 9
    with tempfile.TemporaryDirectory() as d:
        src, dst = Path(d) / "f32.onnx", Path(d) / "int8.onnx"
        src.write_bytes(model.SerializeToString())
        quantize_dynamic(str(src), str(dst), weight_type=QuantType.QInt8)
        return dst.read_bytes()


# ---------------------------------------------------------------------------
# Modes: which contenders a worker runs and how its process is configured.

_MODE_ENV = {
    "main": {},
    "noamx": {},
    "avx2": {"FBGEMM_ENABLE_INSTRUCTIONS": "AVX2", "ATEN_CPU_CAPABILITY": "avx2"},
}

# (column label, numerator, denominator) ratios shown per mode.
_RATIOS = {
    "main": [("int4 g32 / NBits b128", "qasr-q4g32", "ort-nbits-b128"),
             ("int4 g32 / NBits b32", "qasr-q4g32", "ort-nbits-b32"),
             ("int8 / ORT int8", "qasr-q8", "ort-int8"),
             ("int8 / torch int8", "qasr-q8", "torch-int8"),
             ("int4 g32 / torch fp32", "qasr-q4g32", "torch-fp32")],
    "noamx": [("int8 / ORT int8 (no AMX)", "qasr-q8", "ort-int8"),
              ("int4 g32 / NBits b128 (no AMX)", "qasr-q4g32", "ort-nbits-b128")],
    "avx2": [("int8 / fbgemm AVX2", "qasr-q8", "torch-int8"),
             ("int4 g32 / fbgemm AVX2", "qasr-q4g32", "torch-int8")],
}
_PEAK_COLUMNS = ("qasr-q8", "qasr-q4g32")


def _contenders(mode: str, log: Callable[[str], None]) -> Tuple[List[Contender], dict]:
    """The contenders of a mode, skipping peers that are not installed."""
    from .. import _core

    flags = _isa.cpu_flags()
    info: dict = {"mode": mode, "cpu_features": _core.cpu_features(), "machine": platform.machine()}
    if mode == "noamx":
        _isa.deny_amx()  # before onnxruntime is imported
    if platform.machine() in ("x86_64", "AMD64"):
        amx = _isa.amx_status()
        info["amx"] = amx
        no_amx = _isa.best_x86_isa(flags - {"amx_int8", "amx_tile", "amx_bf16"})
        if mode == "noamx":
            ort_isa = f"MLAS, AMX denied ({no_amx})"
        elif amx["granted"]:
            ort_isa = "MLAS (AMX-INT8)"
        else:
            ort_isa = f"MLAS ({no_amx}; AMX not available: {amx['request_errno']})"
        fbgemm_isa = "capped to AVX2" if mode == "avx2" else f"by CPUID: {no_amx}"
    else:
        ort_isa, fbgemm_isa = "MLAS", "n/a"
    kernel = "avx2" if mode == "avx2" else None
    if kernel and kernel not in _core.kernels():
        raise RuntimeError(f"mode {mode} needs the {kernel} kernels, which this CPU cannot run")

    out: List[Contender] = []
    ours = [("q4", 32), ("q8", 0)] if mode != "main" else [("q4", 32), ("q4", 128), ("q8", 0)]
    for fmt, group in ours:
        out.append(_ours(fmt, group, kernel))
    if mode == "main":
        out.append(_ours("q4", 32, kernel, cpp=True))
        out.append(_ours("q8", 0, kernel, cpp=True))

    notes: List[str] = []
    info["notes"] = notes

    def optional(make: Callable[[], Contender], what: str) -> None:
        try:
            out.append(make())
        except ImportError as e:
            notes.append(f"skipped {what}: {e}")
            log(notes[-1])

    if mode in ("main", "avx2"):
        if mode == "main":
            optional(_torch_fp32, "torch fp32")
        optional(lambda: _torch_int8(fbgemm_isa), "torch dynamic int8")
    if mode in ("main", "noamx"):
        blocks = (32, 128) if mode == "main" else (128,)
        for block in blocks:
            optional(lambda b=block: _ort_contender(f"ort-nbits-b{b}", "int4", f"{ort_isa}, MatMulNBits int8 compute",
                                                    lambda w, b=b: _nbits_model(w, b)), f"ONNX Runtime MatMulNBits b{block}")
        optional(lambda: _ort_contender("ort-int8", "int8", ort_isa, _ort_int8_model), "ONNX Runtime dynamic int8")
    info["isa"] = {c.name: c.isa for c in out}
    return out, info


def _relative_error(y: np.ndarray, ref: np.ndarray) -> float:
    return float(np.linalg.norm(y - ref) / max(np.linalg.norm(ref), 1e-30))


def _worker(mode: str, shapes: Sequence[Tuple[int, int]], Ms: Sequence[int], threads: Sequence[int], samples: int,
            sample_s: float, log: Callable[[str], None]) -> dict:
    """Runs one mode in this process; returns its info and timing records."""
    contenders, info = _contenders(mode, log)
    records = []
    rng = np.random.default_rng(0)
    for K, N in shapes:
        w = (rng.standard_normal((N, K)) / np.sqrt(K)).astype(np.float32)
        bias = (rng.standard_normal(N) * 0.1).astype(np.float32)
        prepared = {}
        xc = rng.standard_normal((4, K)).astype(np.float32)
        ref = xc.astype(np.float64) @ w.T.astype(np.float64) + bias
        for c in contenders:
            make_runner, output = c.prepare(w, bias)
            err = _relative_error(np.asarray(output(xc), dtype=np.float64), ref)
            if err > _TOLERANCE[c.family]:
                raise RuntimeError(f"{c.name} computes the wrong thing on K={K} N={N}: relative error {err:.3g}")
            prepared[c.name] = make_runner
        for t in threads:
            for M in Ms:
                x = rng.standard_normal((M, K)).astype(np.float32)
                runners = {name: mk(x, t) for name, mk in prepared.items()}
                med = _timing.interleaved(runners, samples, sample_s, pause_s=0.003 if t > 1 else 0.0)
                for c in contenders:
                    s = med[c.name]
                    records.append({"mode": mode, "impl": c.name, "family": c.family, "isa": c.isa, "M": M, "K": K,
                                    "N": N, "threads": t, "us": s * 1e6, "gops": 2.0 * M * K * N / s / 1e9})
                log(f"  {mode}: K={K} N={N} M={M} threads={t} done")
    return {"info": info, "records": records}


# ---------------------------------------------------------------------------
# Parent: peaks, workers, report.


def measure_peaks(log: Callable[[str], None]) -> dict:
    """Per-kernel int8-dot and fp32 peaks (one thread) from qasr-bench-kernels."""
    tool = find_tool("qasr-bench-kernels")
    if tool is None:
        log("qasr-bench-kernels not found (build it, or set QASR_TOOLS_DIR): no % of peak")
        return {}
    out = subprocess.run([str(tool), "--peak-only"], check=True, capture_output=True, text=True).stdout
    return json.loads(out)["peaks"]


def _run_worker(mode: str, args: argparse.Namespace, log: Callable[[str], None]) -> Optional[dict]:
    env = dict(os.environ)
    env.update(_MODE_ENV[mode])
    if args.cpu_time:
        env["QASR_BENCH_CPU_TIME"] = "1"
    pkg_root = str(Path(__file__).resolve().parents[2])
    env["PYTHONPATH"] = pkg_root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    with tempfile.TemporaryDirectory() as d:
        out = Path(d) / "worker.json"
        cmd = [sys.executable, "-m", "qasr_native.cli", "bench", "kernels", "--worker", mode, "--worker-out", str(out),
               "--shapes", ",".join(f"{K}x{N}" for K, N in args.shape_list), "--M", ",".join(map(str, args.M_list)),
               "--threads", ",".join(map(str, args.thread_list)), "--samples", str(args.samples),
               "--sample-ms", str(args.sample_ms)]
        log(f"== mode {mode}")
        proc = subprocess.run(cmd, env=env, stderr=None if args.verbose else subprocess.PIPE, text=True)
        if proc.returncode != 0:
            log(f"mode {mode} failed (exit {proc.returncode})" + (f":\n{proc.stderr[-3000:]}" if proc.stderr else ""))
            return None
        return json.loads(out.read_text())


def _annotate(results: List[dict], peaks: dict) -> List[dict]:
    """Adds % of peak (ours) and the ratio of each record to every other
    contender of the same mode, shape, M and threads."""
    records = []
    for res in results:
        recs = res["records"]
        by_key: Dict[tuple, Dict[str, dict]] = {}
        for r in recs:
            by_key.setdefault((r["mode"], r["M"], r["K"], r["N"], r["threads"]), {})[r["impl"]] = r
        for r in recs:
            peers = by_key[(r["mode"], r["M"], r["K"], r["N"], r["threads"])]
            r["ratio_to"] = {name: r["gops"] / o["gops"] for name, o in peers.items() if name != r["impl"]}
            kernel = r["isa"].split(" ")[0]
            r["pct_peak"] = None
            if r["impl"].startswith("qasr-") and kernel in peaks:
                r["pct_peak"] = 100.0 * r["gops"] / (peaks[kernel]["int8_gops"] * r["threads"])
            records.append(r)
    return records


def _markdown(results: List[dict], peaks: dict) -> str:
    lines: List[str] = []
    if peaks:
        lines += ["| kernel | int8-dot peak, 1 thread (GOP/s) | fp32 FMA peak (GFLOP/s) |", "|---|---|---|"]
        lines += [f"| {k} | {v['int8_gops']:.0f} | {v['fp32_gflops']:.0f} |" for k, v in peaks.items()]
        lines.append("")
    for res in results:
        info, recs = res["info"], res["records"]
        mode = info["mode"]
        impls = list(dict.fromkeys(r["impl"] for r in recs))
        lines.append(f"### mode `{mode}`")
        lines.append("")
        lines += [f"- `{name}`: {isa}" for name, isa in info["isa"].items()]
        lines += [f"- {note}" for note in info.get("notes", [])]
        if "amx" in info:
            a = info["amx"]
            lines.append(f"- AMX: CPU reports AMX-INT8: {a['cpu_has_amx_int8']}; "
                         f"granted to this process: {a['granted']}" + (f" ({a['request_errno']})" if a["request_errno"] else ""))
        lines.append("")
        ratios = [(lab, a, b) for lab, a, b in _RATIOS[mode] if a in impls and b in impls]
        peak_cols = [c for c in _PEAK_COLUMNS if c in impls]
        head = ["K×N", "M", "thr"] + impls + [f"{c} % peak" for c in peak_cols] + [lab for lab, _, _ in ratios]
        lines.append("| " + " | ".join(head) + " |")
        lines.append("|" + "---|" * len(head))
        keys = list(dict.fromkeys((r["K"], r["N"], r["threads"], r["M"]) for r in recs))
        for K, N, t, M in keys:
            row = {r["impl"]: r for r in recs if (r["K"], r["N"], r["threads"], r["M"]) == (K, N, t, M)}
            cells = [f"{K}×{N}", str(M), str(t)] + [f"{row[i]['gops']:.1f}" if i in row else "-" for i in impls]
            for c in peak_cols:
                p = row[c].get("pct_peak") if c in row else None
                cells.append(f"{p:.0f}%" if p is not None else "-")
            for _, a, b in ratios:
                cells.append(f"{row[a]['gops'] / row[b]['gops']:.2f}x" if a in row and b in row else "-")
            lines.append("| " + " | ".join(cells) + " |")
        lines.append("")
    return "\n".join(lines)


def _parse_list(text: str, conv: Callable[[str], object]) -> list:
    return [conv(t) for t in text.split(",") if t.strip()]


def _parse_shape(text: str) -> Tuple[int, int]:
    k, _, n = text.lower().partition("x")
    if not n:
        raise ValueError(f"shape {text!r} is not KxN")
    return int(k), int(n)


def run(args: argparse.Namespace) -> int:
    quick = args.quick
    args.shape_list = _parse_list(args.shapes, _parse_shape) if args.shapes else ([(512, 2048)] if quick else list(SHAPES))
    args.M_list = _parse_list(args.M, int) if args.M else ([1, 16] if quick else list(MS))
    all_threads = os.cpu_count() or 1
    if args.threads:
        args.thread_list = [all_threads if t <= 0 else t for t in _parse_list(args.threads, int)]
    else:
        args.thread_list = [1] if quick else [1, all_threads]
    args.thread_list = list(dict.fromkeys(args.thread_list))
    if quick:
        args.samples = min(args.samples, 3)
        args.sample_ms = min(args.sample_ms, 5.0)

    def log(msg: str) -> None:
        print(msg, file=sys.stderr, flush=True)

    if args.worker:
        res = _worker(args.worker, args.shape_list, args.M_list, args.thread_list, args.samples, args.sample_ms / 1e3,
                      log)
        Path(args.worker_out).write_text(json.dumps(res))
        return 0

    modes = _parse_list(args.modes, str)
    for m in modes:
        if m not in MODES:
            raise ValueError(f"unknown mode {m!r} (expected {', '.join(MODES)})")
    peaks = {} if args.no_peak else measure_peaks(log)
    load = os.getloadavg() if hasattr(os, "getloadavg") else None
    results = []
    for m in modes:
        if m in ("noamx", "avx2") and platform.machine() not in ("x86_64", "AMD64"):
            log(f"skipping mode {m}: x86_64 only")
            continue
        res = _run_worker(m, args, log)
        if res is not None:
            for note in res["info"].get("notes", []):
                log(f"mode {m}: {note}")
            results.append(res)
    load_after = os.getloadavg() if hasattr(os, "getloadavg") else None
    records = _annotate(results, peaks)
    print(f"## qasr bench kernels\n\nload average before/after: {load} / {load_after}; "
          f"{os.cpu_count()} hardware threads; medians of {args.samples} interleaved samples of ~{args.sample_ms:g} ms; "
          + ("one-thread rows timed in thread CPU time, others in wall time\n" if args.cpu_time else "wall time\n"))
    print(_markdown(results, peaks))
    if args.json:
        Path(args.json).write_text(json.dumps({"peaks": peaks, "load_before": load, "load_after": load_after,
                                               "modes": [r["info"] for r in results], "records": records}, indent=1))
        log(f"wrote {args.json}")
    return 0 if results else 1


def register(subparsers) -> None:
    p = subparsers.add_parser("kernels", help="our int4/int8 kernels vs torch and ONNX Runtime",
                              description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="a small smoke run (one shape, M 1 and 16, one thread)")
    p.add_argument("--shapes", help="comma-separated KxN (default: the five standard shapes)")
    p.add_argument("--M", help="comma-separated row counts (default 1,16,64,256)")
    p.add_argument("--threads", help="comma-separated thread counts, 0 = all (default 1,all)")
    p.add_argument("--modes", default=",".join(MODES), help="main,noamx,avx2 (default: all)")
    p.add_argument("--samples", type=int, default=9, help="interleaved samples per contender (median kept)")
    p.add_argument("--sample-ms", type=float, default=20.0, help="duration of one sample")
    p.add_argument("--no-peak", action="store_true", help="skip the peak microbenchmarks")
    p.add_argument("--cpu-time", action="store_true",
                   help="time one-thread runs with the thread's CPU time (robust on a loaded machine)")
    p.add_argument("--json", type=Path, help="write one record per contender and shape")
    p.add_argument("--verbose", action="store_true", help="progress from the workers")
    p.add_argument("--worker", help=argparse.SUPPRESS)
    p.add_argument("--worker-out", help=argparse.SUPPRESS)
    p.set_defaults(func=run)
