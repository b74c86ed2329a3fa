// Python access to the front end: the WAV reader, resampling, Kaldi fbank
// (whole utterance and streaming) and the sample check the runtime uses.
#include <pybind11/numpy.h>
#include <pybind11/stl.h>

#include <cstring>
#include <memory>
#include <string>

#include "bindings/bindings.h"
#include "common/error.h"
#include "frontend/fbank.h"
#include "frontend/resample.h"
#include "frontend/wav.h"

namespace py = pybind11;

namespace qasr::py_bindings {
namespace {

using F32Array = py::array_t<float, py::array::c_style | py::array::forcecast>;

py::array_t<float> to_numpy(const std::vector<float>& v) {
  py::array_t<float> a(static_cast<py::ssize_t>(v.size()));
  if (!v.empty()) std::memcpy(a.mutable_data(), v.data(), v.size() * sizeof(float));
  return a;
}

const float* samples_of(const F32Array& a, const char* what) {
  if (a.ndim() != 1) {
    invalid(std::string(what) + " must be a 1-D array of mono samples, got " + std::to_string(a.ndim()) + "-D");
  }
  return a.data();
}

void warn_all(const std::vector<std::string>& warnings) {
  for (const std::string& w : warnings) {
    if (PyErr_WarnEx(PyExc_RuntimeWarning, w.c_str(), 2) != 0) throw py::error_already_set();
  }
}

py::tuple audio_result(Audio&& a) {
  warn_all(a.warnings);
  return py::make_tuple(to_numpy(a.samples), a.sample_rate);
}

// Options from keyword arguments, by field name; unknown names are errors.
FbankOptions fbank_options(float sample_rate, int num_bins, const py::kwargs& kwargs) {
  FbankOptions opts;
  opts.sample_rate = sample_rate;
  opts.num_bins = num_bins;
  py::object o = py::cast(opts);
  for (auto item : kwargs) {
    const std::string key = py::str(item.first);
    if (key.empty() || key[0] == '_' || !py::hasattr(o, key.c_str()) || key == "dim" || key == "frame_length" ||
        key == "frame_shift" || key == "fft_size" || key == "num_frames") {
      invalid("fbank: unknown option '" + key + "'");
    }
    o.attr(key.c_str()) = item.second;
  }
  opts = o.cast<FbankOptions>();
  opts.validate();
  return opts;
}

py::array_t<float> frames_array(const std::vector<float>& v, int64_t rows, int dim) {
  py::array_t<float> a({static_cast<py::ssize_t>(rows), static_cast<py::ssize_t>(dim)});
  if (!v.empty()) std::memcpy(a.mutable_data(), v.data(), v.size() * sizeof(float));
  return a;
}

}  // namespace

void bind_frontend(py::module_& m) {
  m.def(
      "read_wav",
      [](const std::string& path) {
        Audio a;
        {
          py::gil_scoped_release nogil;
          a = read_wav(path);
        }
        return audio_result(std::move(a));
      },
      py::arg("path"),
      "Read a WAV file as (float32 mono samples, sample_rate). PCM 8/16/24/32-bit, float 32/64, "
      "WAVE_FORMAT_EXTENSIBLE; channels are averaged. A truncated 'data' chunk is clamped to the bytes present "
      "with a RuntimeWarning. Malformed files raise ValueError naming the file and the problem.");
  m.def(
      "read_wav_bytes",
      [](py::bytes data, const std::string& name) {
        std::string s = data;
        return audio_result(parse_wav(reinterpret_cast<const uint8_t*>(s.data()), s.size(), name));
      },
      py::arg("data"), py::arg("name") = "<bytes>", "Like read_wav, for WAV bytes held in memory.");
  m.def(
      "validate_samples",
      [](F32Array samples, const std::string& what, int sample_rate) {
        const float* p = samples_of(samples, "samples");
        validate_samples(p, static_cast<size_t>(samples.size()), what, sample_rate);
      },
      py::arg("samples"), py::arg("what") = "audio", py::arg("sample_rate") = 0,
      "Raise ValueError if any sample is NaN or infinite (naming the index and time). Empty input is valid.");

  m.def(
      "resample",
      [](F32Array samples, int from_rate, int to_rate) {
        const float* p = samples_of(samples, "samples");
        std::vector<float> out;
        {
          py::gil_scoped_release nogil;
          out = resample(p, samples.size(), from_rate, to_rate);
        }
        return to_numpy(out);
      },
      py::arg("samples"), py::arg("from_rate"), py::arg("to_rate"),
      "Band-limited (Kaiser-windowed sinc, polyphase) resampling of mono float32 samples; "
      "n samples give ceil(n * to_rate / from_rate).");
  py::class_<Resampler>(m, "Resampler", "Streaming resampler; concatenated outputs equal resample().")
      .def(py::init<int, int>(), py::arg("from_rate"), py::arg("to_rate"))
      .def_property_readonly("from_rate", &Resampler::from_rate)
      .def_property_readonly("to_rate", &Resampler::to_rate)
      .def("process",
           [](Resampler& r, F32Array samples) {
             const float* p = samples_of(samples, "samples");
             std::vector<float> out;
             r.process(p, samples.size(), &out);
             return to_numpy(out);
           },
           py::arg("samples"))
      .def("flush", [](Resampler& r) {
        std::vector<float> out;
        r.flush(&out);
        return to_numpy(out);
      })
      .def("reset", &Resampler::reset);

  py::class_<FbankOptions>(m, "FbankOptions", "Kaldi fbank options (see csrc/frontend/fbank.h).")
      .def(py::init<>())
      .def_readwrite("sample_rate", &FbankOptions::sample_rate)
      .def_readwrite("frame_length_ms", &FbankOptions::frame_length_ms)
      .def_readwrite("frame_shift_ms", &FbankOptions::frame_shift_ms)
      .def_readwrite("num_bins", &FbankOptions::num_bins)
      .def_readwrite("low_freq", &FbankOptions::low_freq)
      .def_readwrite("high_freq", &FbankOptions::high_freq)
      .def_readwrite("preemph", &FbankOptions::preemph)
      .def_readwrite("remove_dc", &FbankOptions::remove_dc)
      .def_readwrite("window", &FbankOptions::window)
      .def_readwrite("blackman_coeff", &FbankOptions::blackman_coeff)
      .def_readwrite("round_to_power_of_two", &FbankOptions::round_to_power_of_two)
      .def_readwrite("use_power", &FbankOptions::use_power)
      .def_readwrite("use_log", &FbankOptions::use_log)
      .def_readwrite("use_energy", &FbankOptions::use_energy)
      .def_readwrite("raw_energy", &FbankOptions::raw_energy)
      .def_readwrite("energy_floor", &FbankOptions::energy_floor)
      .def_readwrite("input_scale", &FbankOptions::input_scale)
      .def_property_readonly("dim", &FbankOptions::dim)
      .def_property_readonly("frame_length", &FbankOptions::frame_length)
      .def_property_readonly("frame_shift", &FbankOptions::frame_shift)
      .def_property_readonly("fft_size", &FbankOptions::fft_size)
      .def("num_frames", &FbankOptions::num_frames, py::arg("num_samples"));

  m.def(
      "fbank",
      [](F32Array samples, float sample_rate, int num_bins, py::kwargs kwargs) {
        const FbankOptions opts = fbank_options(sample_rate, num_bins, kwargs);
        const float* p = samples_of(samples, "samples");
        validate_samples(p, samples.size(), "fbank input");
        std::vector<float> feats;
        {
          py::gil_scoped_release nogil;
          feats = compute_fbank(opts, p, samples.size());
        }
        return frames_array(feats, opts.num_frames(samples.size()), opts.dim());
      },
      py::arg("samples"), py::arg("sample_rate") = 16000.0f, py::arg("num_bins") = 80,
      "Kaldi-compatible log-mel fbank of mono float samples in [-1, 1] (scaled by input_scale = 32768, so "
      "equal to Kaldi on int16 audio): float32 [frames, dim]. Other FbankOptions fields as keyword arguments.");

  py::class_<FbankStream>(m, "FbankStream",
                          "Streaming fbank: accept() pieces of any size, take() complete frames; frames equal "
                          "fbank() on the concatenated samples.")
      .def(py::init([](float sample_rate, int num_bins, py::kwargs kwargs) {
             return std::make_unique<FbankStream>(fbank_options(sample_rate, num_bins, kwargs));
           }),
           py::arg("sample_rate") = 16000.0f, py::arg("num_bins") = 80)
      .def_property_readonly("dim", &FbankStream::dim)
      .def_property_readonly("num_ready", &FbankStream::num_ready)
      .def_property_readonly("num_frames", &FbankStream::num_frames)
      .def_property_readonly("num_samples", &FbankStream::num_samples)
      .def_property_readonly("num_buffered", &FbankStream::num_buffered)
      .def_property_readonly("options", &FbankStream::options)
      .def("accept",
           [](FbankStream& s, F32Array samples) {
             const float* p = samples_of(samples, "samples");
             validate_samples(p, samples.size(), "FbankStream.accept", 0);
             py::gil_scoped_release nogil;
             s.accept(p, samples.size());
           },
           py::arg("samples"))
      .def("take",
           [](FbankStream& s, int64_t max_frames) {
             std::vector<float> out;
             const int64_t k = s.take(&out, max_frames);
             return frames_array(out, k, s.dim());
           },
           py::arg("max_frames") = -1, "Ready frames (all, or at most max_frames) as float32 [k, dim].")
      .def("reset", &FbankStream::reset);
}

}  // namespace qasr::py_bindings
