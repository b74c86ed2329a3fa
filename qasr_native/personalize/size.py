"""Exact `.qasr` sizes for per-layer assignments, and budgets.

The size of a file is decided by the writer's own plan
(:class:`qasr_native.export.qasr_file.SizeModel`): this module only swaps
the layers' tensor specs (format, group) and their entries in the header's
``quantization.layers`` section into the float model's plan, then asks the
SizeModel. There is no second size formula; a test writes files for random
assignments and checks prediction == ``os.path.getsize``.

Budgets (:func:`parse_budget`):

- ``12MB`` / ``12 MB`` = 12 * 10^6 bytes, ``KB`` = 10^3, ``GB`` = 10^9;
- ``12MiB`` = 12 * 2^20 bytes, ``KiB`` = 2^10, ``GiB`` = 2^30;
- ``123456`` or ``123456B``: bytes;
- ``0.25x`` or ``25%``: that fraction of the model's float32 `.qasr` size.
"""

from __future__ import annotations

import copy
import re
from typing import Callable, Dict, List, Mapping, Optional, Sequence

from ..export.qasr_file import SizeModel, TensorSpec, align64
from ..quant.mirror import QuantizedWeight
from ..quant.torch_mirror import layer_spec

_UNITS = {"": 1, "b": 1, "kb": 10**3, "mb": 10**6, "gb": 10**9,
          "kib": 2**10, "mib": 2**20, "gib": 2**30}
_BUDGET_RE = re.compile(r"^\s*([0-9]*\.?[0-9]+(?:[eE][+-]?[0-9]+)?)\s*([a-zA-Z%]*)\s*$")


def parse_budget(text, float_size: Optional[int] = None) -> int:
    """Budget in bytes from "1.2MB", "900KiB", "123456", "0.3x" or "30%".

    Ratios need ``float_size`` (bytes of the float32 file). Raises ValueError
    with the accepted forms on anything else.
    """
    if isinstance(text, (int,)) and not isinstance(text, bool):
        value, unit = float(text), ""
    else:
        m = _BUDGET_RE.match(str(text))
        if not m:
            raise ValueError(f"budget {text!r} is not understood; use e.g. 12MB (10^6 bytes), 12MiB (2^20), "
                             "900KB, 123456 (bytes), 0.3x or 30% (of the float32 size)")
        value, unit = float(m.group(1)), m.group(2).lower()
    if unit in ("x", "%"):
        if float_size is None:
            raise ValueError(f"budget {text!r} is relative: the float32 size is needed")
        frac = value / 100.0 if unit == "%" else value
        if frac <= 0:
            raise ValueError(f"budget {text!r} must be positive")
        return int(frac * float_size)
    if unit not in _UNITS:
        raise ValueError(f"budget {text!r}: unknown unit {unit!r} (B, KB, MB, GB = powers of 10; KiB, MiB, GiB = of 2; "
                         "x or % of the float32 size)")
    n = int(value * _UNITS[unit])
    if n <= 0:
        raise ValueError(f"budget {text!r} must be positive")
    return n


def format_bytes(n: int) -> str:
    """"1234567 B (1.235 MB, 1.177 MiB)": both unit systems, as the design asks."""
    return f"{n} B ({n / 1e6:.3f} MB, {n / 2**20:.3f} MiB)"


def spec_of(spec) -> tuple:
    """(format, group) of a spec or QuantizedWeight (simulated widths included: they are priced)."""
    return layer_spec(spec, simulated=True)


def _patch_quantization(header: dict, assignment: Mapping[str, tuple]) -> dict:
    """The header with ``quantization.layers`` entries of the assigned layers replaced."""
    q = header.get("quantization")
    if not isinstance(q, dict) or not isinstance(q.get("layers"), dict):
        return header
    out = dict(header)
    out["quantization"] = dict(q)
    layers = dict(q["layers"])
    for name, (fmt, group) in assignment.items():
        if name in layers:
            layers[name] = {"format": fmt, "group": group}
    out["quantization"]["layers"] = layers
    return out


class AssignmentSizer:
    """Exact file sizes for per-layer precisions of one model.

    ``header`` and ``specs`` are the float model's writer plan; ``tensors``
    maps each layer name to its weight tensor's name. ``file_size`` prices
    any assignment {layer: spec}; layers not named keep the base spec.
    """

    def __init__(self, header: dict, specs: Sequence[TensorSpec], tensors: Mapping[str, str],
                 header_fn: Callable[[dict, Mapping[str, tuple]], dict] = _patch_quantization) -> None:
        self.header = copy.deepcopy(header)
        self.specs = list(specs)
        self.tensors = dict(tensors)
        self.header_fn = header_fn
        index = {s.name: i for i, s in enumerate(self.specs)}
        missing = [t for t in self.tensors.values() if t not in index]
        if missing:
            raise ValueError(f"layers' tensors are not in the file plan: {', '.join(missing[:5])}")
        self._index = {layer: index[t] for layer, t in self.tensors.items()}

    def with_provenance(self, **fields) -> "AssignmentSizer":
        """A sizer whose header carries these provenance fields (the final file's)."""
        h = copy.deepcopy(self.header)
        prov = dict(h.get("provenance") or {})
        prov.update(fields)
        h["provenance"] = prov
        return AssignmentSizer(h, self.specs, self.tensors, self.header_fn)

    def plan(self, assignment: Mapping[str, object]):
        specs = list(self.specs)
        resolved = {}
        for name, spec in assignment.items():
            if name not in self._index:
                raise ValueError(f"{name!r} is not a quantizable layer of this model")
            fmt, group = spec_of(spec)
            i = self._index[name]
            specs[i] = TensorSpec(specs[i].name, specs[i].shape, format=fmt, group=group)
            resolved[name] = (fmt, group)
        return SizeModel(self.header_fn(self.header, resolved)).plan(specs)

    def file_size(self, assignment: Mapping[str, object]) -> int:
        """Exact bytes of the `.qasr` file with these layer precisions."""
        return self.plan(assignment).file_size

    def tensor_bytes(self, name: str, spec) -> int:
        """Bytes the layer's weight takes in the file, with its alignment padding."""
        fmt, group = spec_of(spec)
        s = self.specs[self._index[name]]
        return align64(TensorSpec(s.name, s.shape, format=fmt, group=group).nbytes)

    def breakdown(self, assignment: Mapping[str, object]) -> dict:
        return self.plan(assignment).breakdown().as_dict()


__all__ = ["parse_budget", "format_bytes", "AssignmentSizer", "spec_of"]
