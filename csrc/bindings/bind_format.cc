// Python access to the .qasr reader: the validated header, the tensor table,
// zero-copy numpy views of plain tensors and PackedMatrix views of packed
// ones (both keep the mapping alive), and the CRC-32 the format uses.
#include <pybind11/numpy.h>
#include <pybind11/stl.h>

#include <cstdio>
#include <memory>
#include <string>
#include <utility>

#include "bindings/bindings.h"
#include "bindings/packed_owner.h"
#include "common/error.h"
#include "format/qasr_file.h"

namespace py = pybind11;

namespace qasr::py_bindings {
namespace {

using FilePtr = std::shared_ptr<const QasrFile>;

struct PyQasrFile {
  FilePtr file;
};

std::string crc_hex(uint32_t v) {
  char buf[9];
  std::snprintf(buf, sizeof(buf), "%08x", v);
  return buf;
}

py::dict tensor_dict(const TensorInfo& t, size_t data_offset) {
  py::dict d;
  d["name"] = t.name;
  d["shape"] = py::tuple(py::cast(t.shape));
  if (t.packed) {
    d["format"] = format_name(t.layout.format);
    d["group"] = t.layout.group;
  } else {
    d["dtype"] = dtype_name(t.dtype);
  }
  d["offset"] = t.offset - data_offset;  // as in the table: relative to data_offset
  d["file_offset"] = t.offset;
  d["nbytes"] = t.nbytes;
  d["crc32"] = crc_hex(t.crc32);
  return d;
}

py::dtype numpy_dtype(DType t) {
  switch (t) {
    case DType::F32: return py::dtype("float32");
    case DType::F16: return py::dtype("float16");
    case DType::I32: return py::dtype("int32");
    case DType::U8: return py::dtype("uint8");
  }
  fail("unknown dtype");
}

// A capsule owning one reference to the file: the base object of every
// view handed to Python.
py::capsule keep_alive(const FilePtr& f) {
  return py::capsule(new FilePtr(f), [](void* p) { delete static_cast<FilePtr*>(p); });
}

py::array array_view(const PyQasrFile& self, const std::string& name) {
  const TensorInfo& t = self.file->tensor(name);
  if (t.packed) {
    invalid(self.file->source() + ": tensor '" + name + "' is a packed " + format_name(t.layout.format) +
            " matrix; use matrix()");
  }
  const py::dtype dt = numpy_dtype(t.dtype);
  std::vector<py::ssize_t> shape(t.shape.begin(), t.shape.end());
  std::vector<py::ssize_t> strides(shape.size());
  py::ssize_t stride = static_cast<py::ssize_t>(dtype_size(t.dtype));
  for (size_t i = shape.size(); i-- > 0;) {
    strides[i] = stride;
    stride *= shape[i];
  }
  py::array a(dt, shape, strides, t.data, keep_alive(self.file));
  a.attr("setflags")(py::arg("write") = false);
  return a;
}

std::shared_ptr<OwnedPacked> matrix_view(const PyQasrFile& self, const std::string& name) {
  auto o = std::make_shared<OwnedPacked>();
  o->view = self.file->matrix(name);
  o->owner = self.file;
  return o;
}

// Bytes of a C-contiguous buffer (bytes, bytearray, memoryview, numpy).
std::pair<const uint8_t*, size_t> contiguous_bytes(const py::buffer_info& info, const char* what) {
  py::ssize_t expected = info.itemsize;
  for (size_t i = info.ndim; i-- > 0;) {
    if (info.shape[i] > 1 && info.strides[i] != expected) invalid(std::string(what) + " must be C-contiguous");
    expected *= info.shape[i];
  }
  return {static_cast<const uint8_t*>(info.ptr), static_cast<size_t>(info.size * info.itemsize)};
}

// The C++ parser's view of a JSON text as Python objects, for tests that
// hold it equal to json.loads.
py::object json_to_python(const Json& j) {
  switch (j.type()) {
    case Json::Type::Null: return py::none();
    case Json::Type::Bool: return py::bool_(j.as_bool());
    case Json::Type::Number:
      if (j.is_int_literal()) return py::int_(j.as_int());
      return py::float_(j.as_double());
    case Json::Type::String: return py::str(j.as_string());
    case Json::Type::Array: {
      py::list l;
      for (const Json& v : j.as_array()) l.append(json_to_python(v));
      return std::move(l);
    }
    case Json::Type::Object: {
      py::dict d;
      for (const auto& kv : j.items()) d[py::str(kv.first)] = json_to_python(kv.second);
      return std::move(d);
    }
  }
  return py::none();
}

OpenOptions options(bool verify_checksums) {
  OpenOptions o;
  o.verify_checksums = verify_checksums;
  return o;
}

}  // namespace

void bind_format(py::module_& m) {
  py::class_<PyQasrFile>(m, "QasrFile",
                         "A validated, memory-mapped .qasr model file (docs/format.md). Raises ValueError naming "
                         "the file and the tensor when anything is wrong.")
      .def(py::init([](const std::string& path, bool verify_checksums) {
             py::gil_scoped_release nogil;
             return PyQasrFile{QasrFile::open(path, options(verify_checksums))};
           }),
           py::arg("path"), py::arg("verify_checksums") = true)
      .def_static(
          "from_bytes",
          [](py::buffer data, bool verify_checksums) {
            py::buffer_info info = data.request();
            const auto bytes = contiguous_bytes(info, "data");
            return PyQasrFile{QasrFile::from_bytes(bytes.first, bytes.second, options(verify_checksums))};
          },
          py::arg("data"), py::arg("verify_checksums") = true, "Validate a file image held in memory (copied).")
      .def_property_readonly("header",
                             [](const PyQasrFile& s) {
                               return py::module_::import("json").attr("loads")(s.file->header_text());
                             },
                             "The JSON header as a dict.")
      .def_property_readonly("header_text", [](const PyQasrFile& s) { return s.file->header_text(); })
      .def_property_readonly("version",
                             [](const PyQasrFile& s) {
                               return py::make_tuple(s.file->version(), s.file->version_minor());
                             })
      .def_property_readonly("flags", [](const PyQasrFile& s) { return s.file->flags(); })
      .def_property_readonly("file_size", [](const PyQasrFile& s) { return s.file->file_size(); })
      .def_property_readonly("data_offset", [](const PyQasrFile& s) { return s.file->data_offset(); })
      .def_property_readonly("source", [](const PyQasrFile& s) { return s.file->source(); })
      .def_property_readonly("tensors",
                             [](const PyQasrFile& s) {
                               py::list l;
                               for (const TensorInfo& t : s.file->tensors()) {
                                 l.append(tensor_dict(t, s.file->data_offset()));
                               }
                               return l;
                             },
                             "The tensor table: name, shape, dtype or format+group, offset, nbytes, crc32.")
      .def_property_readonly("names",
                             [](const PyQasrFile& s) {
                               std::vector<std::string> names;
                               for (const TensorInfo& t : s.file->tensors()) names.push_back(t.name);
                               return names;
                             })
      .def("tensor", [](const PyQasrFile& s, const std::string& name) {
        return tensor_dict(s.file->tensor(name), s.file->data_offset());
      }, py::arg("name"))
      .def("array", &array_view, py::arg("name"),
           "Read-only numpy view of a plain tensor (no copy; keeps the file mapped).")
      .def("matrix", &matrix_view, py::arg("name"),
           "A packed matrix as a PackedMatrix usable by linear() (no copy; keeps the file mapped).")
      .def("__contains__", [](const PyQasrFile& s, const std::string& name) { return s.file->has(name); })
      .def("__len__", [](const PyQasrFile& s) { return s.file->tensors().size(); })
      .def("__repr__", [](const PyQasrFile& s) {
        return "<QasrFile " + s.file->source() + " v" + std::to_string(s.file->version()) + "." +
               std::to_string(s.file->version_minor()) + ", " + std::to_string(s.file->tensors().size()) +
               " tensors, " + std::to_string(s.file->file_size()) + " bytes>";
      });

  m.def(
      "json_loads", [](py::bytes text) { return json_to_python(Json::parse(std::string(text))); }, py::arg("text"),
      "Parse JSON with the core's header parser (for tests; the header property uses Python's json).");
  m.def(
      "crc32",
      [](py::buffer data, uint32_t value) {
        py::buffer_info info = data.request();
        const auto bytes = contiguous_bytes(info, "data");
        py::gil_scoped_release nogil;
        return crc32(bytes.first, bytes.second, value);
      },
      py::arg("data"), py::arg("value") = 0, "CRC-32 as zlib.crc32 (slicing-by-8), continuing from `value`.");
}

}  // namespace qasr::py_bindings
