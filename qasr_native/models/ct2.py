"""Reader for CTranslate2 model files (``model.bin``), written from the format.

CTranslate2 stores every variable of a model in one little-endian binary
file without padding. This module parses it with numpy only (no
``ctranslate2`` needed) and validates everything it reads, because the files
come from users and from third-party packages:

.. code-block:: text

    uint32  binary_version                    (1 .. 6 are known)
    [v>=2]  string spec_name, uint32 spec_revision
    uint32  num_variables
    num_variables times:
        string  name                          (scopes joined by "/")
        uint8   rank, then rank x uint32 dims
        [v>=4]  uint8 dtype_id, uint32 num_bytes
        [v<4]   uint8 item_size, uint32 num_elements
        the raw values, C order
    [v>=3]  uint32 num_aliases, then num_aliases x (string alias, string target)

    string = uint16 n (bytes including a trailing NUL), then n bytes
    dtype_id: 0 float32, 1 int8, 2 int16, 3 int32, 4 float16, 5 bfloat16

Quantized weights (``.../weight`` as int8 or int16) come with a float
``.../weight_scale``: int8 has one scale per output row (for 3-D conv
weights, per output channel over the flattened ``in x kernel``; very old
converters wrote one per (row, tap)) and int16 one scale for the tensor;
the float value is ``q / scale``. An alias shares the target's data, and its
``_scale`` is the target's ``_scale``.

Some packages split ``model.bin`` into ``model.bin.part1``, ``.part2``, ...
(possibly in different directories, e.g. one per PyPI package, because of
registry size limits); the parts are byte ranges of the same file and are
read as their concatenation.
"""

from __future__ import annotations

import mmap
import os
import re
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, Iterable, List, Optional, Sequence, Tuple, Union

import numpy as np

__all__ = [
    "CT2_DTYPES",
    "Ct2FormatError",
    "Ct2Variable",
    "Ct2Model",
    "find_model_files",
    "read_ct2_model",
]

#: dtype id -> (name, numpy storage dtype); bfloat16 is kept as raw uint16.
CT2_DTYPES: Dict[int, Tuple[str, np.dtype]] = {
    0: ("float32", np.dtype("<f4")),
    1: ("int8", np.dtype("i1")),
    2: ("int16", np.dtype("<i2")),
    3: ("int32", np.dtype("<i4")),
    4: ("float16", np.dtype("<f2")),
    5: ("bfloat16", np.dtype("<u2")),
}
_LEGACY_ITEM_SIZES = {4: 0, 2: 2, 1: 1}  # v<4 stored only the item size
_KNOWN_BINARY_VERSIONS = range(1, 7)
_MAX_RANK = 8
# CTranslate2's fallback for int16 weights saved without a scale (old files).
_LEGACY_INT16_SCALE = 1000.0

PathLike = Union[str, os.PathLike]


class Ct2FormatError(ValueError):
    """A CTranslate2 model file is missing, truncated or malformed."""


@dataclass(frozen=True)
class Ct2Variable:
    """One stored variable: raw values exactly as in the file."""

    name: str
    shape: Tuple[int, ...]
    dtype: str  #: CTranslate2 dtype name (see :data:`CT2_DTYPES`)
    data: np.ndarray  #: raw values (bfloat16 as uint16 bit patterns), shaped
    offset: int  #: byte offset of the values in the (concatenated) file

    @property
    def is_scalar(self) -> bool:
        return len(self.shape) == 0

    def as_float32(self) -> np.ndarray:
        """The values as float32 without any quantization scale applied."""
        if self.dtype == "bfloat16":
            return (self.data.astype(np.uint32) << 16).view(np.float32)
        return self.data.astype(np.float32)


