// Python access to CTC decoding, tokenizers and endpoint detection.
#include <pybind11/numpy.h>
#include <pybind11/stl.h>

#include <limits>
#include <memory>
#include <optional>
#include <string>

#include "bindings/bindings.h"
#include "common/error.h"
#include "decode/ctc.h"
#include "decode/endpoint.h"
#include "decode/repetition.h"
#include "decode/tokenizer.h"

namespace py = pybind11;

namespace qasr::py_bindings {
namespace {

using F32Array = py::array_t<float, py::array::c_style | py::array::forcecast>;

void require_2d(const F32Array& a, const char* what) {
  if (a.ndim() != 2) {
    invalid(std::string(what) + " must be 2-D [frames, tokens], got " + std::to_string(a.ndim()) + "-D");
  }
}

CtcDecoderOptions decoder_options(const std::string& method, int blank, int beam, int max_tokens_per_frame,
                                  std::optional<float> token_threshold, int nbest, bool log_softmax) {
  CtcDecoderOptions o;
  o.method = method;
  o.blank = blank;
  o.beam = beam;
  o.max_tokens_per_frame = max_tokens_per_frame;
  if (token_threshold) o.token_threshold = *token_threshold;
  o.nbest = nbest;
  o.log_softmax = log_softmax;
  o.validate();
  return o;
}

}  // namespace

void bind_decode(py::module_& m) {
  py::class_<CtcHypothesis>(m, "CtcHypothesis", "A CTC result: tokens, the frame of each, a log-probability score.")
      .def(py::init<>())
      .def_readwrite("tokens", &CtcHypothesis::tokens)
      .def_readwrite("frames", &CtcHypothesis::frames)
      .def_readwrite("score", &CtcHypothesis::score)
      .def("__repr__", [](const CtcHypothesis& h) {
        return "<CtcHypothesis " + std::to_string(h.tokens.size()) + " tokens, score " + std::to_string(h.score) +
               ">";
      });

  m.def("trailing_repeat_period", &trailing_repeat_period, py::arg("tokens"), py::arg("copies"),
        "Smallest p such that the last copies * p tokens are `copies` identical p-token blocks; 0 if none.");
  m.def(
      "ctc_greedy",
      [](F32Array logits, int blank) {
        require_2d(logits, "logits");
        py::gil_scoped_release nogil;
        return ctc_greedy(logits.data(), logits.shape(0), logits.shape(1), blank);
      },
      py::arg("logits"), py::arg("blank") = 0,
      "Greedy CTC decoding of [T, V] scores (logits or log-probs): argmax per frame, repeats collapsed, blanks "
      "dropped; frames = first frame of each token's run.");
  m.def(
      "ctc_beam_search",
      [](F32Array log_probs, int beam, int blank, int nbest, int max_tokens_per_frame,
         std::optional<float> token_threshold, bool log_softmax) {
        require_2d(log_probs, "log_probs");
        const CtcDecoderOptions o =
            decoder_options("prefix_beam", blank, beam, max_tokens_per_frame, token_threshold, nbest, log_softmax);
        py::gil_scoped_release nogil;
        return ctc_prefix_beam_search(log_probs.data(), log_probs.shape(0), log_probs.shape(1), o);
      },
      py::arg("log_probs"), py::arg("beam") = 10, py::arg("blank") = 0, py::arg("nbest") = 0,
      py::arg("max_tokens_per_frame") = 0, py::arg("token_threshold") = py::none(), py::arg("log_softmax") = false,
      "CTC prefix beam search over [T, V] log-probabilities; returns the n-best (all kept prefixes when nbest = 0), "
      "best first, with total label-sequence log-probabilities and best-path emission frames.");

  py::class_<CtcDecoder>(m, "CtcDecoder",
                         "Incremental CTC decoder: accept() [T, V] chunks; best() any time; any chunking gives "
                         "the same result as one call.")
      .def(py::init([](const std::string& method, int blank, int beam, int max_tokens_per_frame,
                       std::optional<float> token_threshold, int nbest, bool log_softmax) {
             return make_ctc_decoder(
                 decoder_options(method, blank, beam, max_tokens_per_frame, token_threshold, nbest, log_softmax));
           }),
           py::arg("method") = "greedy", py::arg("blank") = 0, py::arg("beam") = 10,
           py::arg("max_tokens_per_frame") = 0, py::arg("token_threshold") = py::none(), py::arg("nbest") = 0,
           py::arg("log_softmax") = false)
      .def("accept",
           [](CtcDecoder& d, F32Array scores) {
             require_2d(scores, "scores");
             py::gil_scoped_release nogil;
             d.accept(scores.data(), scores.shape(0), scores.shape(1));
           },
           py::arg("scores"))
      .def("best", &CtcDecoder::best)
      .def("nbest", &CtcDecoder::nbest)
      .def("reset", &CtcDecoder::reset)
      .def_property_readonly("num_frames", &CtcDecoder::num_frames)
      .def_property_readonly("trailing_blank_frames", &CtcDecoder::trailing_blank_frames)
      .def_property_readonly("method", [](const CtcDecoder& d) { return d.options().method; })
      .def_property_readonly("blank", [](const CtcDecoder& d) { return d.options().blank; });

  py::class_<Tokenizer>(m, "Tokenizer", "Token ids to text for char and SentencePiece vocabularies.")
      .def(py::init<std::vector<std::string>, const std::string&, int, const std::string&>(), py::arg("pieces"),
           py::arg("kind") = "char", py::arg("blank") = 0, py::arg("word_boundary") = "|")
      .def("decode", &Tokenizer::decode, py::arg("ids"))
      .def("piece", &Tokenizer::piece, py::arg("id"))
      .def("id", &Tokenizer::id, py::arg("piece"))
      .def("starts_word", &Tokenizer::starts_word, py::arg("id"))
      .def_property_readonly("kind", [](const Tokenizer& t) {
        return t.kind() == Tokenizer::Kind::Char ? "char" : "sentencepiece";
      })
      .def_property_readonly("blank", &Tokenizer::blank)
      .def("__len__", &Tokenizer::size);

  py::class_<EndpointRule>(m, "EndpointRule")
      .def(py::init([](bool must, float silence, float length) { return EndpointRule{must, silence, length}; }),
           py::arg("must_contain_nonsilence") = false, py::arg("min_trailing_silence") = 0.0f,
           py::arg("min_utterance_length") = 0.0f)
      .def_readwrite("must_contain_nonsilence", &EndpointRule::must_contain_nonsilence)
      .def_readwrite("min_trailing_silence", &EndpointRule::min_trailing_silence)
      .def_readwrite("min_utterance_length", &EndpointRule::min_utterance_length);
  py::class_<EndpointConfig>(m, "EndpointConfig", "sherpa-onnx-style endpoint rules (see decode/endpoint.h).")
      .def(py::init([](std::optional<EndpointRule> r1, std::optional<EndpointRule> r2,
                       std::optional<EndpointRule> r3) {
             EndpointConfig c;
             if (r1) c.rule1 = *r1;
             if (r2) c.rule2 = *r2;
             if (r3) c.rule3 = *r3;
             return c;
           }),
           py::arg("rule1") = py::none(), py::arg("rule2") = py::none(), py::arg("rule3") = py::none())
      .def_readwrite("rule1", &EndpointConfig::rule1)
      .def_readwrite("rule2", &EndpointConfig::rule2)
      .def_readwrite("rule3", &EndpointConfig::rule3);
  py::class_<Endpoint>(m, "Endpoint")
      .def(py::init<const EndpointConfig&, float>(), py::arg("config") = EndpointConfig(),
           py::arg("frame_shift") = 0.04f)
      .def_property_readonly("config", &Endpoint::config)
      .def_property_readonly("frame_shift", &Endpoint::frame_shift)
      .def("check", py::overload_cast<int64_t, int64_t, bool>(&Endpoint::check, py::const_), py::arg("num_frames"),
           py::arg("trailing_blank_frames"), py::arg("has_text"),
           "The first rule (1, 2, 3) that fires, or 0.")
      .def("check", py::overload_cast<const CtcDecoder&>(&Endpoint::check, py::const_), py::arg("decoder"));
}

}  // namespace qasr::py_bindings
