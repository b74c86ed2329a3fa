#include "bindings/bindings.h"

namespace qasr::py_bindings {

void bind_decode(pybind11::module_&) {}

}  // namespace qasr::py_bindings