class _Source:
    """The bytes of one model file, possibly given as consecutive parts."""

    def __init__(self, files: Sequence[Path]):
        self.files = list(files)
        self.bounds: List[Tuple[int, int, Path]] = []
        if len(self.files) == 1:
            path = self.files[0]
            with open(path, "rb") as f:
                size = os.fstat(f.fileno()).st_size
                # mmap keeps the data out of the Python heap; numpy views of
                # it stay valid after the file object is closed.
                self.buf = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) if size else b""
            self.bounds.append((0, size, path))
        else:
            sizes = [p.stat().st_size for p in self.files]
            buf = bytearray(sum(sizes))  # one copy of the joined parts, no more
            view = memoryview(buf)
            start = 0
            for path, size in zip(self.files, sizes):
                with open(path, "rb") as f:
                    got = f.readinto(view[start : start + size])
                if got != size:
                    raise Ct2FormatError(f"{path}: read {got} of {size} bytes (file changed while reading?)")
                self.bounds.append((start, start + size, path))
                start += size
            view.release()
            self.buf = buf
        self.size = len(self.buf)

    @property
    def label(self) -> str:
        if len(self.files) == 1:
            return str(self.files[0])
        return " + ".join(str(p) for p in self.files)

    def where(self, offset: int) -> str:
        """Names the file (and part) holding byte ``offset``."""
        if len(self.files) == 1:
            return f"{self.files[0]} at byte {offset}"
        for start, end, path in self.bounds:
            if start <= offset < end:
                return f"{path} (bytes {start}.. of the joined parts) at byte {offset - start}"
        return f"{self.label} at byte {offset} (past the end of the last part)"


class _Cursor:
    """Sequential reads with bounds checks that name the file and field."""

    def __init__(self, src: _Source):
        self.src = src
        self.pos = 0

    def need(self, n: int, what: str) -> None:
        if n < 0 or self.pos + n > self.src.size:
            raise Ct2FormatError(
                f"{self.src.label}: truncated or corrupt model file: {what} needs {n} bytes at "
                f"offset {self.pos}, but the file has {self.src.size} bytes"
            )

    def unpack(self, fmt: str, what: str):
        n = struct.calcsize("<" + fmt)
        self.need(n, what)
        values = struct.unpack_from("<" + fmt, self.src.buf, self.pos)
        self.pos += n
        return values if len(values) > 1 else values[0]

    def string(self, what: str) -> str:
        n = self.unpack("H", f"the length of {what}")
        self.need(n, what)
        raw = bytes(self.src.buf[self.pos : self.pos + n])
        if n == 0 or raw[-1] != 0:
            raise Ct2FormatError(
                f"{self.src.where(self.pos)}: {what} is not a NUL-terminated string (length {n})"
            )
        self.pos += n
        try:
            return raw[:-1].decode("utf-8")
        except UnicodeDecodeError as e:
            raise Ct2FormatError(f"{self.src.where(self.pos - n)}: {what} is not UTF-8: {e}") from None


@dataclass
class Ct2Model:
    """A parsed ``model.bin``: header, variables and aliases."""

    files: List[Path]
    binary_version: int
    spec: str
    revision: int
    variables: Dict[str, Ct2Variable]
    aliases: Dict[str, str] = field(default_factory=dict)

    @property
    def label(self) -> str:
        return " + ".join(str(p) for p in self.files)

    def __contains__(self, name: str) -> bool:
        return name in self.variables or name in self.aliases

    def names(self) -> List[str]:
        """All names, variables and aliases, sorted."""
        return sorted(set(self.variables) | set(self.aliases))

    def resolve(self, name: str) -> str:
        """The stored variable behind ``name`` (follows an alias)."""
        if name in self.variables:
            return name
        if name in self.aliases:
            return self.aliases[name]
        raise Ct2FormatError(f"{self.label}: variable '{name}' not found")

    def raw(self, name: str) -> Ct2Variable:
        return self.variables[self.resolve(name)]

    def scalar(self, name: str, default=None):
        """A rank-0 variable as a Python number (``default`` if absent)."""
        if name not in self:
            if default is not None:
                return default
            raise Ct2FormatError(f"{self.label}: variable '{name}' not found")
        var = self.raw(name)
        if not var.is_scalar:
            raise Ct2FormatError(f"{self.label}: variable '{name}' has shape {list(var.shape)}, expected a scalar")
        value = var.as_float32() if var.dtype in ("float16", "bfloat16") else var.data
        return value.item()

    def scale_of(self, name: str) -> Optional[np.ndarray]:
        """The float32 quantization scale stored for weight ``name`` (or None)."""
        target = self.resolve(name)
        scale_name = target + "_scale"
        if scale_name in self.variables:
            return self.variables[scale_name].as_float32()
        return None

    def float32(self, name: str) -> np.ndarray:
        """Variable ``name`` as float32, dequantized when it is int8/int16.

        The result is a new array (never a view of the file).
        """
        var = self.raw(name)
        if var.dtype in ("float32", "float16", "bfloat16"):
            return np.array(var.as_float32(), dtype=np.float32, copy=True)
        if var.dtype not in ("int8", "int16"):
            raise Ct2FormatError(
                f"{self.label}: variable '{name}' has dtype {var.dtype}, which is not a float or quantized weight"
            )
        if self.resolve(name) + "_zero" in self.variables:
            raise Ct2FormatError(
                f"{self.label}: variable '{name}' has a zero point ('_zero', AWQ-style 4-bit packing); "
                "only CTranslate2's own int8/int16 quantization is supported"
            )
        scale = self.scale_of(name)
        if scale is None:
            if var.dtype == "int16":
                scale = np.float32(_LEGACY_INT16_SCALE)
            else:
                raise Ct2FormatError(f"{self.label}: quantized variable '{name}' ({var.dtype}) has no '_scale'")
        q = var.data.astype(np.float32)
        scale = np.asarray(scale, dtype=np.float32)
        if scale.ndim == 0 or scale.size == 1:
            out = q / scale.reshape(())
        elif q.ndim >= 2 and scale.shape == (q.shape[0],):
            out = q / scale.reshape((q.shape[0],) + (1,) * (q.ndim - 1))
        elif q.ndim == 3 and scale.shape == (q.shape[0], q.shape[2]):
            out = q / scale[:, None, :]
        else:
            raise Ct2FormatError(
                f"{self.label}: variable '{name}' has shape {list(q.shape)} but its scale has shape "
                f"{list(scale.shape)}; expected one scale per output row or a single scale"
            )
        if not np.all(np.isfinite(scale)) or np.any(scale == 0):
            raise Ct2FormatError(f"{self.label}: variable '{name}' has zero or non-finite quantization scales")
        return out.astype(np.float32, copy=False)


