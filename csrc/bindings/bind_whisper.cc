// Python access to the Whisper executor (csrc/runtime/whisper/), its log-mel
// front end and byte-level BPE detokenizer. Long calls release the GIL.
#include <pybind11/numpy.h>
#include <pybind11/stl.h>

#include <cstring>
#include <memory>
#include <mutex>
#include <string>

#include "bindings/bindings.h"
#include "common/error.h"
#include "common/thread_pool.h"
#include "decode/byte_bpe.h"
#include "frontend/whisper_mel.h"
#include "runtime/whisper/whisper_runner.h"

namespace py = pybind11;

namespace qasr::py_bindings {
namespace {

using F32Array = py::array_t<float, py::array::c_style | py::array::forcecast>;

// A runner with its own thread pool (threads > 0) and a lock: one call at a
// time per runner (its buffers are the decoding state).
struct PyWhisperRunner {
  std::shared_ptr<const whisper::Model> model;
  std::unique_ptr<ThreadPool> pool;
  std::unique_ptr<whisper::Runner> runner;
  std::mutex mu;
};

py::array_t<float> matrix(const float* data, int64_t rows, int64_t cols) {
  py::array_t<float> a({static_cast<py::ssize_t>(rows), static_cast<py::ssize_t>(cols)});
  std::memcpy(a.mutable_data(), data, sizeof(float) * rows * cols);
  return a;
}

// Features as transformers lays them out, [n_mels][3000] -> time-major.
std::vector<float> time_major(const F32Array& feats, int n_mels) {
  if (feats.ndim() != 2 || feats.shape(0) != n_mels || feats.shape(1) != WhisperMel::kFrames) {
    invalid("whisper: features must be [" + std::to_string(n_mels) + ", " + std::to_string(WhisperMel::kFrames) +
            "] (n_mels x frames)");
  }
  std::vector<float> out(static_cast<size_t>(n_mels) * WhisperMel::kFrames);
  const float* f = feats.data();
  for (int m = 0; m < n_mels; ++m)
    for (int64_t t = 0; t < WhisperMel::kFrames; ++t) out[t * n_mels + m] = f[m * WhisperMel::kFrames + t];
  return out;
}

const float* audio_of(const F32Array& a) {
  if (a.ndim() != 1) invalid("whisper: audio must be a 1-D array of 16 kHz mono samples, got " +
                             std::to_string(a.ndim()) + "-D");
  return a.data();
}

}  // namespace

void bind_whisper(py::module_& m) {
  m.def(
      "whisper_log_mel",
      [](const F32Array& filters, const F32Array& audio) {
        if (filters.ndim() != 2 || filters.shape(1) != WhisperMel::kBins) {
          invalid("whisper_log_mel: filters must be [n_mels, 201]");
        }
        const int n_mels = static_cast<int>(filters.shape(0));
        WhisperMel mel(std::vector<float>(filters.data(), filters.data() + filters.size()), n_mels);
        const float* x = audio_of(audio);
        std::vector<float> tm;
        {
          py::gil_scoped_release nogil;
          tm = mel.compute(x, audio.shape(0));
        }
        py::array_t<float> out({static_cast<py::ssize_t>(n_mels), static_cast<py::ssize_t>(WhisperMel::kFrames)});
        float* o = out.mutable_data();
        for (int64_t t = 0; t < WhisperMel::kFrames; ++t)
          for (int mm = 0; mm < n_mels; ++mm) o[mm * WhisperMel::kFrames + t] = tm[t * n_mels + mm];
        return out;
      },
      py::arg("filters"), py::arg("audio"),
      "Whisper's log-mel of the first 30 s of 16 kHz audio: [n_mels, 3000] (transformers' layout).");

  m.def("utf8_replace_invalid", [](const py::bytes& b) { return py::bytes(utf8_replace_invalid(std::string(b))); },
        "Invalid UTF-8 replaced by U+FFFD as bytes.decode('utf-8', 'replace') does.");

  py::class_<ByteBpeDecoder>(m, "ByteBpeDecoder")
      .def(py::init([](py::array_t<uint8_t, py::array::c_style | py::array::forcecast> bytes,
                       const std::vector<int32_t>& offsets, int special_begin) {
             return ByteBpeDecoder(std::vector<uint8_t>(bytes.data(), bytes.data() + bytes.size()), offsets,
                                   special_begin);
           }),
           py::arg("bytes"), py::arg("offsets"), py::arg("special_begin"))
      .def("__len__", &ByteBpeDecoder::size)
      .def("decode", &ByteBpeDecoder::decode, py::arg("ids"))
      .def("bytes_of", [](const ByteBpeDecoder& d, const std::vector<int>& ids) { return py::bytes(d.bytes_of(ids)); },
           py::arg("ids"));

  py::class_<whisper::Model, std::shared_ptr<whisper::Model>>(m, "WhisperModel")
      .def(py::init([](const std::string& path, bool verify) {
             OpenOptions o;
             o.verify_checksums = verify;
             std::shared_ptr<const QasrFile> f;
             {
               py::gil_scoped_release nogil;
               f = QasrFile::open(path, o);
             }
             return std::make_shared<whisper::Model>(f);
           }),
           py::arg("path"), py::arg("verify_checksums") = true)
      .def_property_readonly("n_mels", [](const whisper::Model& w) { return w.dims().n_mels; })
      .def_property_readonly("d_model", [](const whisper::Model& w) { return w.dims().d_model; })
      .def_property_readonly("vocab_size", [](const whisper::Model& w) { return w.dims().vocab; })
      .def_property_readonly("prompt", [](const whisper::Model& w) { return w.generation().prompt; })
      .def("detokenize", [](const whisper::Model& w, const std::vector<int>& ids) { return w.tokenizer().decode(ids); },
           py::arg("ids"))
      .def("log_mel",
           [](const whisper::Model& w, const F32Array& audio) {
             const float* x = audio_of(audio);
             std::vector<float> tm;
             {
               py::gil_scoped_release nogil;
               tm = w.mel().compute(x, audio.shape(0));
             }
             const int n = w.dims().n_mels;
             py::array_t<float> out({static_cast<py::ssize_t>(n), static_cast<py::ssize_t>(WhisperMel::kFrames)});
             float* o = out.mutable_data();
             for (int64_t t = 0; t < WhisperMel::kFrames; ++t)
               for (int mm = 0; mm < n; ++mm) o[mm * WhisperMel::kFrames + t] = tm[t * n + mm];
             return out;
           },
           py::arg("audio"), "Log-mel of the first 30 s: [n_mels, 3000].");

  m.attr("WHISPER_REPETITION_GUARD") = whisper::Runner::kDefaultRepetitionGuard;
  py::class_<PyWhisperRunner>(m, "WhisperRunner")
      .def(py::init([](std::shared_ptr<whisper::Model> model, int threads, int repetition_guard) {
             if (!model) invalid("WhisperRunner: model is None");
             if (threads < 0 || threads > 1024) invalid("WhisperRunner: threads must be in [0, 1024] (0: global pool)");
             if (repetition_guard < 0 || repetition_guard == 1)
               invalid("WhisperRunner: repetition_guard must be 0 (off) or at least 2 copies");
             auto r = std::make_unique<PyWhisperRunner>();
             r->model = model;
             if (threads > 0) r->pool = std::make_unique<ThreadPool>(threads);
             r->runner = std::make_unique<whisper::Runner>(model, r->pool.get());
             r->runner->set_repetition_guard(repetition_guard);
             return r;
           }),
           py::arg("model"), py::arg("threads") = 1,
           py::arg("repetition_guard") = whisper::Runner::kDefaultRepetitionGuard)
      .def("transcribe",
           [](PyWhisperRunner& r, const F32Array& audio) {
             const float* x = audio_of(audio);
             whisper::Result res;
             {
               py::gil_scoped_release nogil;
               std::lock_guard<std::mutex> lock(r.mu);
               res = r.runner->transcribe(x, audio.shape(0));
             }
             return py::make_tuple(res.text, res.tokens, res.windows);
           },
           py::arg("audio"), "(text, tokens, tokens per 30 s window) of 16 kHz float audio.")
      .def("decode_features",
           [](PyWhisperRunner& r, const F32Array& feats) {
             std::vector<float> tm = time_major(feats, r.model->dims().n_mels);
             py::gil_scoped_release nogil;
             std::lock_guard<std::mutex> lock(r.mu);
             return r.runner->decode_window(tm.data());
           },
           py::arg("features"), "Greedy tokens of one window from features [n_mels, 3000].")
      .def("forced_logits",
           [](PyWhisperRunner& r, const F32Array& feats, const std::vector<int>& tokens) {
             std::vector<float> tm = time_major(feats, r.model->dims().n_mels);
             std::vector<float> out;
             {
               py::gil_scoped_release nogil;
               std::lock_guard<std::mutex> lock(r.mu);
               out = r.runner->forced_logits(tm.data(), tokens);
             }
             return matrix(out.data(), static_cast<int64_t>(tokens.size()) + 1, r.model->dims().vocab);
           },
           py::arg("features"), py::arg("tokens"),
           "Logits [len(tokens) + 1, vocab] predicting each token and the next, prompt and tokens fed in.")
      .def("encode",
           [](PyWhisperRunner& r, const F32Array& feats) {
             std::vector<float> tm = time_major(feats, r.model->dims().n_mels);
             std::vector<float> out;
             {
               py::gil_scoped_release nogil;
               std::lock_guard<std::mutex> lock(r.mu);
               out = r.runner->encode(tm.data());
             }
             return matrix(out.data(), r.model->dims().source_positions, r.model->dims().d_model);
           },
           py::arg("features"), "Encoder output [1500, d_model] for features [n_mels, 3000].")
      .def_property_readonly("timings", [](PyWhisperRunner& r) {
        const whisper::Timings& t = r.runner->timings();
        py::dict d;
        d["mel_s"] = t.mel_s;
        d["encoder_s"] = t.encoder_s;
        d["decoder_s"] = t.decoder_s;
        d["decoder_steps"] = t.decoder_steps;
        return d;
      });
}

}  // namespace qasr::py_bindings
