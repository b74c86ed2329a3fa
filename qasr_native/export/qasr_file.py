"""Writing and reading `.qasr` model files (docs/format.md), in pure Python.

The writer needs only numpy: packed matrices are produced by the Python
mirror (``qasr_native.quant.pack`` / ``pack_f32``), byte for byte what the
C++ core packs. Its size model is exact: :func:`predict_file_size` gives the
size of the file that :class:`QasrWriter` will write for a set of tensor
*specifications* (name, shape, dtype or packed format) without packing any
weight, so the bit allocator can price thousands of assignments, and the
tests hold ``predicted == os.path.getsize`` for arbitrary content.

:func:`read_qasr` is an independent Python reader with the same checks as the
C++ reader (``qasr_native._core.QasrFile``); ``qasr info`` and the tests use it.
"""

from __future__ import annotations

import functools
import json
import math
import mmap
import os
import re
import struct
import zlib
from dataclasses import dataclass, field
from typing import Any, Iterable, Optional, Sequence, Union

import numpy as np

from ..quant.formats import ALIGN, BITS, FORMATS, SIMULATED_FORMATS, layout
from ..quant.mirror import QuantizedWeight, pack, pack_f32, unpack, unpack_f32

MAGIC = b"QASR\x00\r\n\x1a"
FORMAT_MAJOR = 1
FORMAT_MINOR = 0
FORMAT_VERSION = f"{FORMAT_MAJOR}.{FORMAT_MINOR}"
PREAMBLE_SIZE = 48
MAX_HEADER_SIZE = 16 << 20
MAX_DIM = 1 << 40
MAX_DIMS = 8
MAX_NAME_BYTES = 1024
INCOMPATIBLE_FLAGS = 0xFFFF0000
MAX_JSON_DEPTH = 64
MAX_JSON_VALUES = 1 << 20
_PREAMBLE = struct.Struct("<8sHHIQQQII")  # magic, major, minor, flags, header, data, file, crcs
assert _PREAMBLE.size == PREAMBLE_SIZE

#: Plain tensor dtypes: name -> little-endian numpy dtype.
DTYPES = {"f32": np.dtype("<f4"), "f16": np.dtype("<f2"), "i32": np.dtype("<i4"), "u8": np.dtype("u1")}
_NUMPY_TO_DTYPE = {f"{v.kind}{v.itemsize}": k for k, v in DTYPES.items()}
#: Header sections in the order the writer emits them (the tensor table comes last).
SECTIONS = ("model", "frontend", "tokenizer", "quantization", "provenance")
_CRC_PLACEHOLDER = "00000000"
_CRC_RE = re.compile(r"[0-9a-f]{8}\Z")


def align64(v: int) -> int:
    """``v`` rounded up to a multiple of 64."""
    return (v + ALIGN - 1) // ALIGN * ALIGN


# ---------------------------------------------------------------------------
# Tensor specifications and the size model


@dataclass(frozen=True)
class TensorSpec:
    """What the file stores for one tensor, without its bytes.

    Plain tensors give ``dtype`` (f32, f16, i32, u8); packed matrices give
    ``format`` (f32, q8, q4, q4a) and ``group`` with ``shape == (N, K)``.
    """

    name: str
    shape: tuple[int, ...]
    dtype: Optional[str] = None
    format: Optional[str] = None
    group: int = 0

    @property
    def packed(self) -> bool:
        return self.format is not None

    @property
    def nbytes(self) -> int:
        """Bytes of the tensor in the file (validates the spec)."""
        if (self.dtype is None) == (self.format is None):
            raise ValueError(f"tensor {self.name!r}: give exactly one of dtype and format")
        if self.packed:
            if len(self.shape) != 2:
                raise ValueError(f"tensor {self.name!r}: a packed matrix needs a 2-D shape, got {self.shape}")
            return layout(self.format, self.shape[0], self.shape[1], self.group).total_bytes
        if self.dtype not in DTYPES:
            raise ValueError(f"tensor {self.name!r}: unknown dtype {self.dtype!r} (expected {', '.join(DTYPES)})")
        return math.prod(self.shape) * DTYPES[self.dtype].itemsize

    @property
    def numel(self) -> int:
        return math.prod(self.shape)

    def entry(self, offset: int, crc32: str = _CRC_PLACEHOLDER) -> dict:
        """This tensor's element of the header's tensor table."""
        e: dict[str, Any] = {"name": self.name, "shape": list(self.shape)}
        if self.packed:
            e["packed"] = {"format": self.format, "group": self.group}
        else:
            e["dtype"] = self.dtype
        e["offset"] = offset
        e["nbytes"] = self.nbytes
        e["crc32"] = crc32
        return e


def _check_name(name: str) -> None:
    try:
        ok = isinstance(name, str) and name and "\0" not in name and len(name.encode("utf-8")) <= MAX_NAME_BYTES
    except UnicodeEncodeError:  # lone surrogates
        ok = False
    if not ok:
        raise ValueError(f"tensor name {name!r} is invalid (1 .. {MAX_NAME_BYTES} bytes of UTF-8, no NUL)")