_PART_RE = re.compile(r"^model\.bin\.part(\d+)$")


def find_model_files(paths: Union[PathLike, Sequence[PathLike]]) -> List[Path]:
    """The file(s) holding one model: ``model.bin`` or its ordered parts.

    ``paths`` is a directory, a ``model.bin`` file, or a list of directories
    (or part files) whose union holds ``model.bin.part1 .. partN``, each
    exactly once.
    """
    items = [Path(paths)] if isinstance(paths, (str, os.PathLike)) else [Path(p) for p in paths]
    if not items:
        raise Ct2FormatError("no CTranslate2 model path given")
    singles: List[Path] = []
    parts: Dict[int, List[Path]] = {}
    for item in items:
        if item.is_file():
            m = _PART_RE.match(item.name)
            if m:
                parts.setdefault(int(m.group(1)), []).append(item)
            else:
                singles.append(item)
            continue
        if not item.is_dir():
            raise FileNotFoundError(f"CTranslate2 model path does not exist: {item}")
        if (item / "model.bin").is_file():
            singles.append(item / "model.bin")
        for child in item.iterdir():
            m = _PART_RE.match(child.name)
            if m and child.is_file():
                parts.setdefault(int(m.group(1)), []).append(child)
    if singles and parts:
        raise Ct2FormatError(
            f"both a whole model file ({singles[0]}) and split parts ({sorted(parts)}) were found; "
            "give only one of them"
        )
    if len(singles) > 1:
        raise Ct2FormatError(f"more than one model.bin given: {', '.join(map(str, singles))}")
    if singles:
        return singles
    if not parts:
        where = ", ".join(str(p) for p in items)
        raise FileNotFoundError(f"no model.bin (nor model.bin.part1, part2, ...) in {where}")
    for number, found in parts.items():
        if len(found) > 1:
            raise Ct2FormatError(f"part {number} of model.bin was found twice: {', '.join(map(str, found))}")
    expected = list(range(1, max(parts) + 1))
    missing = [n for n in expected if n not in parts]
    if missing or min(parts) != 1:
        raise Ct2FormatError(
            f"model.bin is split into parts but part(s) {missing or [0]} are missing "
            f"(found {sorted(parts)} in {', '.join(str(p) for p in items)})"
        )
    return [parts[n][0] for n in expected]


