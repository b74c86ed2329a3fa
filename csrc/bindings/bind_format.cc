#include "bindings/bindings.h"

namespace qasr::py_bindings {

void bind_format(pybind11::module_&) {}

}  // namespace qasr::py_bindings
