// The object behind _core.PackedMatrix, shared by the kernel and format
// bindings: a packed matrix either owns its bytes (packed in memory) or views
// a mapped .qasr file, which `owner` keeps alive, so reading a model copies
// no weights.
#pragma once

#include <memory>

#include "kernels/packed.h"
#include "kernels/quantize.h"

namespace qasr::py_bindings {

struct OwnedPacked {
  AlignedBytes bytes;
  std::shared_ptr<const void> owner;
  PackedMatrix view;
};

}  // namespace qasr::py_bindings