def read_ct2_model(paths: Union[PathLike, Sequence[PathLike]]) -> Ct2Model:
    """Parses a CTranslate2 model file (see the module docstring).

    Raises :class:`Ct2FormatError` (a ``ValueError``) naming the file, the
    variable and the problem for truncated files, unknown versions or dtypes,
    shapes that disagree with the stored byte counts, duplicate names,
    dangling aliases and trailing garbage; ``FileNotFoundError`` when there is
    no model file.
    """
    files = find_model_files(paths)
    src = _Source(files)
    cur = _Cursor(src)

    version = cur.unpack("I", "the binary version")
    if version not in _KNOWN_BINARY_VERSIONS:
        raise Ct2FormatError(
            f"{src.label}: unsupported CTranslate2 binary version {version} "
            f"(this reader knows versions {_KNOWN_BINARY_VERSIONS.start}..{_KNOWN_BINARY_VERSIONS.stop - 1}); "
            "is this a CTranslate2 model.bin?"
        )
    if version >= 2:
        spec = cur.string("the spec name")
        revision = cur.unpack("I", "the spec revision")
    else:
        spec, revision = "", 1

    count = cur.unpack("I", "the number of variables")
    variables: Dict[str, Ct2Variable] = {}
    for index in range(count):
        name = cur.string(f"the name of variable #{index}")
        what = f"variable '{name}'"
        rank = cur.unpack("B", f"the rank of {what}")
        if rank > _MAX_RANK:
            raise Ct2FormatError(f"{src.where(cur.pos - 1)}: {what} has rank {rank} (at most {_MAX_RANK} expected)")
        cur.need(4 * rank, f"the shape of {what}")
        dims = tuple(int(d) for d in struct.unpack_from("<" + "I" * rank, src.buf, cur.pos)) if rank else ()
        cur.pos += 4 * rank
        if version >= 4:
            type_id = cur.unpack("B", f"the dtype of {what}")
            num_bytes = cur.unpack("I", f"the byte count of {what}")
            if type_id not in CT2_DTYPES:
                known = ", ".join(f"{k}={v[0]}" for k, v in CT2_DTYPES.items())
                raise Ct2FormatError(
                    f"{src.where(cur.pos - 5)}: {what} has unknown dtype id {type_id} (known: {known})"
                )
        else:
            item_size = cur.unpack("B", f"the item size of {what}")
            num_items = cur.unpack("I", f"the element count of {what}")
            if item_size not in _LEGACY_ITEM_SIZES:
                raise Ct2FormatError(f"{src.where(cur.pos - 5)}: {what} has unknown item size {item_size}")
            type_id = _LEGACY_ITEM_SIZES[item_size]
            num_bytes = num_items * item_size
        dtype_name, np_dtype = CT2_DTYPES[type_id]
        elements = int(np.prod(dims, dtype=np.int64)) if dims else 1
        if elements * np_dtype.itemsize != num_bytes:
            raise Ct2FormatError(
                f"{src.where(cur.pos)}: {what} has inconsistent shape {list(dims)} and dtype {dtype_name} "
                f"({elements * np_dtype.itemsize} bytes) but stores {num_bytes} bytes"
            )
        cur.need(num_bytes, f"the data of {what} (shape {list(dims)}, {dtype_name})")
        if name in variables:
            raise Ct2FormatError(f"{src.where(cur.pos)}: {what} is stored twice")
        data = np.frombuffer(src.buf, dtype=np_dtype, count=elements, offset=cur.pos).reshape(dims)
        data.flags.writeable = False  # views of the file: copy (float32()) to modify
        variables[name] = Ct2Variable(name, dims, dtype_name, data, cur.pos)
        cur.pos += num_bytes

    aliases: Dict[str, str] = {}
    if version >= 3:
        num_aliases = cur.unpack("I", "the number of aliases")
        for index in range(num_aliases):
            alias = cur.string(f"the name of alias #{index}")
            target = cur.string(f"the target of alias '{alias}'")
            if target not in variables:
                raise Ct2FormatError(f"{src.label}: alias '{alias}' points to unknown variable '{target}'")
            if alias in variables or alias in aliases:
                raise Ct2FormatError(f"{src.label}: alias '{alias}' clashes with another name")
            aliases[alias] = target
    if cur.pos != src.size:
        raise Ct2FormatError(
            f"{src.label}: {src.size - cur.pos} unexpected bytes after the last record (offset {cur.pos}); "
            "the file is corrupt or not a CTranslate2 model"
        )
    return Ct2Model(files, version, spec, revision, variables, aliases)


def iter_quantized(model: Ct2Model) -> Iterable[str]:
    """Names of the int8/int16 weights (those that carry a scale)."""
    return (n for n, v in model.variables.items() if v.dtype in ("int8", "int16") and not v.is_scalar)
