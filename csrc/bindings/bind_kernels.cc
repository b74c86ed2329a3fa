// Python access to the kernels: packing, activation quantization, the
// linear driver and kernel selection. Used by the Python mirror's tests,
// the writer and the benchmarks.
#include <pybind11/numpy.h>
#include <pybind11/stl.h>

#include <time.h>

#include <chrono>
#include <cstring>
#include <memory>
#include <optional>
#include <vector>

#include "bindings/bindings.h"
#include "bindings/packed_owner.h"
#include "common/cpu_features.h"
#include "common/error.h"
#include "common/thread_pool.h"
#include "kernels/kernels.h"
#include "kernels/linear.h"
#include "kernels/quantize.h"

namespace py = pybind11;

namespace qasr::py_bindings {
namespace {

using F32Array = py::array_t<float, py::array::c_style | py::array::forcecast>;
using U8Array = py::array_t<uint8_t, py::array::c_style | py::array::forcecast>;
using U16Array = py::array_t<uint16_t, py::array::c_style | py::array::forcecast>;

std::shared_ptr<OwnedPacked> make_owned(AlignedBytes bytes, const PackedLayout& layout) {
  auto o = std::make_shared<OwnedPacked>();
  o->bytes = std::move(bytes);
  o->view.layout = layout;
  o->view.data = o->bytes.data();
  return o;
}

void require_2d(const py::array& a, const char* what) {
  if (a.ndim() != 2) invalid(std::string(what) + " must be 2-D, got " + std::to_string(a.ndim()) + "-D");
}

std::shared_ptr<OwnedPacked> pack(F32Array w, const std::string& format, int group, std::optional<U16Array> scales,
                                  std::optional<U8Array> zeros) {
  require_2d(w, "weights");
  const WeightFormat f = parse_format(format);
  const int64_t N = w.shape(0), K = w.shape(1);
  const PackedLayout layout = PackedLayout::make(f, N, K, group);
  if (f == WeightFormat::F32) return make_owned(pack_f32(w.data(), N, K), layout);
  const uint16_t* sp = nullptr;
  const uint8_t* zp = nullptr;
  if (scales) {
    if (scales->size() != N * layout.groups) invalid("scales must have shape [N, groups]");
    sp = scales->data();
  }
  if (zeros) {
    if (zeros->size() != N * layout.groups) invalid("zeros must have shape [N, groups]");
    zp = zeros->data();
  }
  QuantizedWeights q;
  {
    py::gil_scoped_release nogil;
    q = quantize_weights(f, w.data(), N, K, group, sp, zp);
  }
  return make_owned(pack_quantized(q), layout);
}

std::shared_ptr<OwnedPacked> pack_codes(U8Array codes, U16Array scales, std::optional<U8Array> zeros,
                                        const std::string& format, int group) {
  require_2d(codes, "codes");
  QuantizedWeights q;
  q.format = parse_format(format);
  q.N = codes.shape(0);
  q.K = codes.shape(1);
  q.group = group;
  const PackedLayout layout = PackedLayout::make(q.format, q.N, q.K, group);
  q.codes.assign(codes.data(), codes.data() + codes.size());
  q.scales.assign(scales.data(), scales.data() + scales.size());
  if (zeros) q.zeros.assign(zeros->data(), zeros->data() + zeros->size());
  return make_owned(pack_quantized(q), layout);
}

std::shared_ptr<OwnedPacked> from_bytes(py::buffer blob, const std::string& format, int64_t N, int64_t K, int group) {
  const PackedLayout layout = PackedLayout::make(parse_format(format), N, K, group);
  py::buffer_info info = blob.request();
  const size_t n = static_cast<size_t>(info.size * info.itemsize);
  if (n != layout.total_bytes) {
    invalid("packed blob has " + std::to_string(n) + " bytes, layout needs " + std::to_string(layout.total_bytes));
  }
  AlignedBytes bytes(n);
  std::memcpy(bytes.data(), info.ptr, n);
  return make_owned(std::move(bytes), layout);
}

py::array_t<float> run_linear(const OwnedPacked& w, F32Array x, std::optional<F32Array> bias,
                              std::optional<std::string> kernel) {
  require_2d(x, "x");
  const PackedLayout& l = w.view.layout;
  if (x.shape(1) != l.K) {
    invalid("x has " + std::to_string(x.shape(1)) + " columns, the matrix has K = " + std::to_string(l.K));
  }
  if (bias && bias->size() != l.N) invalid("bias must have N elements");
  const int64_t M = x.shape(0);
  py::array_t<float> y({M, l.N});
  const KernelSet* ks = kernel ? &kernels_by_name(*kernel) : nullptr;
  const float* b = bias ? bias->data() : nullptr;
  float* yp = y.mutable_data();
  {
    py::gil_scoped_release nogil;
    linear(x.data(), l.K, M, w.view, b, yp, l.N, nullptr, ks);
  }
  return y;
}

// Benchmarks: `repeats` calls of linear() timed in C++, so the result is the
// kernel's time without a Python call (and output allocation) per call.
double time_linear(const OwnedPacked& w, F32Array x, std::optional<F32Array> bias, int64_t repeats,
                   std::optional<std::string> kernel, bool cpu_time) {
  require_2d(x, "x");
  const PackedLayout& l = w.view.layout;
  if (x.shape(1) != l.K) {
    invalid("x has " + std::to_string(x.shape(1)) + " columns, the matrix has K = " + std::to_string(l.K));
  }
  if (bias && bias->size() != l.N) invalid("bias must have N elements");
  if (repeats < 1) invalid("repeats must be at least 1");
  const int64_t M = x.shape(0);
  const KernelSet* ks = kernel ? &kernels_by_name(*kernel) : nullptr;
  const float* b = bias ? bias->data() : nullptr;
  std::vector<float> y(static_cast<size_t>(M * l.N));
  py::gil_scoped_release nogil;
  // The calling thread's CPU time (single-threaded runs on a busy machine)
  // or wall time.
  auto now = [cpu_time]() -> double {
    if (cpu_time) {
      timespec ts;
      clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
      return ts.tv_sec + ts.tv_nsec * 1e-9;
    }
    return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
  };
  const double t0 = now();
  for (int64_t i = 0; i < repeats; ++i) linear(x.data(), l.K, M, w.view, b, y.data(), l.N, nullptr, ks);
  return now() - t0;
}

py::tuple quantize_acts(F32Array x, std::optional<std::string> kernel) {
  require_2d(x, "x");
  const int64_t M = x.shape(0), K = x.shape(1);
  if (K <= 0) invalid("x must have at least one column");
  const int64_t nb = (K + kBlock - 1) / kBlock;
  py::array_t<int8_t> codes({M, nb * kBlock});
  py::array_t<float> scales({M, nb});
  py::array_t<int32_t> sums({M, nb});
  const KernelSet& ks = kernel ? kernels_by_name(*kernel) : active_kernels();
  ks.quantize(x.data(), K, M, K, codes.mutable_data(), scales.mutable_data(), sums.mutable_data());
  return py::make_tuple(codes, scales, sums);
}

py::dict unpack(const OwnedPacked& w) {
  const PackedLayout& l = w.view.layout;
  py::dict d;
  if (l.format == WeightFormat::F32) {
    std::vector<float> v = unpack_f32(w.view);
    py::array_t<float> a({l.N, l.K});
    std::memcpy(a.mutable_data(), v.data(), v.size() * sizeof(float));
    d["weights"] = a;
    return d;
  }
  QuantizedWeights q = unpack_quantized(w.view);
  py::array_t<uint8_t> codes({l.N, l.K});
  std::memcpy(codes.mutable_data(), q.codes.data(), q.codes.size());
  py::array_t<uint16_t> scales({l.N, l.groups});
  std::memcpy(scales.mutable_data(), q.scales.data(), q.scales.size() * 2);
  d["codes"] = codes;
  d["scales"] = scales;
  if (l.format == WeightFormat::Q4A) {
    py::array_t<uint8_t> zeros({l.N, l.groups});
    std::memcpy(zeros.mutable_data(), q.zeros.data(), q.zeros.size());
    d["zeros"] = zeros;
  }
  return d;
}

py::dict layout_dict(const PackedLayout& l) {
  py::dict d;
  d["format"] = format_name(l.format);
  d["N"] = l.N;
  d["K"] = l.K;
  d["group"] = l.group;
  d["panels"] = l.panels;
  d["blocks"] = l.blocks;
  d["groups"] = l.groups;
  d["codes_offset"] = l.codes_offset;
  d["codes_bytes"] = l.codes_bytes;
  d["scales_offset"] = l.scales_offset;
  d["scales_bytes"] = l.scales_bytes;
  d["zeros_offset"] = l.zeros_offset;
  d["zeros_bytes"] = l.zeros_bytes;
  d["total_bytes"] = l.total_bytes;
  return d;
}

}  // namespace

void bind_kernels(py::module_& m) {
  py::class_<OwnedPacked, std::shared_ptr<OwnedPacked>>(m, "PackedMatrix",
                                                        "A weight matrix packed in the kernels' tiled layout.")
      .def_property_readonly("format", [](const OwnedPacked& o) { return format_name(o.view.layout.format); })
      .def_property_readonly("shape", [](const OwnedPacked& o) { return py::make_tuple(o.view.layout.N, o.view.layout.K); })
      .def_property_readonly("group", [](const OwnedPacked& o) { return o.view.layout.group; })
      .def_property_readonly("nbytes", [](const OwnedPacked& o) { return o.view.layout.total_bytes; })
      .def_property_readonly("layout", [](const OwnedPacked& o) { return layout_dict(o.view.layout); })
      .def("tobytes", [](const OwnedPacked& o) {
        return py::bytes(reinterpret_cast<const char*>(o.view.data), o.view.layout.total_bytes);
      })
      .def("unpack", &unpack, "Codes, f16 scales (as uint16) and zero points in row-major order.")
      .def("__repr__", [](const OwnedPacked& o) {
        const PackedLayout& l = o.view.layout;
        return "<PackedMatrix " + std::string(format_name(l.format)) + " [" + std::to_string(l.N) + ", " +
               std::to_string(l.K) + "] group=" + std::to_string(l.group) + " " + std::to_string(l.total_bytes) +
               " bytes>";
      });

  m.def("pack", &pack, py::arg("weights"), py::arg("format"), py::arg("group") = 0, py::arg("scales") = py::none(),
        py::arg("zeros") = py::none(),
        "Quantize float32 weights [N, K] (min-max scales unless given as f16 bits) and pack them.");
  m.def("pack_codes", &pack_codes, py::arg("codes"), py::arg("scales"), py::arg("zeros") = py::none(),
        py::arg("format"), py::arg("group"), "Pack already-quantized codes [N, K] with f16 scales [N, G].");
  m.def("packed_from_bytes", &from_bytes, py::arg("blob"), py::arg("format"), py::arg("N"), py::arg("K"),
        py::arg("group") = 0, "Wrap packed bytes (e.g. read from a file) as a PackedMatrix.");
  m.def("packed_layout", [](const std::string& f, int64_t N, int64_t K, int group) {
    return layout_dict(PackedLayout::make(parse_format(f), N, K, group));
  }, py::arg("format"), py::arg("N"), py::arg("K"), py::arg("group") = 0);
  m.def("linear", &run_linear, py::arg("w"), py::arg("x"), py::arg("bias") = py::none(), py::arg("kernel") = py::none(),
        "Y = X · Wᵀ + bias with dynamically quantized activations (float path for f32).");
  m.def("time_linear", &time_linear, py::arg("w"), py::arg("x"), py::arg("bias") = py::none(), py::arg("repeats") = 1,
        py::arg("kernel") = py::none(), py::arg("cpu_time") = false,
        "Seconds taken by `repeats` calls of linear(), timed in C++ (benchmarks: no per-call Python overhead);\n"
        "cpu_time=True counts the calling thread's CPU time instead of wall time.");
  m.def("quantize_activations", &quantize_acts, py::arg("x"), py::arg("kernel") = py::none(),
        "Per-(row, 32-block) int8 activation codes, scales and block sums.");
  m.def("kernels", &available_kernels, "Kernel variants this CPU can run, best last.");
  m.def("active_kernel", [] { return std::string(active_kernels().name); });
  m.def("set_kernel", &set_kernels, py::arg("name"), "Force a kernel variant ('auto' for the default).");
  m.def("cpu_features", [] { return cpu_features().describe(); });
  m.def("set_num_threads", &set_global_threads, py::arg("threads"));
  m.def("num_threads", &global_threads);
}

}  // namespace qasr::py_bindings