def _check_spec(spec: TensorSpec) -> int:
    """Validates a spec as the reader will; returns its nbytes."""
    _check_name(spec.name)
    if len(spec.shape) > MAX_DIMS:
        raise ValueError(f"tensor {spec.name!r}: shape {spec.shape} has more than {MAX_DIMS} dimensions")
    lo = 1 if spec.packed else 0
    for d in spec.shape:
        if not isinstance(d, (int, np.integer)) or not lo <= d <= MAX_DIM:
            raise ValueError(f"tensor {spec.name!r}: shape dimension {d!r} is out of range ({lo} .. 2^40)")
    # Simulated widths pass here so the size model can price them; the writer refuses them (_refuse_simulated).
    if spec.packed and spec.format not in FORMATS and spec.format not in SIMULATED_FORMATS:
        raise ValueError(f"tensor {spec.name!r}: unknown packed format {spec.format!r}")
    try:
        n = spec.nbytes
        if n >= 2**63:
            raise ValueError(f"shape {spec.shape} is too large")
        return n
    except ValueError as e:
        msg = str(e)
        raise ValueError(msg if msg.startswith("tensor ") else f"tensor {spec.name!r}: {msg}") from None


@functools.lru_cache(maxsize=1 << 16)
def _spec_text(spec: TensorSpec) -> tuple[int, str]:
    """A validated spec's nbytes and the start of its table entry up to the offset.

    Equal to ``_dumps(spec.entry(...))`` (a test holds them equal), built by
    hand and cached because the bit allocator prices thousands of tables.
    """
    n = _check_spec(spec)
    kind = (f'"packed":{{"format":{json.dumps(spec.format)},"group":{int(spec.group)}}}' if spec.packed
            else f'"dtype":{json.dumps(spec.dtype)}')
    shape = ",".join(str(int(d)) for d in spec.shape)
    return n, f'{{"name":{json.dumps(spec.name, ensure_ascii=False)},"shape":[{shape}],{kind},"offset":'


def _table_text(specs: Sequence[TensorSpec], offsets: Sequence[int], sizes: Sequence[int],
                crcs: Sequence[str]) -> str:
    return "[" + ",".join(f'{_spec_text(s)[1]}{o},"nbytes":{n},"crc32":"{c}"}}'
                          for s, o, n, c in zip(specs, offsets, sizes, crcs)) + "]"


def _placement(nbytes: Sequence[int]) -> tuple[list[int], int]:
    """Canonical relative offsets of tensors of these sizes, and the data length."""
    offsets, pos, end = [], 0, 0
    for n in nbytes:
        offsets.append(pos)
        end = pos + n
        pos = align64(end)
    return offsets, end


def _json_default(o: Any) -> Any:
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, tuple):
        return list(o)
    raise TypeError(f"{type(o).__name__} is not JSON serializable")


def _dumps(obj: Any) -> str:
    try:
        return json.dumps(obj, ensure_ascii=False, separators=(",", ":"), allow_nan=False, default=_json_default)
    except ValueError as e:  # NaN / Infinity
        raise ValueError(f"header values must be finite JSON numbers: {e}") from None


def _tool_version() -> str:
    try:
        from .. import __version__
    except ImportError:  # the package imported without its compiled core (scripts)
        __version__ = "0.0.0+local"
    return f"qasr_native {__version__}"


def _json_limits(obj: Any, what: str, depth: int = 0) -> int:
    """Checks what the C++ JSON reader bounds (depth, value count, int64 integers) for ``obj``
    nested ``depth`` levels deep; returns its value count."""
    count = 0
    stack = [(obj, depth)]
    while stack:
        v, depth = stack.pop()
        count += 1
        if depth >= MAX_JSON_DEPTH:  # the root is level 1, as in the C++ parser
            raise ValueError(f"{what} nests deeper than {MAX_JSON_DEPTH} levels")
        if isinstance(v, dict):
            stack.extend((x, depth + 1) for x in v.values())
        elif isinstance(v, list):
            stack.extend((x, depth + 1) for x in v)
        elif isinstance(v, int) and not isinstance(v, bool) and not -(2**63) <= v < 2**63:
            raise ValueError(f"{what}: integer {v} does not fit 64 bits")
    if count > MAX_JSON_VALUES:
        raise ValueError(f"{what} has more than {MAX_JSON_VALUES} JSON values")
    return count


def _normalize(value: Any, what: str) -> Any:
    """``value`` as the JSON reader will see it (numpy scalars and tuples converted)."""
    try:
        return json.loads(_dumps(value), object_pairs_hook=_reject_duplicates)
    except ValueError as e:
        raise ValueError(f"{what}: {e}") from None


def _sections(header: dict) -> tuple[dict, dict]:
    """The header's sections in file order, normalized and checked, and the
    provenance (last, copied so it can be filled in)."""
    if not isinstance(header, dict):
        raise ValueError("header must be a dict of sections")
    for key in ("format_version", "tensors"):
        if key in header:
            raise ValueError(f"header member {key!r} is written by the writer, not given")
    model = header.get("model")
    if not isinstance(model, dict) or not isinstance(model.get("family"), str):
        raise ValueError("header needs a 'model' section with a string 'family'")
    out: dict[str, Any] = {"format_version": FORMAT_VERSION}
    for key in SECTIONS:
        if header.get(key) is not None and not isinstance(header[key], dict):
            raise ValueError(f"header section {key!r} must be a dict")
    for key in SECTIONS[:-1]:
        if header.get(key) is not None:
            out[key] = header[key]
    for key, value in header.items():
        if key not in SECTIONS:
            if not isinstance(key, str):
                raise ValueError(f"header keys must be strings, got {key!r}")
            out[key] = value
    out = _normalize(out, "header")
    prov = _normalize(dict(header.get("provenance") or {}), "header provenance")
    prov.setdefault("tool_version", _tool_version())
    return out, prov


