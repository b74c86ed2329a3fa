#include "bindings/bindings.h"

namespace qasr::py_bindings {

void bind_runtime(pybind11::module_&) {}

}  // namespace qasr::py_bindings
