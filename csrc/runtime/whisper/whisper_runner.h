// Running a Whisper model: log-mel -> encoder -> greedy decoder over 30 s
// windows (docs/whisper.md, "The C++ executor").
//
// Usage:
//   auto model = qasr::whisper::Model::load("tiny.en.qasr");
//   qasr::ThreadPool pool(2);
//   qasr::whisper::Runner run(model, &pool);     // one per thread of use
//   qasr::whisper::Result r = run.transcribe(samples, n);   // 16 kHz floats
//
// Encoder: two kernel-3 convolutions (stride 1, then 2) each followed by
// GELU, plus sinusoidal positions, then pre-norm transformer layers and a
// final layer norm. Decoder: token embedding + learned positions, pre-norm
// layers with causal self-attention over a key/value cache, cross-attention
// over the encoder output (keys/values computed once per window), a final
// norm and the output projection. Greedy: the prompt (<|startoftranscript|>
// ... <|notimestamps|>) is run in one pass, then one token at a time; the
// suppressed tokens never win, the begin-suppressed ones not at the first
// step; ties go to the lowest id (torch.argmax); stops at <|endoftext|>,
// max_new_tokens, or when the output ends with the same block of tokens
// `repetition_guard` times in a row (that last copy is dropped; 0: off).
// Long audio is cut into consecutive 30 s windows, each decoded from the
// prompt alone, and the tokens are joined.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "ops/attention_packed.h"
#include "runtime/whisper/whisper_model.h"

namespace qasr {
class ThreadPool;
}

namespace qasr::whisper {

struct Result {
  std::vector<int> tokens;                  // all windows, no prompt, no <|endoftext|>
  std::vector<std::vector<int>> windows;    // tokens per 30 s window
  std::string text;                         // detokenized, trimmed
};

struct Timings {
  double mel_s = 0, encoder_s = 0, decoder_s = 0;
  int64_t decoder_steps = 0;
};

class Runner {
 public:
  // `pool` null: the global pool.
  Runner(std::shared_ptr<const Model> model, ThreadPool* pool = nullptr);
  const Model& model() const { return *model_; }

  Result transcribe(const float* samples, int64_t n);
  // One window from features [3000][n_mels] (time-major).
  std::vector<int> decode_window(const float* mel);
  // Encoder output [source_positions][d_model] for features [3000][n_mels].
  const std::vector<float>& encode(const float* mel);
  // Logits of the last token after running `tokens` at positions pos0...
  // against the cached cross-attention of the last encode() (for tests).
  const std::vector<float>& decoder_step(const int* tokens, int64_t n, int64_t pos0);
  // Logits (before suppression) predicting each of `tokens` and the token
  // after them, with the prompt and `tokens` fed in (teacher forcing):
  // [tokens.size() + 1][vocab]. For comparing against a reference model.
  std::vector<float> forced_logits(const float* mel, const std::vector<int>& tokens);
  const Timings& timings() const { return timings_; }
  // Copies of a repeated block that stop greedy decoding (decode/repetition.h); 0 turns the guard off.
  void set_repetition_guard(int copies) { repetition_guard_ = copies; }
  int repetition_guard() const { return repetition_guard_; }
  static constexpr int kDefaultRepetitionGuard = 3;

 private:
  void attention_block(const Attention& a, float* x, int64_t M, int heads, const float* kv_src, int64_t Tkv,
                       bool self, int layer, int64_t pos0);
  void ffn_block(const Ffn& f, float* x, int64_t M);

  std::shared_ptr<const Model> model_;
  ThreadPool* pool_;
  Timings timings_;
  int repetition_guard_ = kDefaultRepetitionGuard;
  // Encoder scratch.
  std::vector<float> enc_x_, conv_a_, cols_, h_, q_, k_, v_, att_, ff_;
  PackedHeads enc_kv_;
  std::vector<float> scores_, qh_;
  // Decoder state: self-attention caches [layer][target_positions][d] and
  // each layer's cross-attention keys/values, packed once per window.
  std::vector<float> self_k_, self_v_;
  std::vector<PackedHeads> cross_;
  std::vector<float> dx_, logits_;
  std::vector<int64_t> key_begin_, key_end_;
};

}  // namespace qasr::whisper