@dataclass
class SizeBreakdown:
    """Where the bytes of a file go; the parts sum to ``file_size``."""

    file_size: int
    header: int  # preamble + JSON text
    codes: int  # packed q8/q4/q4a codes
    scales: int  # f16 scales of packed matrices
    zeros: int  # q4a zero points
    float_tensors: int  # f32 matrices and f32/f16 plain tensors
    other_tensors: int  # i32/u8 plain tensors
    padding: int  # header padding, padding between tensors and inside packed matrices

    def parts(self) -> dict[str, int]:
        return {
            "header": self.header,
            "packed_codes": self.codes,
            "scales": self.scales,
            "zero_points": self.zeros,
            "float_tensors": self.float_tensors,
            "other_tensors": self.other_tensors,
            "padding": self.padding,
        }

    def as_dict(self) -> dict[str, int]:
        return {"file_size": self.file_size, **self.parts()}


def size_breakdown(json_bytes: int, specs: Sequence[TensorSpec]) -> SizeBreakdown:
    """Breakdown of a file with a JSON header of ``json_bytes`` bytes and these tensors."""
    data_offset = align64(PREAMBLE_SIZE + json_bytes)
    sizes = [s.nbytes for s in specs]
    _, data_len = _placement(sizes)
    codes = scales = zeros = floats = other = 0
    for s, n in zip(specs, sizes):
        if s.packed and s.format != "f32":
            lay = layout(s.format, s.shape[0], s.shape[1], s.group)
            codes += lay.codes_bytes
            scales += lay.scales_bytes
            zeros += lay.zeros_bytes
        elif s.packed or s.dtype in ("f32", "f16"):
            floats += n
        else:
            other += n
    total = data_offset + data_len
    header = PREAMBLE_SIZE + json_bytes
    padding = total - header - codes - scales - zeros - floats - other
    return SizeBreakdown(total, header, codes, scales, zeros, floats, other, padding)


@dataclass
class FilePlan:
    """Everything about a file but its tensor bytes."""

    header_json: bytes  # with placeholder CRCs unless given (same length either way)
    specs: list[TensorSpec]
    offsets: list[int]  # relative to data_offset
    data_offset: int
    file_size: int

    def breakdown(self) -> SizeBreakdown:
        return size_breakdown(len(self.header_json), self.specs)


def _entry_values(spec: TensorSpec) -> int:
    """JSON values of one table entry: object, name, shape (+dims), dtype or packed (+2), offset, nbytes, crc32."""
    return 1 + 1 + 1 + len(spec.shape) + (3 if spec.packed else 1) + 3


class SizeModel:
    """Exact file sizes for one set of header sections and any tensors.

    Build it once per header and call :meth:`file_size` for each candidate
    assignment: the sections are serialized once, each call only serializes
    the tensor table (about 1 µs per tensor).
    """

    def __init__(self, header: dict) -> None:
        sections, self._provenance = _sections(header)
        self._prefix = (_dumps(sections)[:-1] + ',"provenance":').encode("utf-8")
        self._fill_predicted = "predicted_size" not in self._provenance
        # +1 root is counted in sections; +1 the table array.
        self._values = _json_limits(sections, "header") + _json_limits(self._provenance, "header provenance", 1) + 3

    def _provenance_text(self, size: int) -> bytes:
        prov = dict(self._provenance)
        prov["actual_size"] = size
        if self._fill_predicted:
            prov["predicted_size"] = size
        return _dumps(prov).encode("utf-8")

    def plan(self, specs: Iterable[TensorSpec], crcs: Optional[Sequence[int]] = None) -> FilePlan:
        specs = list(specs)
        sizes = [_spec_text(s)[0] for s in specs]
        if len({s.name for s in specs}) != len(specs):
            seen: set[str] = set()
            dup = next(s.name for s in specs if s.name in seen or seen.add(s.name))
            raise ValueError(f"tensor {dup!r} is added twice")
        values = self._values + sum(_entry_values(s) for s in specs)
        if values > MAX_JSON_VALUES:
            raise ValueError(f"header has more than {MAX_JSON_VALUES} JSON values")
        offsets, data_len = _placement(sizes)
        crc_text = [f"{c:08x}" for c in crcs] if crcs is not None else [_CRC_PLACEHOLDER] * len(specs)
        table = _table_text(specs, offsets, sizes, crc_text)
        # actual_size is part of the text whose length it depends on: iterate
        # from 0. The text depends on it only through its digit count, which
        # never decreases along the iteration, so this settles within a few steps.
        tail = (',"tensors":' + table + "}").encode("utf-8")
        fixed = len(self._prefix) + len(tail)
        size = 0
        for _ in range(64):
            prov = self._provenance_text(size)
            text_len = fixed + len(prov)
            if text_len > MAX_HEADER_SIZE:
                raise ValueError(f"header JSON is {text_len} bytes, more than the format's {MAX_HEADER_SIZE}; "
                                 "store large data (tokenizer models) as u8 tensors")
            data_offset = align64(PREAMBLE_SIZE + text_len)
            total = data_offset + data_len
            if total == size:
                return FilePlan(self._prefix + prov + tail, specs, offsets, data_offset, total)
            size = total
        raise RuntimeError("file size did not converge")  # unreachable, see above

    def file_size(self, specs: Iterable[TensorSpec]) -> int:
        """Exact size of the file for these tensors."""
        return self.plan(specs).file_size


