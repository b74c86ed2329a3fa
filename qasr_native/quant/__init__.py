"""The Python mirror of the core's quantization math (docs/quantization.md).

Everything here produces the same codes, scales and packed bytes as the C++
core and exact integer sums; personalization, quantization-aware training
and the tests are built on it.
"""

from .formats import BLOCK, PANEL, FORMATS, Layout, layout, matrix_nbytes
from .mirror import (
    QuantizedWeight,
    default_scales,
    dequantize,
    pack,
    pack_f32,
    qmatmul,
    quantize_activations,
    quantize_weight,
    unpack,
    unpack_f32,
)

__all__ = [
    "BLOCK",
    "PANEL",
    "FORMATS",
    "Layout",
    "layout",
    "matrix_nbytes",
    "QuantizedWeight",
    "default_scales",
    "dequantize",
    "pack",
    "pack_f32",
    "qmatmul",
    "quantize_activations",
    "quantize_weight",
    "unpack",
    "unpack_f32",
]
