// Python access to the Conformer-CTC executor: a shared model, whole-utterance
// recognition and streams. Every call that computes releases the GIL, so
// one model serves many Python threads at once.
#include <pybind11/numpy.h>
#include <pybind11/stl.h>

#include <cstring>
#include <memory>
#include <string>

#include "bindings/bindings.h"
#include "common/error.h"
#include "runtime/recognizer.h"

namespace py = pybind11;

namespace qasr::py_bindings {
namespace {

using F32Array = py::array_t<float, py::array::c_style | py::array::forcecast>;

const float* mono(const F32Array& a) {
  if (a.ndim() != 1) invalid("audio must be a 1-D array of mono samples, got " + std::to_string(a.ndim()) + "-D");
  return a.data();
}

py::dict result_dict(const RecognitionResult& r) {
  py::dict d;
  d["text"] = r.text;
  d["tokens"] = r.tokens;
  d["timestamps"] = r.timestamps;
  d["frames"] = r.frames;
  d["duration"] = r.duration;
  return d;
}

RecognizerOptions make_options(int beam, int64_t chunk_frames, int left_chunks,
                               const std::optional<EndpointConfig>& endpoint, bool keep_logits = false) {
  RecognizerOptions o;
  o.keep_logits = keep_logits;
  o.beam = beam;
  o.chunk_frames = chunk_frames;
  o.left_chunks = left_chunks;
  if (endpoint) o.endpoint = *endpoint;
  return o;
}

}  // namespace

void bind_runtime(py::module_& m) {
  // pybind11 holders cannot be shared_ptr<const T>; the model is never
  // mutated through this handle.
  using Model = std::shared_ptr<ConformerModel>;
  py::class_<ConformerModel, Model>(m, "ConformerModel", "A Conformer-CTC .qasr file loaded for inference (immutable, shareable).")
      .def(py::init([](const std::string& path, int threads) {
             py::gil_scoped_release nogil;
             return std::const_pointer_cast<ConformerModel>(ConformerModel::load(path, threads));
           }),
           py::arg("path"), py::arg("threads") = 1)
      .def_property_readonly("sample_rate", [](const ConformerModel& m) { return m.fbank_options().sample_rate; })
      .def_property_readonly("frame_seconds", &ConformerModel::frame_seconds)
      .def_property_readonly("vocab_size", [](const ConformerModel& m) { return m.config().vocab_size; })
      .def_property_readonly("threads", [](const ConformerModel& m) { return m.pool()->size(); })
      .def_property_readonly("header_json", [](const ConformerModel& m) { return m.file().header_text(); })
      .def(
          "logits",
          [](const ConformerModel& m, F32Array feats, int64_t chunk, int left_chunks) {
            if (feats.ndim() != 2 || feats.shape(1) != m.config().n_mels) {
              invalid("features must be [T, " + std::to_string(m.config().n_mels) + "]");
            }
            const int64_t T = feats.shape(0);
            std::vector<float> out;
            {
              py::gil_scoped_release nogil;
              out = m.logits(feats.data(), T, chunk, left_chunks);
            }
            const int64_t V = m.config().vocab_size;
            py::array_t<float> a({static_cast<py::ssize_t>(out.size() / V), static_cast<py::ssize_t>(V)});
            if (!out.empty()) std::memcpy(a.mutable_data(), out.data(), out.size() * sizeof(float));
            return a;
          },
          py::arg("feats"), py::arg("chunk") = 0, py::arg("left_chunks") = -1,
          "CTC logits [T', vocab] of fbank features [T, n_mels]; chunk > 0 applies the training-time chunk mask.")
      .def(
          "transcribe",
          [](const ConformerModel& m, F32Array audio, int beam) {
            const float* s = mono(audio);
            const int64_t n = audio.shape(0);
            RecognitionResult r;
            {
              py::gil_scoped_release nogil;
              r = transcribe(m, s, n, make_options(beam, 16, 4, std::nullopt));
            }
            return result_dict(r);
          },
          py::arg("audio"), py::arg("beam") = 1, "Full-context recognition of float samples at the model's rate.");

  py::class_<ConformerStream>(m, "ConformerStream", "One streaming recognition session over a shared ConformerModel.")
      .def(py::init([](Model model, int beam, int64_t chunk_frames, int left_chunks,
                       std::optional<EndpointConfig> endpoint, bool keep_logits) {
             return std::make_unique<ConformerStream>(
                 std::move(model), make_options(beam, chunk_frames, left_chunks, endpoint, keep_logits));
           }),
           py::arg("model"), py::arg("beam") = 1, py::arg("chunk_frames") = 16, py::arg("left_chunks") = 4,
           py::arg("endpoint") = std::nullopt, py::arg("keep_logits") = false)
      .def("kept_logits",
           [](const ConformerStream& s) {
             const std::vector<float>& k = s.kept_logits();
             const int64_t V = s.model().config().vocab_size;
             py::array_t<float> a({static_cast<py::ssize_t>(k.size() / V), static_cast<py::ssize_t>(V)});
             if (!k.empty()) std::memcpy(a.mutable_data(), k.data(), k.size() * sizeof(float));
             return a;
           })
      .def(
          "accept_waveform",
          [](ConformerStream& s, F32Array audio) {
            const float* p = mono(audio);
            const int64_t n = audio.shape(0);
            py::gil_scoped_release nogil;
            s.accept_waveform(p, n);
          },
          py::arg("samples"))
      .def("input_finished",
           [](ConformerStream& s) {
             py::gil_scoped_release nogil;
             s.input_finished();
           })
      .def("result", [](const ConformerStream& s) { return result_dict(s.result()); })
      .def_property_readonly("endpoint_rule", &ConformerStream::endpoint_rule)
      .def_property_readonly("finished", &ConformerStream::finished)
      .def_property_readonly("state_bytes", &ConformerStream::state_bytes)
      .def("reset", &ConformerStream::reset);
}

}  // namespace qasr::py_bindings