def plan_file(header: dict, specs: Iterable[TensorSpec], crcs: Optional[Sequence[int]] = None) -> FilePlan:
    """Lays out a file: header JSON, offsets and the exact file size.

    ``header`` holds the sections (``model`` with ``family`` required;
    ``frontend``, ``tokenizer``, ``quantization``, ``provenance`` and any other
    member optional). The writer adds ``format_version``, the tensor table,
    ``provenance.tool_version``, ``provenance.actual_size`` (the size of this
    very file) and ``provenance.predicted_size`` when not given.
    """
    return SizeModel(header).plan(specs, crcs)


def predict_file_size(header: dict, specs: Iterable[TensorSpec]) -> int:
    """Exact size in bytes of the file :class:`QasrWriter` writes for these sections and tensors."""
    return plan_file(header, specs).file_size


# ---------------------------------------------------------------------------
# Writer


Matrix = Union[np.ndarray, QuantizedWeight]


class QasrWriter:
    """Collects header sections and tensors, then writes one ``.qasr`` file.

    Tensors are stored in the order they are added. Matrices are kept as
    given and packed only while writing, one at a time, so
    :meth:`predicted_size` is cheap and writing needs little extra memory.
    """

    def __init__(self, model: Optional[dict] = None, **sections: Optional[dict]) -> None:
        self.header: dict[str, Any] = {}
        if model is not None:
            self.header["model"] = dict(model)
        for key, value in sections.items():
            if value is not None:
                self.header[key] = value
        self._specs: list[TensorSpec] = []
        self._data: list[Any] = []
        self._names: set[str] = set()

    # -- header -------------------------------------------------------------
    def set_model(self, family: str, **hyperparameters: Any) -> None:
        """The model family (executor) and its hyperparameters."""
        self.header["model"] = {"family": family, **hyperparameters}

    def set_section(self, name: str, value: dict) -> None:
        """A header section: frontend, tokenizer, quantization, provenance or another."""
        if name in ("format_version", "tensors"):
            raise ValueError(f"{name!r} is written by the writer")
        self.header[name] = value

    def update_provenance(self, **fields: Any) -> None:
        prov = dict(self.header.get("provenance") or {})
        prov.update(fields)
        self.header["provenance"] = prov

    # -- tensors ------------------------------------------------------------
    def _add(self, spec: TensorSpec, data: Any) -> None:
        if spec.packed:
            _refuse_simulated(spec.name, spec.format)
        _check_spec(spec)
        if spec.name in self._names:
            raise ValueError(f"tensor {spec.name!r} is added twice")
        self._names.add(spec.name)
        self._specs.append(spec)
        self._data.append(data)

    def add_array(self, name: str, array: Any, dtype: Optional[str] = None) -> None:
        """A plain tensor. numpy float32/float16/int32/uint8 arrays keep their type;
        other types need ``dtype`` (f32, f16, i32, u8) to say what to store."""
        a = np.asarray(array)
        if dtype is None:
            dtype = _NUMPY_TO_DTYPE.get(f"{a.dtype.kind}{a.dtype.itemsize}")
            if dtype is None:
                raise ValueError(f"tensor {name!r}: numpy dtype {a.dtype} cannot be stored as it is; "
                                 f"pass dtype= one of {', '.join(DTYPES)}")
        elif dtype not in DTYPES:
            raise ValueError(f"tensor {name!r}: unknown dtype {dtype!r} (expected {', '.join(DTYPES)})")
        target = DTYPES[dtype]
        if a.dtype.kind == "f" and target.kind in "iu":
            raise ValueError(f"tensor {name!r}: refusing to store floats as {dtype}")
        if target.kind in "iu" and a.size:
            info = np.iinfo(target)
            if a.min() < info.min or a.max() > info.max:
                raise ValueError(f"tensor {name!r}: values do not fit {dtype}")
        self._add(TensorSpec(name, tuple(int(d) for d in a.shape), dtype=dtype), (a, target))

    def add_matrix(self, name: str, weight: Matrix, format: Optional[str] = None, group: int = 0) -> None:
        """A packed matrix W[N, K].

        - float array, ``format`` None or "f32": stored as f32 panels;
        - float array with ``format`` q8/q4/q4a: quantized with min-max scales;
        - :class:`~qasr_native.quant.QuantizedWeight`: stored as it is.
        """
        if isinstance(weight, QuantizedWeight):
            if format is not None and format != weight.format:
                raise ValueError(f"matrix {name!r}: format {format!r} given for {weight.format} weights")
            _check_quantized(name, weight)
            N, K = weight.shape
            self._add(TensorSpec(name, (N, K), format=weight.format, group=weight.group), weight)
            return
        w = np.asarray(weight)
        if w.ndim != 2:
            raise ValueError(f"matrix {name!r}: weights must be 2-D, got shape {w.shape}")
        if w.dtype.kind != "f":
            raise ValueError(f"matrix {name!r}: weights must be floating point, got {w.dtype}")
        if format is None or format == "f32":
            if group:
                raise ValueError(f"matrix {name!r}: f32 matrices take no group")
            self._add(TensorSpec(name, tuple(int(d) for d in w.shape), format="f32"), w)
            return
        from ..quant.mirror import quantize_weight

        self.add_matrix(name, quantize_weight(w, format, group))

    def add_packed(self, name: str, format: str, shape: tuple[int, int], group: int, data: bytes) -> None:
        """Already packed bytes (e.g. ``_core.pack(...).tobytes()``)."""
        spec = TensorSpec(name, (int(shape[0]), int(shape[1])), format=format, group=group)
        n = _check_spec(spec)
        if len(data) != n:
            raise ValueError(f"matrix {name!r}: {len(data)} packed bytes, the layout needs {n}")
        self._add(spec, bytes(data))

    # -- size ---------------------------------------------------------------
    @property
    def specs(self) -> list[TensorSpec]:
        return list(self._specs)

    def plan(self) -> FilePlan:
        return plan_file(self.header, self._specs)

    def predicted_size(self) -> int:
        """Exact size of the file :meth:`write` will produce."""
        return self.plan().file_size

    def size_breakdown(self) -> SizeBreakdown:
        return self.plan().breakdown()

    # -- writing ------------------------------------------------------------
    def _tensor_bytes(self, spec: TensorSpec, data: Any) -> bytes:
        if isinstance(data, bytes):
            return data
        if isinstance(data, QuantizedWeight):
            return pack(data)
        if spec.packed:  # float matrix -> f32 panels
            return pack_f32(np.asarray(data, dtype=np.float32))
        a, target = data
        return np.ascontiguousarray(a, dtype=target).tobytes()

    def write(self, path: Union[str, os.PathLike]) -> int:
        """Writes the file (atomically: a temporary file renamed over ``path``); returns its size.

        The tensor data is streamed first and the header, whose length does
        not depend on the checksums, is written last into the space left for it.
        """
        model = SizeModel(self.header)
        plan = model.plan(self._specs)
        path = os.fspath(path)
        tmp = f"{path}.tmp{os.getpid()}"
        crcs: list[int] = []
        try:
            with open(tmp, "wb") as f:
                f.write(b"\0" * plan.data_offset)
                pos = 0
                for spec, data, off in zip(self._specs, self._data, plan.offsets):
                    blob = self._tensor_bytes(spec, data)
                    if len(blob) != spec.nbytes:  # a bug in the packer, not bad input
                        raise RuntimeError(f"tensor {spec.name!r}: packed {len(blob)} bytes, expected {spec.nbytes}")
                    f.write(b"\0" * (off - pos))
                    f.write(blob)
                    crcs.append(zlib.crc32(blob))
                    pos = off + len(blob)
                final = model.plan(self._specs, crcs)
                if len(final.header_json) != len(plan.header_json) or final.file_size != plan.file_size:
                    raise RuntimeError("header length changed with the checksums")  # fixed-width CRCs prevent it
                text = final.header_json
                preamble = _PREAMBLE.pack(MAGIC, FORMAT_MAJOR, FORMAT_MINOR, 0, len(text), final.data_offset,
                                          final.file_size, zlib.crc32(text), 0)
                preamble = preamble[:44] + struct.pack("<I", zlib.crc32(preamble[:44]))
                f.seek(0)
                f.write(preamble)
                f.write(text)
            size = os.path.getsize(tmp)
            if size != plan.file_size:
                raise RuntimeError(f"wrote {size} bytes, predicted {plan.file_size}")
            os.replace(tmp, path)
        except BaseException:
            if os.path.exists(tmp):
                os.unlink(tmp)
            raise
        return size


