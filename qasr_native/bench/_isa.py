"""What instruction sets a benchmark process may use, and how to take AMX away.

ONNX Runtime's MLAS uses Intel AMX for int8 GEMM when the CPU reports it and
Linux grants the process the AMX tile state: MLAS asks with
``arch_prctl(ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA)`` when it initializes.
:func:`deny_amx` installs a seccomp filter that fails exactly that request
with EPERM, so a process that calls it before importing onnxruntime runs
ONNX Runtime without AMX (and everything else unchanged). Linux only.
"""

from __future__ import annotations

import ctypes
import errno
import os
import platform
import struct

SYS_ARCH_PRCTL = 158  # x86_64
ARCH_REQ_XCOMP_PERM = 0x1023
XFEATURE_XTILEDATA = 18
AUDIT_ARCH_X86_64 = 0xC000003E

_PR_SET_NO_NEW_PRIVS = 38
_PR_SET_SECCOMP = 22
_SECCOMP_MODE_FILTER = 2
_SECCOMP_RET_ALLOW = 0x7FFF0000
_SECCOMP_RET_ERRNO = 0x00050000
# classic BPF opcodes
_LD_W_ABS = 0x20
_JEQ_K = 0x15
_RET_K = 0x06


def cpu_flags() -> set[str]:
    """CPU flags the kernel reports (/proc/cpuinfo); empty when unknown."""
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as f:
            for line in f:
                if line.startswith("flags"):
                    return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


def _libc() -> ctypes.CDLL:
    return ctypes.CDLL(None, use_errno=True)


def request_amx() -> int:
    """Asks Linux for the AMX tile state, as MLAS does. Returns 0 when
    granted, else the errno (EOPNOTSUPP/EINVAL: no AMX, EPERM: denied)."""
    if platform.system() != "Linux" or platform.machine() not in ("x86_64", "AMD64"):
        return errno.EOPNOTSUPP
    libc = _libc()
    r = libc.syscall(SYS_ARCH_PRCTL, ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA)
    return 0 if r == 0 else ctypes.get_errno()


def deny_amx() -> None:
    """Makes every later ARCH_REQ_XCOMP_PERM request of this process fail
    with EPERM (seccomp filter; it cannot be undone). Raises RuntimeError if
    the filter cannot be installed or does not take effect."""
    if platform.system() != "Linux" or platform.machine() not in ("x86_64", "AMD64"):
        raise RuntimeError("denying AMX needs Linux on x86_64")
    # seccomp_data: int nr (offset 0), u32 arch (4), u64 ip (8), u64 args[6] (16).
    prog = [
        (_LD_W_ABS, 0, 0, 4),  # A = arch
        (_JEQ_K, 0, 5, AUDIT_ARCH_X86_64),  # not x86_64 -> allow
        (_LD_W_ABS, 0, 0, 0),  # A = syscall number
        (_JEQ_K, 0, 3, SYS_ARCH_PRCTL),  # not arch_prctl -> allow
        (_LD_W_ABS, 0, 0, 16),  # A = low 32 bits of the first argument
        (_JEQ_K, 0, 1, ARCH_REQ_XCOMP_PERM),  # another arch_prctl -> allow
        (_RET_K, 0, 0, _SECCOMP_RET_ERRNO | errno.EPERM),
        (_RET_K, 0, 0, _SECCOMP_RET_ALLOW),
    ]
    filt = b"".join(struct.pack("HBBI", *ins) for ins in prog)
    buf = ctypes.create_string_buffer(filt, len(filt))

    class SockFprog(ctypes.Structure):
        _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]

    fprog = SockFprog(len(prog), ctypes.cast(buf, ctypes.c_void_p))
    libc = _libc()
    libc.prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_void_p, ctypes.c_ulong, ctypes.c_ulong]
    if libc.prctl(_PR_SET_NO_NEW_PRIVS, 1, None, 0, 0) != 0:
        raise RuntimeError(f"prctl(PR_SET_NO_NEW_PRIVS) failed: {os.strerror(ctypes.get_errno())}")
    if libc.prctl(_PR_SET_SECCOMP, _SECCOMP_MODE_FILTER, ctypes.addressof(fprog), 0, 0) != 0:
        raise RuntimeError(f"installing the seccomp filter failed: {os.strerror(ctypes.get_errno())}")
    if request_amx() != errno.EPERM:
        raise RuntimeError("the seccomp filter did not take effect (AMX request not refused)")


def amx_status() -> dict:
    """AMX as this process sees it: CPU support and whether Linux grants it.

    Calling this requests the tile state (harmless; MLAS does the same)."""
    flags = cpu_flags()
    code = request_amx()
    return {
        "cpu_has_amx_int8": "amx_int8" in flags and "amx_tile" in flags,
        "granted": code == 0,
        "request_errno": errno.errorcode.get(code, str(code)) if code else None,
    }


def best_x86_isa(flags: set[str]) -> str:
    """The best int8 dot-product instruction set among the CPU flags."""
    if "amx_int8" in flags:
        return "AMX-INT8"
    if "avx512_vnni" in flags:
        return "AVX512-VNNI"
    if "avx_vnni" in flags:
        return "AVX-VNNI"
    if "avx2" in flags:
        return "AVX2"
    return "baseline"
