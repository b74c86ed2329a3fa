// Speech to text with a loaded ConformerModel: whole utterances
// (transcribe) and streams (ConformerStream), each decoded by CTC greedy or
// prefix beam search, with token timestamps and endpoint detection.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "decode/ctc.h"
#include "decode/endpoint.h"
#include "frontend/fbank.h"
#include "runtime/conformer_ctc.h"

namespace qasr {

struct RecognitionResult {
  std::string text;
  std::vector<int> tokens;
  std::vector<float> timestamps;  // seconds, start of each token's frame
  int64_t frames = 0;             // encoder frames decoded
  float duration = 0.0f;          // seconds of audio consumed
};

struct RecognizerOptions {
  int beam = 1;               // 1: greedy; > 1: CTC prefix beam search of this width
  int64_t chunk_frames = 16;  // streaming chunk in encoder frames (16 x 40 ms = 640 ms with 4x)
  int left_chunks = 4;        // chunks of left context a stream keeps (>= 0: bounded memory)
  EndpointConfig endpoint;
  // Streams keep every chunk's logits (unbounded; for tests and analysis).
  bool keep_logits = false;
  void validate() const;
  CtcDecoderOptions decoder_options(int blank) const;
};

// Whole-utterance recognition at full context. Samples are floats in
// [-1, 1] at the model's sample rate.
RecognitionResult transcribe(const ConformerModel& model, const float* samples, int64_t n,
                             const RecognizerOptions& opts);

// One audio stream. Holds only bounded state (fbank remainder, at most one
// chunk of pending features, the encoder cache of left_chunks + 1 chunks,
// the decoder), so memory is flat on endless input. Not thread-safe itself;
// many streams share one model across threads.
class ConformerStream {
 public:
  ConformerStream(std::shared_ptr<const ConformerModel> model, const RecognizerOptions& opts);

  // Samples at the model's sample rate, floats in [-1, 1]; runs every chunk
  // they complete. Throws InvalidInput on NaN/Inf or after finish().
  void accept_waveform(const float* samples, int64_t n);
  // Flushes the last partial chunk; no audio may follow (until reset()).
  void input_finished();
  bool finished() const { return finished_; }
  // The text so far (final after input_finished()).
  RecognitionResult result() const;
  // Endpoint rule that fired (1..3), or 0.
  int endpoint_rule() const;
  bool is_endpoint() const { return endpoint_rule() != 0; }
  // Starts a new utterance: clears audio, caches and hypothesis.
  void reset();

  const ConformerModel& model() const { return *model_; }
  const RecognizerOptions& options() const { return opts_; }
  // Bytes of stream state now held (for the flat-memory tests).
  size_t state_bytes() const;
  // All logits so far [frames][vocab] when options().keep_logits.
  const std::vector<float>& kept_logits() const { return kept_; }

 private:
  void run_chunks(bool flush);

  std::shared_ptr<const ConformerModel> model_;
  RecognizerOptions opts_;
  FbankStream fbank_;
  std::vector<float> pending_;  // normalized fbank rows from frame stride * cache_.next_pos on
  std::vector<float> taken_;
  std::vector<float> logits_;
  std::vector<float> kept_;
  EncoderCache cache_;
  std::unique_ptr<CtcDecoder> decoder_;
  Endpoint endpoint_;
  bool finished_ = false;
};

}  // namespace qasr