def _refuse_simulated(name: str, format: str) -> None:
    if format in SIMULATED_FORMATS:
        raise ValueError(f"matrix {name!r}: {format} ({BITS[format]}-bit weights) is simulated: not servable -- "
                         f"the core has no kernel for it, so it cannot be written to a .qasr file "
                         f"(servable formats: {', '.join(FORMATS)})")


def _check_quantized(name: str, q: QuantizedWeight) -> None:
    """The values the reader checks (and the kernels assume)."""
    _refuse_simulated(name, q.format)
    if q.format not in ("q8", "q4", "q4a"):
        raise ValueError(f"matrix {name!r}: {q.format!r} is not a quantized format")
    codes = np.asarray(q.codes)
    if codes.ndim != 2 or codes.dtype != np.uint8:
        raise ValueError(f"matrix {name!r}: codes must be a 2-D uint8 array")
    lay = layout(q.format, codes.shape[0], codes.shape[1], q.group)
    if np.asarray(q.scales).shape != (lay.N, lay.groups):
        raise ValueError(f"matrix {name!r}: scales must have shape {(lay.N, lay.groups)}")
    if not np.all(np.isfinite(np.asarray(q.scales, dtype=np.float16))):
        raise ValueError(f"matrix {name!r}: scales must be finite in f16")
    if q.format == "q8" and codes.size and codes.min() < 1:
        raise ValueError(f"matrix {name!r}: q8 codes must be in [1, 255]")
    if q.format != "q8" and codes.size and codes.max() > 15:
        raise ValueError(f"matrix {name!r}: 4-bit codes must be in [0, 15]")
    if q.format == "q4a":
        if q.zeros is None or np.asarray(q.zeros).shape != (lay.N, lay.groups):
            raise ValueError(f"matrix {name!r}: q4a needs zero points of shape {(lay.N, lay.groups)}")
        if np.asarray(q.zeros).max(initial=0) > 15:
            raise ValueError(f"matrix {name!r}: q4a zero points must be in [0, 15]")


