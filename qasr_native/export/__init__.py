"""Export: packing models into the native `.qasr` file (docs/format.md)."""

from .qasr_file import (
    QasrContents,
    QasrWriter,
    SizeBreakdown,
    SizeModel,
    TensorSpec,
    plan_file,
    predict_file_size,
    read_qasr,
    read_qasr_bytes,
    size_breakdown,
)

__all__ = [
    "QasrContents",
    "QasrWriter",
    "SizeBreakdown",
    "SizeModel",
    "TensorSpec",
    "plan_file",
    "predict_file_size",
    "read_qasr",
    "read_qasr_bytes",
    "size_breakdown",
]
