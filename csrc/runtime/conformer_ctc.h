// The Conformer-CTC executor: the forward pass of
// qasr_native/models/conformer.py (docs/conformer.md) over the tensors of a
// .qasr file, composed from csrc/ops and csrc/kernels.
//
// A ConformerModel is immutable after loading and shared by any number of
// streams on any number of threads; everything that changes while audio
// arrives lives in an EncoderCache owned by one stream.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "common/thread_pool.h"
#include "decode/tokenizer.h"
#include "format/qasr_file.h"
#include "frontend/fbank.h"
#include "kernels/quantize.h"

namespace qasr {

struct ConformerConfig {
  int n_mels = 80, d_model = 144, n_heads = 4, n_layers = 4, ff_dim = 576, conv_kernel = 15;
  int subsampling = 4, sub_channels = 64, vocab_size = 32, blank = 0;
  double rope_base = 10000.0;
  float ln_eps = 1e-5f;

  // Reads the header's `model` section; throws InvalidInput naming the field.
  static ConformerConfig from_json(const Json& model);
  int sub_convs() const { return subsampling == 4 ? 2 : 3; }
  int head_dim() const { return d_model / n_heads; }
  // Encoder frame t reads fbank frames [stride()*t, stride()*t + receptive_field()).
  int stride() const { return subsampling; }
  int receptive_field() const { return sub_convs() == 2 ? 7 : 15; }
  int64_t sub_freq() const;
  // Encoder frames from T fbank frames.
  int64_t encoder_frames(int64_t T) const;
};

// Per-stream state of the encoder: attention keys/values of the frames that
// later queries may still see, and the depthwise convolutions' history.
struct EncoderCache {
  struct Layer {
    std::vector<float> k, v;  // [rows][d], positions first_pos .. first_pos + rows - 1
    std::vector<float> conv;  // [kernel - 1][d] last GLU outputs
  };
  std::vector<Layer> layers;
  int64_t first_pos = 0;  // position of cached row 0
  int64_t next_pos = 0;   // position of the next encoder frame
  int64_t rows() const { return next_pos - first_pos; }
  size_t bytes() const;
};

class ConformerModel {
 public:
  // `threads` <= 0: the hardware's thread count.
  static std::shared_ptr<const ConformerModel> load(const std::string& path, int threads = 1);
  static std::shared_ptr<const ConformerModel> load(std::shared_ptr<const QasrFile> file, int threads = 1);

  const ConformerConfig& config() const { return cfg_; }
  const Tokenizer& tokenizer() const { return *tokenizer_; }
  const FbankOptions& fbank_options() const { return fbank_; }
  const QasrFile& file() const { return *file_; }
  ThreadPool* pool() const { return pool_.get(); }
  // Seconds of audio per encoder frame.
  float frame_seconds() const { return fbank_.frame_shift_ms * 1e-3f * cfg_.stride(); }

  // Whole utterance: fbank features [T][n_mels] (before CMVN) to CTC logits
  // [T'][vocab]. chunk <= 0: full context; else the chunk mask with
  // `left_chunks` chunks of left context (< 0: all), as the training-time
  // mask, which streaming reproduces.
  std::vector<float> logits(const float* feats, int64_t T, int64_t chunk = 0, int left_chunks = -1) const;

  // Streaming pieces (ConformerStream strings them together).
  // CMVN, in place over rows of n_mels.
  void normalize(float* feats, int64_t T) const;
  // Normalized fbank rows [T][n_mels], T >= receptive_field(), starting at
  // fbank frame stride()*t0 for some t0, to the encoder input
  // [encoder_frames(T)][d_model] of frames t0, t0+1, ...
  std::vector<float> subsample(const float* feats, int64_t T) const;
  void init_cache(EncoderCache* cache) const;
  // Runs the blocks and the head on n new encoder frames x [n][d] (positions
  // cache->next_pos ...), writes logits [n][vocab] and drops the cached
  // frames no later query can see (chunk > 0 and left_chunks >= 0).
  void encode(EncoderCache* cache, float* x, int64_t n, int64_t chunk, int left_chunks, float* logits) const;

 private:
  struct LinearW {
    PackedMatrix w;
    const float* bias = nullptr;
  };
  struct Norm {
    const float* gamma = nullptr;
    const float* beta = nullptr;
  };
  struct Block {
    Norm ff1_norm, attn_norm, conv_norm, dw_norm, ff2_norm, out_norm;
    LinearW ff1_1, ff1_2, qkv, attn_out, pw1, pw2, ff2_1, ff2_2;
    const float* dw_w = nullptr;
    const float* dw_b = nullptr;
  };
  struct SubConv {
    AlignedBytes packed;  // f32 panels of [Cout, Cin*9]
    PackedMatrix w;
    const float* bias = nullptr;
    int64_t cin = 0;
  };

  ConformerModel() = default;
  void bind(int threads);
  LinearW linear(const std::string& name, int64_t out, int64_t in) const;
  Norm norm(const std::string& name) const;
  void feed_forward(const Norm& n, const LinearW& l1, const LinearW& l2, float* x, int64_t rows) const;

  std::shared_ptr<const QasrFile> file_;
  ConformerConfig cfg_;
  FbankOptions fbank_;
  std::unique_ptr<Tokenizer> tokenizer_;
  std::unique_ptr<ThreadPool> pool_;
  const float* cmvn_mean_ = nullptr;
  const float* cmvn_istd_ = nullptr;
  std::vector<SubConv> sub_;
  LinearW sub_out_, head_;
  std::vector<Block> blocks_;
};

}  // namespace qasr