# ---------------------------------------------------------------------------
# Reader


@dataclass(frozen=True)
class TensorEntry:
    """One validated row of the tensor table."""

    spec: TensorSpec
    offset: int  # relative to data_offset, as in the table
    nbytes: int
    crc32: int

    @property
    def name(self) -> str:
        return self.spec.name


@dataclass
class QasrContents:
    """A validated ``.qasr`` file read into memory."""

    path: str
    version: tuple[int, int]
    flags: int
    header: dict
    header_size: int
    data_offset: int
    file_size: int
    entries: list[TensorEntry]
    _buf: Any = field(repr=False, default=None)
    _index: dict = field(repr=False, default_factory=dict)

    def __post_init__(self) -> None:
        self._index = {e.name: e for e in self.entries}

    @property
    def names(self) -> list[str]:
        return [e.name for e in self.entries]

    def __contains__(self, name: str) -> bool:
        return name in self._index

    def entry(self, name: str) -> TensorEntry:
        e = self._index.get(name)
        if e is None:
            raise ValueError(f"{self.path}: tensor {name!r} is missing")
        return e

    def raw(self, name: str) -> memoryview:
        """The tensor's bytes as stored."""
        e = self.entry(name)
        start = self.data_offset + e.offset
        return memoryview(self._buf)[start:start + e.nbytes]

    def array(self, name: str) -> np.ndarray:
        """A plain tensor as a read-only numpy array (no copy)."""
        e = self.entry(name)
        if e.spec.packed:
            raise ValueError(f"{self.path}: tensor {name!r} is a packed {e.spec.format} matrix; use matrix()")
        a = np.frombuffer(self.raw(name), dtype=DTYPES[e.spec.dtype])
        return a.reshape(e.spec.shape)

    def matrix(self, name: str) -> Union[np.ndarray, QuantizedWeight]:
        """A packed matrix unpacked: float32 W[N, K] for f32, else a QuantizedWeight."""
        e = self.entry(name)
        if not e.spec.packed:
            raise ValueError(f"{self.path}: tensor {name!r} is a plain {e.spec.dtype} tensor, not a packed matrix")
        N, K = e.spec.shape
        blob = bytes(self.raw(name))
        if e.spec.format == "f32":
            return unpack_f32(blob, N, K)
        return unpack(blob, e.spec.format, N, K, e.spec.group)

    def breakdown(self) -> SizeBreakdown:
        return size_breakdown(self.header_size, [e.spec for e in self.entries])


def _reject_duplicates(pairs: list) -> dict:
    out = {}
    for k, v in pairs:
        if k in out:
            raise ValueError(f"duplicate key {k!r}")
        out[k] = v
    return out


def _reject_constant(name: str) -> None:
    raise ValueError(f"{name} is not valid JSON")


def _int(value: Any, what: str, lo: int = 0, hi: int = 2**63 - 1) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"{what} must be an integer")
    if isinstance(value, float):
        if not value.is_integer() or abs(value) > 2**53:
            raise ValueError(f"{what} must be an integer")
        value = int(value)
    if value < 0 and lo == 0 and what in ("offset", "nbytes"):
        raise ValueError(f"{what} {value} is negative")
    if not lo <= value <= hi:
        raise ValueError(f"{what} {value} is out of range ({lo} .. {hi})")
    return value


