// Each layer of the core binds itself in its own file; module.cc calls them.
#pragma once

#include <pybind11/pybind11.h>

namespace qasr::py_bindings {

void bind_kernels(pybind11::module_& m);
void bind_format(pybind11::module_& m);
void bind_frontend(pybind11::module_& m);
void bind_decode(pybind11::module_& m);
void bind_runtime(pybind11::module_& m);
void bind_whisper(pybind11::module_& m);

}  // namespace qasr::py_bindings
