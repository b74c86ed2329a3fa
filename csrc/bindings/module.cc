#include <pybind11/pybind11.h>

#include "bindings/bindings.h"
#include "common/error.h"

namespace py = pybind11;

PYBIND11_MODULE(_core, m) {
  m.doc() = "qasr_native C++ core: packed low-bit kernels, the .qasr reader, front end and executors";
  m.attr("__version__") = QASR_VERSION;
  // Malformed input surfaces as ValueError; everything else as RuntimeError.
  // Translators run newest first, so the derived class is registered last.
  py::register_exception<qasr::Error>(m, "Error", PyExc_RuntimeError);
  py::register_exception<qasr::InvalidInput>(m, "InvalidInput", PyExc_ValueError);
  qasr::py_bindings::bind_kernels(m);
  qasr::py_bindings::bind_format(m);
  qasr::py_bindings::bind_frontend(m);
  qasr::py_bindings::bind_decode(m);
  qasr::py_bindings::bind_runtime(m);
  qasr::py_bindings::bind_whisper(m);
}