def _parse_entry(e: Any, i: int, seen: dict) -> TensorEntry:
    if not isinstance(e, dict):
        raise ValueError(f"tensor #{i}: entry must be an object")
    name = e.get("name")
    if not isinstance(name, str):
        raise ValueError(f"tensor #{i}: 'name' must be a string")
    try:
        _check_name(name)
    except ValueError:
        raise ValueError(f"tensor #{i}: name must be 1 .. {MAX_NAME_BYTES} bytes without NUL") from None
    where = f"tensor {name!r}"
    if name in seen:
        raise ValueError(f"{where}: duplicate name (tensors #{seen[name]} and #{i})")
    try:
        dtype, packed = e.get("dtype"), e.get("packed")
        if (dtype is None) == (packed is None):
            raise ValueError("must have exactly one of 'dtype' and 'packed'")
        shape = e.get("shape")
        if not isinstance(shape, list):
            raise ValueError("'shape' must be an array")
        if packed is not None and len(shape) != 2:
            raise ValueError(f"a packed matrix needs a 2-D shape [N, K], got {len(shape)} dimensions")
        if len(shape) > MAX_DIMS:
            raise ValueError(f"shape has {len(shape)} dimensions (at most {MAX_DIMS})")
        dims = tuple(_int(d, "shape dimension", 1 if packed is not None else 0, MAX_DIM) for d in shape)
        if packed is not None:
            if not isinstance(packed, dict) or not isinstance(packed.get("format"), str):
                raise ValueError("'packed' must be an object with a string 'format'")
            if packed["format"] not in FORMATS:
                raise ValueError(f"unknown weight format {packed['format']!r}")
            spec = TensorSpec(name, dims, format=packed["format"], group=_int(packed.get("group"), "group", 0, 4096))
        else:
            if dtype not in DTYPES:
                raise ValueError(f"unknown dtype {dtype!r} (expected f32, f16, i32 or u8)")
            spec = TensorSpec(name, dims, dtype=dtype)
        offset = _int(e.get("offset"), "offset")
        nbytes = _int(e.get("nbytes"), "nbytes")
        crc = e.get("crc32")
        if not isinstance(crc, str) or not _CRC_RE.match(crc):
            raise ValueError("crc32 must be 8 lowercase hex digits")
        expected = spec.nbytes
        if expected >= 2**64:  # where the C++ reader's size arithmetic would overflow
            raise ValueError(f"shape {list(dims)} is too large (its size overflows)")
        if nbytes != expected:
            kind = f"packed {spec.format} {list(dims)} group {spec.group}" if spec.packed else f"{dtype} {list(dims)}"
            raise ValueError(f"nbytes {nbytes} does not match {kind} (needs {expected})")
    except ValueError as err:
        raise ValueError(f"{where}: {err}") from None
    return TensorEntry(spec, offset, nbytes, int(crc, 16))


def _validate(buf: Any, verify: bool) -> QasrContents:
    n = len(buf)
    if n < 8 or bytes(buf[:8]) != MAGIC:
        raise ValueError("not a .qasr file (bad magic)")
    truncated = f"file is truncated ({n} bytes; the preamble alone is {PREAMBLE_SIZE})"
    if n < 12:
        raise ValueError(truncated)
    major, minor = struct.unpack_from("<HH", buf, 8)
    version = f"{major}.{minor}"
    if major == 0:
        raise ValueError(f"invalid format version {version}")
    if major > FORMAT_MAJOR:
        raise ValueError(f"format version {version} is newer than this reader supports ({FORMAT_MAJOR}.x); "
                         "upgrade qasr_native")
    if n < PREAMBLE_SIZE:
        raise ValueError(truncated)
    _, _, _, flags, header_size, data_offset, file_size, header_crc, preamble_crc = _PREAMBLE.unpack_from(buf, 0)
    if verify and zlib.crc32(buf[:44]) != preamble_crc:
        raise ValueError(f"preamble checksum mismatch (stored {preamble_crc:08x}, computed "
                         f"{zlib.crc32(buf[:44]):08x}): the file is corrupted")
    if flags & INCOMPATIBLE_FLAGS:
        raise ValueError(f"file needs features this reader does not know (flags 0x{flags & INCOMPATIBLE_FLAGS:08x})")
    if file_size > n:
        raise ValueError(f"file is truncated ({n} bytes; its preamble says {file_size})")
    if file_size < n:
        raise ValueError(f"file has {n - file_size} unexpected bytes after its end (its preamble says {file_size} bytes)")
    if not 2 <= header_size <= MAX_HEADER_SIZE:
        raise ValueError(f"header size {header_size} is invalid (2 .. {MAX_HEADER_SIZE} bytes)")
    if header_size > n - PREAMBLE_SIZE:
        raise ValueError(f"header ({header_size} bytes) extends past the end of the file ({n} bytes)")
    header_end = PREAMBLE_SIZE + header_size
    if data_offset != align64(header_end):
        raise ValueError(f"data offset {data_offset} is not the first 64-byte boundary after the header "
                         f"({align64(header_end)})")
    if data_offset > n:
        raise ValueError(f"data offset {data_offset} is past the end of the file ({n} bytes)")
    _check_zero(buf, header_end, data_offset, "the header padding")
    text = bytes(buf[PREAMBLE_SIZE:header_end])
    if verify and zlib.crc32(text) != header_crc:
        raise ValueError(f"header checksum mismatch (stored {header_crc:08x}, computed {zlib.crc32(text):08x}): "
                         "the file is corrupted")
    try:
        header = json.loads(text.decode("utf-8"), object_pairs_hook=_reject_duplicates,
                            parse_constant=_reject_constant)
    except (UnicodeDecodeError, ValueError, RecursionError) as e:
        raise ValueError(f"header JSON: {e}") from None
    if not isinstance(header, dict):
        raise ValueError("header must be a JSON object")
    _json_limits(header, "header JSON")
    if header.get("format_version") != version:
        raise ValueError(f"header format_version {header.get('format_version')!r} differs from the preamble's {version}")
    model = header.get("model")
    if not isinstance(model, dict) or not isinstance(model.get("family"), str):
        raise ValueError("header member 'model' must be an object with a string 'family'")
    for key in SECTIONS[1:]:
        if key in header and not isinstance(header[key], dict):
            raise ValueError(f"header member {key!r} must be an object")
    table = header.get("tensors")
    if not isinstance(table, list):
        raise ValueError("header member 'tensors' must be an array")

    data_size = n - data_offset
    entries: list[TensorEntry] = []
    seen: dict[str, int] = {}
    nxt = prev_end = 0
    for i, raw in enumerate(table):
        e = _parse_entry(raw, i, seen)
        where = f"tensor {e.name!r}"
        prev = f"tensor {entries[-1].name!r}" if entries else "the header"
        if e.offset % ALIGN:
            raise ValueError(f"{where}: offset {e.offset} is not a multiple of 64")
        if e.offset > data_size or e.nbytes > data_size - e.offset:
            raise ValueError(f"{where}: its bytes [{e.offset}, {e.offset} + {e.nbytes}) after the data offset extend "
                             f"past the end of the file ({data_size} data bytes)")
        if e.offset < nxt:
            raise ValueError(f"{where}: offset {e.offset} overlaps {prev}, which ends at {prev_end} "
                             "(tensors are stored in table order without overlap)")
        if e.offset > nxt:
            raise ValueError(f"{where}: offset {e.offset} leaves a gap after {prev} (expected offset {nxt}: "
                             "each tensor starts at the next 64-byte boundary)")
        _check_zero(buf, data_offset + prev_end, data_offset + e.offset, "the padding between tensors")
        seen[e.name] = i
        entries.append(e)
        prev_end = e.offset + e.nbytes
        nxt = align64(prev_end)
    if prev_end != data_size:
        last = f"the last tensor {entries[-1].name!r}" if entries else "the header"
        raise ValueError(f"{data_size - prev_end} bytes after {last} are not described by the tensor table")

    contents = QasrContents("", (major, minor), flags, header, header_size, data_offset, n, entries, buf)
    if verify:
        for e in entries:
            got = zlib.crc32(contents.raw(e.name))
            if got != e.crc32:
                raise ValueError(f"tensor {e.name!r}: checksum mismatch (stored {e.crc32:08x}, computed {got:08x}): "
                                 "the file is corrupted")
    for e in entries:
        if e.spec.packed and e.spec.format != "f32":
            _check_values(contents, e)
    return contents


