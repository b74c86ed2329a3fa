// A Whisper model served from a `.qasr` file (docs/whisper.md, "The .qasr
// file"): dimensions, weights (pointers into the mapping; packed matrices
// used in place), the mel front end, the byte-level BPE detokenizer and the
// greedy decoding settings. Immutable once loaded; share it between threads.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "decode/byte_bpe.h"
#include "format/qasr_file.h"
#include "frontend/whisper_mel.h"
#include "kernels/packed.h"

namespace qasr::whisper {

struct Dims {
  int n_mels = 80, d_model = 0;
  int encoder_layers = 0, encoder_heads = 0, encoder_ffn = 0;
  int decoder_layers = 0, decoder_heads = 0, decoder_ffn = 0;
  int vocab = 0, source_positions = 0, target_positions = 0;
  float eps = 1e-5f;
};

struct Linear {
  PackedMatrix w;
  const float* bias = nullptr;  // null: no bias (Whisper's key projections)
};

struct Norm {
  const float* gamma = nullptr;
  const float* beta = nullptr;
};

struct Attention {
  Norm norm;  // the pre-norm in front of this attention
  Linear q, k, v, out;
};

struct Ffn {
  Norm norm;
  Linear fc1, fc2;
};

struct EncoderLayer {
  Attention self;
  Ffn ffn;
};

struct DecoderLayer {
  Attention self, cross;
  Ffn ffn;
};

struct Generation {
  std::vector<int> prompt;  // <|startoftranscript|> [lang task] <|notimestamps|>
  int eos = 0;
  std::vector<int> suppress;        // never generated
  std::vector<int> begin_suppress;  // not as the first generated token
  int max_new_tokens = 0;           // per 30 s window
};

class Model {
 public:
  // Validates the header and every tensor's shape; throws InvalidInput
  // naming the member or tensor.
  static std::shared_ptr<const Model> load(const std::string& path, const OpenOptions& opts = {});
  explicit Model(std::shared_ptr<const QasrFile> file);

  const Dims& dims() const { return dims_; }
  const Generation& generation() const { return gen_; }
  const WhisperMel& mel() const { return *mel_; }
  const ByteBpeDecoder& tokenizer() const { return *tok_; }
  const QasrFile& file() const { return *file_; }

  Linear conv1, conv2;
  const float* enc_positions = nullptr;  // [source_positions][d]
  std::vector<EncoderLayer> enc;
  Norm enc_norm;
  const float* dec_positions = nullptr;  // [target_positions][d]
  std::vector<DecoderLayer> dec;
  Norm dec_norm;
  PackedMatrix proj;                       // [vocab, d], no bias
  const float* embed_f32 = nullptr;        // separate f32 table, or
  const uint16_t* embed_f16 = nullptr;     // separate f16 table; both null: rows of `proj`

  // Token embedding row (d floats).
  void embedding(int token, float* out) const;

 private:
  std::shared_ptr<const QasrFile> file_;
  Dims dims_;
  Generation gen_;
  std::unique_ptr<WhisperMel> mel_;
  std::unique_ptr<ByteBpeDecoder> tok_;
};

}  // namespace qasr::whisper