def _check_zero(buf: Any, begin: int, end: int, what: str) -> None:
    if end > begin:
        pad = np.frombuffer(buf, dtype=np.uint8, count=end - begin, offset=begin)
        nz = np.flatnonzero(pad)
        if nz.size:
            raise ValueError(f"non-zero byte in {what} at file offset {begin + int(nz[0])}")


def _check_values(contents: QasrContents, e: TensorEntry) -> None:
    lay = layout(e.spec.format, *e.spec.shape, e.spec.group)
    raw = contents.raw(e.name)
    sc = np.frombuffer(raw, dtype="<u2", count=lay.scales_bytes // 2, offset=lay.scales_offset)
    rows = sc.reshape(lay.panels, lay.groups, 16).transpose(0, 2, 1).reshape(-1, lay.groups)[: lay.N]
    bad = np.argwhere((rows & 0x7C00) == 0x7C00)
    if bad.size:
        r, g = bad[0]
        raise ValueError(f"tensor {e.name!r}: scale of row {r}, group {g} is not finite (f16 0x{int(rows[r, g]):04x})")
    if e.spec.format == "q4a":
        z = np.frombuffer(raw, dtype=np.uint8, count=lay.zeros_bytes, offset=lay.zeros_offset)
        zr = z.reshape(lay.panels, lay.groups, 16).transpose(0, 2, 1).reshape(-1, lay.groups)[: lay.N]
        bad = np.argwhere(zr > 15)
        if bad.size:
            r, g = bad[0]
            raise ValueError(f"tensor {e.name!r}: zero point {int(zr[r, g])} of row {r}, group {g} is outside [0, 15]")


def read_qasr(path: Union[str, os.PathLike], verify: bool = True) -> QasrContents:
    """Reads and validates a ``.qasr`` file; raises ValueError naming the file and the problem.

    The file is memory-mapped; arrays returned by the result view the mapping.
    ``verify=False`` skips the checksums (every structural check still runs).
    """
    path = os.fspath(path)
    try:
        with open(path, "rb") as f:
            if not os.path.isfile(path):
                raise ValueError(f"{path}: not a regular file")
            size = os.fstat(f.fileno()).st_size
            if size == 0:
                raise ValueError(f"{path}: file is empty")
            buf = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
    except OSError as e:
        raise ValueError(f"{path}: cannot open: {e.strerror or e}") from None
    return _finish(path, buf, verify)


def read_qasr_bytes(data: bytes, verify: bool = True) -> QasrContents:
    """:func:`read_qasr` on a file image in memory."""
    if len(data) == 0:
        raise ValueError("<memory>: file is empty")
    return _finish("<memory>", bytes(data), verify)


def _finish(path: str, buf: Any, verify: bool) -> QasrContents:
    try:
        contents = _validate(buf, verify)
    except ValueError as e:
        raise ValueError(f"{path}: {e}") from None
    contents.path = path
    return contents
