#include "runtime/conformer_ctc.h"

#include <algorithm>
#include <cstring>

#include "common/error.h"
#include "kernels/linear.h"
#include "ops/activations.h"
#include "ops/attention.h"
#include "ops/conv.h"
#include "ops/norm.h"
#include "ops/rope.h"

namespace qasr {

namespace {

int positive_int(const Json& m, const char* key, int def) {
  const int64_t v = m.int_or(key, def);
  if (v <= 0 || v > (1 << 20)) invalid(std::string("model.") + key + " = " + std::to_string(v) + " is out of range");
  return static_cast<int>(v);
}

// Encoder frames produced per subsampling pass in whole-utterance mode: bounds
// the im2col scratch of long recordings.
constexpr int64_t kSubsampleWindow = 64;

}  // namespace

ConformerConfig ConformerConfig::from_json(const Json& m) {
  if (!m.is_object()) invalid("header has no 'model' section");
  const std::string family = m.string_or("family", "");
  if (family != "conformer_ctc") invalid("model.family is '" + family + "', expected 'conformer_ctc'");
  ConformerConfig c;
  c.n_mels = positive_int(m, "n_mels", c.n_mels);
  c.d_model = positive_int(m, "d_model", c.d_model);
  c.n_heads = positive_int(m, "n_heads", c.n_heads);
  c.n_layers = positive_int(m, "n_layers", c.n_layers);
  c.ff_dim = positive_int(m, "ff_dim", c.ff_dim);
  c.conv_kernel = positive_int(m, "conv_kernel", c.conv_kernel);
  c.subsampling = positive_int(m, "subsampling", c.subsampling);
  c.sub_channels = positive_int(m, "sub_channels", c.sub_channels);
  c.vocab_size = positive_int(m, "vocab_size", c.vocab_size);
  c.blank = static_cast<int>(m.int_or("blank", c.blank));
  c.rope_base = m.double_or("rope_base", c.rope_base);
  c.ln_eps = static_cast<float>(m.double_or("ln_eps", c.ln_eps));
  if (c.subsampling != 4 && c.subsampling != 8) invalid("model.subsampling must be 4 or 8");
  if (c.d_model % c.n_heads != 0 || c.head_dim() % 2 != 0) {
    invalid("model.d_model must split into n_heads heads of an even width");
  }
  if (c.blank < 0 || c.blank >= c.vocab_size) invalid("model.blank is not a token id");
  if (!(c.rope_base > 1.0) || !(c.ln_eps > 0.0f)) invalid("model.rope_base / ln_eps out of range");
  if (c.sub_freq() <= 0) invalid("model.n_mels is too small for the subsampling");
  return c;
}

int64_t ConformerConfig::sub_freq() const {
  int64_t f = n_mels;
  for (int i = 0; i < sub_convs(); ++i) f = conv_out_len(f);
  return f;
}

int64_t ConformerConfig::encoder_frames(int64_t T) const {
  for (int i = 0; i < sub_convs(); ++i) T = conv_out_len(T);
  return T;
}

size_t EncoderCache::bytes() const {
  size_t n = 0;
  for (const Layer& l : layers) n += (l.k.capacity() + l.v.capacity() + l.conv.capacity()) * sizeof(float);
  return n;
}

namespace {

// Per calling thread: one thread runs one encode at a time, and pool
// workers only see these buffers through pointers handed to them.
struct EncodeScratch {
  std::vector<float> h, u, y;                // feed_forward
  std::vector<float> h2, qkv, att, y2, conv_in;  // encode
};
thread_local EncodeScratch t_scratch;
// Calls up to this many frames keep their scratch for the next call (a
// streaming chunk); a longer, full-context call frees it, so one long file
// does not pin its buffers for the thread's lifetime.
constexpr int64_t kScratchKeepFrames = 256;

float* sized(std::vector<float>& v, int64_t n) {
  if (static_cast<int64_t>(v.size()) < n) v.resize(static_cast<size_t>(n));
  return v.data();
}

}  // namespace

std::shared_ptr<const ConformerModel> ConformerModel::load(const std::string& path, int threads) {
  return load(QasrFile::open(path), threads);
}

std::shared_ptr<const ConformerModel> ConformerModel::load(std::shared_ptr<const QasrFile> file, int threads) {
  std::shared_ptr<ConformerModel> m(new ConformerModel());
  m->file_ = std::move(file);
  try {
    m->bind(threads);
  } catch (const InvalidInput& e) {
    invalid(m->file_->source() + ": " + e.what());
  }
  return m;
}

ConformerModel::LinearW ConformerModel::linear(const std::string& name, int64_t out, int64_t in) const {
  LinearW l;
  l.w = file_->matrix(name + ".weight", out, in);
  l.bias = file_->f32(name + ".bias", {out});
  return l;
}

ConformerModel::Norm ConformerModel::norm(const std::string& name) const {
  const int64_t d = cfg_.d_model;
  return Norm{file_->f32(name + ".weight", {d}), file_->f32(name + ".bias", {d})};
}

void ConformerModel::bind(int threads) {
  const Json& h = file_->header();
  cfg_ = ConformerConfig::from_json(h["model"]);

  const Json* fe = h.get("frontend");
  if (fe) {
    const std::string kind = fe->string_or("kind", "kaldi_fbank");
    if (kind != "kaldi_fbank") invalid("frontend.kind '" + kind + "' is not supported (kaldi_fbank)");
    if (fe->double_or("dither", 0.0) != 0.0) invalid("frontend.dither must be 0");
    if (!fe->bool_or("snip_edges", true)) invalid("frontend.snip_edges must be true");
    fbank_.sample_rate = static_cast<float>(fe->double_or("sample_rate", 16000.0));
    fbank_.num_bins = static_cast<int>(fe->int_or("num_bins", 80));
    fbank_.frame_length_ms = static_cast<float>(fe->double_or("frame_length_ms", 25.0));
    fbank_.frame_shift_ms = static_cast<float>(fe->double_or("frame_shift_ms", 10.0));
  }
  fbank_.validate();
  if (fbank_.dim() != cfg_.n_mels) {
    invalid("frontend.num_bins " + std::to_string(fbank_.dim()) + " != model.n_mels " + std::to_string(cfg_.n_mels));
  }

  const Json* tok = h.get("tokenizer");
  if (!tok) invalid("header has no 'tokenizer' section");
  std::vector<std::string> pieces;
  for (const Json& p : (*tok)["pieces"].as_array()) pieces.push_back(p.as_string());
  tokenizer_ = std::make_unique<Tokenizer>(std::move(pieces), tok->string_or("kind", "char"),
                                           static_cast<int>(tok->int_or("blank", cfg_.blank)));
  if (tokenizer_->size() != cfg_.vocab_size) {
    invalid("tokenizer has " + std::to_string(tokenizer_->size()) + " pieces, model.vocab_size is " +
            std::to_string(cfg_.vocab_size));
  }

  pool_ = std::make_unique<ThreadPool>(threads > 0 ? threads : static_cast<int>(std::max(1u, std::thread::hardware_concurrency())));

  const int64_t d = cfg_.d_model, C = cfg_.sub_channels;
  cmvn_mean_ = file_->f32("cmvn_mean", {cfg_.n_mels});
  cmvn_istd_ = file_->f32("cmvn_istd", {cfg_.n_mels});
  int64_t cin = 1;
  sub_.resize(cfg_.sub_convs());
  for (int i = 0; i < cfg_.sub_convs(); ++i) {
    const std::string name = "subsample.conv." + std::to_string(2 * i);
    const float* w = file_->f32(name + ".weight", {C, cin, 3, 3});
    sub_[i].packed = pack_f32(w, C, cin * 9);
    sub_[i].w.layout = PackedLayout::make(WeightFormat::F32, C, cin * 9, 0);
    sub_[i].w.data = sub_[i].packed.data();
    sub_[i].bias = file_->f32(name + ".bias", {C});
    sub_[i].cin = cin;
    cin = C;
  }
  sub_out_ = linear("subsample.out", d, C * cfg_.sub_freq());
  head_ = linear("head", cfg_.vocab_size, d);
  blocks_.resize(cfg_.n_layers);
  for (int i = 0; i < cfg_.n_layers; ++i) {
    const std::string p = "blocks." + std::to_string(i) + ".";
    Block& b = blocks_[i];
    b.ff1_norm = norm(p + "ff1.norm");
    b.ff1_1 = linear(p + "ff1.linear1", cfg_.ff_dim, d);
    b.ff1_2 = linear(p + "ff1.linear2", d, cfg_.ff_dim);
    b.attn_norm = norm(p + "attn.norm");
    b.qkv = linear(p + "attn.qkv", 3 * d, d);
    b.attn_out = linear(p + "attn.out", d, d);
    b.conv_norm = norm(p + "conv.norm");
    b.pw1 = linear(p + "conv.pw1", 2 * d, d);
    b.dw_w = file_->f32(p + "conv.dw.weight", {d, 1, cfg_.conv_kernel});
    b.dw_b = file_->f32(p + "conv.dw.bias", {d});
    b.dw_norm = norm(p + "conv.dw_norm");
    b.pw2 = linear(p + "conv.pw2", d, d);
    b.ff2_norm = norm(p + "ff2.norm");
    b.ff2_1 = linear(p + "ff2.linear1", cfg_.ff_dim, d);
    b.ff2_2 = linear(p + "ff2.linear2", d, cfg_.ff_dim);
    b.out_norm = norm(p + "norm_out");
  }
}

void ConformerModel::normalize(float* feats, int64_t T) const {
  const int64_t F = cfg_.n_mels;
  for (int64_t t = 0; t < T; ++t) {
    float* r = feats + t * F;
    for (int64_t f = 0; f < F; ++f) r[f] = (r[f] - cmvn_mean_[f]) * cmvn_istd_[f];
  }
}

std::vector<float> ConformerModel::subsample(const float* feats, int64_t T) const {
  const int64_t n = cfg_.encoder_frames(T);
  const int64_t d = cfg_.d_model, C = cfg_.sub_channels, Fq = cfg_.sub_freq();
  std::vector<float> out(static_cast<size_t>(n) * d);
  std::vector<float> a, b, cols, flat;
  const int64_t S = cfg_.stride(), R = cfg_.receptive_field();
  for (int64_t t0 = 0; t0 < n; t0 += kSubsampleWindow) {
    const int64_t m = std::min(kSubsampleWindow, n - t0);
    // Fbank rows [S*t0, S*(t0+m-1)+R) produce exactly encoder frames t0..t0+m-1.
    int64_t H = S * (m - 1) + R, W = cfg_.n_mels, cin = 1;
    a.assign(feats + S * t0 * W, feats + (S * t0 + H) * W);
    for (const SubConv& c : sub_) {
      const int64_t Ho = conv_out_len(H), Wo = conv_out_len(W);
      b.resize(static_cast<size_t>(Ho) * Wo * C);
      cols.resize(static_cast<size_t>(Ho) * Wo * cin * 9);
      conv2d_3x3_s2(a.data(), H, W, cin, c.w, c.bias, true, b.data(), cols.data(), pool_.get());
      a.swap(b);
      H = Ho;
      W = Wo;
      cin = C;
    }
    // [m][Fq][C] channel-last to the model's channel-major rows [m][C*Fq].
    flat.resize(static_cast<size_t>(m) * C * Fq);
    for (int64_t t = 0; t < m; ++t) {
      for (int64_t f = 0; f < Fq; ++f) {
        for (int64_t c = 0; c < C; ++c) flat[(t * C + c) * Fq + f] = a[(t * Fq + f) * C + c];
      }
    }
    qasr::linear(flat.data(), C * Fq, m, sub_out_.w, sub_out_.bias, out.data() + t0 * d, d, pool_.get());
  }
  return out;
}

void ConformerModel::init_cache(EncoderCache* cache) const {
  cache->layers.assign(cfg_.n_layers, {});
  for (EncoderCache::Layer& l : cache->layers) {
    l.conv.assign(static_cast<size_t>(cfg_.conv_kernel - 1) * cfg_.d_model, 0.0f);
  }
  cache->first_pos = cache->next_pos = 0;
}

void ConformerModel::feed_forward(const Norm& n, const LinearW& l1, const LinearW& l2, float* x,
                                  int64_t rows) const {
  const int64_t d = cfg_.d_model, F = cfg_.ff_dim;
  EncodeScratch& sc = t_scratch;
  float* h = sized(sc.h, rows * d);
  float* u = sized(sc.u, rows * F);
  float* y = sized(sc.y, rows * d);
  layer_norm(x, rows, d, n.gamma, n.beta, cfg_.ln_eps, h);
  qasr::linear(h, d, rows, l1.w, l1.bias, u, F, pool_.get());
  silu_inplace(u, rows * F);
  qasr::linear(u, F, rows, l2.w, l2.bias, y, d, pool_.get());
  for (int64_t i = 0; i < rows * d; ++i) x[i] += 0.5f * y[i];
}

void ConformerModel::encode(EncoderCache* cache, float* x, int64_t n, int64_t chunk, int left_chunks,
                            float* logits) const {
  if (n <= 0) return;
  if (static_cast<int>(cache->layers.size()) != cfg_.n_layers) invalid("encoder cache was not initialised");
  const int64_t d = cfg_.d_model, K = cfg_.conv_kernel, H = cfg_.n_heads, dh = cfg_.head_dim();
  const int64_t pos0 = cache->next_pos, end = pos0 + n;
  ThreadPool* pool = pool_.get();

  // Visible keys of each query, as cache rows.
  std::vector<int64_t> kb(n), ke(n);
  for (int64_t i = 0; i < n; ++i) {
    const int64_t p = pos0 + i;
    int64_t lo = 0, hi = end;
    if (chunk > 0) {
      const int64_t c = p / chunk;
      hi = std::min(end, (c + 1) * chunk);
      if (left_chunks >= 0) lo = std::max<int64_t>(0, (c - left_chunks) * chunk);
    }
    if (lo < cache->first_pos) fail("encoder cache dropped frames a query still sees");
    kb[i] = lo - cache->first_pos;
    ke[i] = hi - cache->first_pos;
  }
  RopeTable rope;
  rope.compute(pos0, n, static_cast<int>(dh), cfg_.rope_base);

  // Scratch reused across calls (a stream runs one chunk after another):
  // fresh zero-filled vectors per chunk cost more than some of the layers.
  EncodeScratch& sc = t_scratch;
  float* h = sized(sc.h2, n * d);
  float* qkv = sized(sc.qkv, n * 3 * d);
  float* att = sized(sc.att, n * d);
  float* y = sized(sc.y2, n * d);
  float* conv_in = sized(sc.conv_in, (n + K - 1) * d);
  for (int li = 0; li < cfg_.n_layers; ++li) {
    const Block& b = blocks_[li];
    EncoderCache::Layer& lc = cache->layers[li];

    feed_forward(b.ff1_norm, b.ff1_1, b.ff1_2, x, n);

    // Self-attention over the cached and the new frames.
    layer_norm(x, n, d, b.attn_norm.gamma, b.attn_norm.beta, cfg_.ln_eps, h);
    qasr::linear(h, d, n, b.qkv.w, b.qkv.bias, qkv, 3 * d, pool);
    apply_rope(qkv, n, 3 * d, static_cast<int>(H), static_cast<int>(dh), rope);          // q
    apply_rope(qkv + d, n, 3 * d, static_cast<int>(H), static_cast<int>(dh), rope);      // k
    const size_t old = lc.k.size();
    lc.k.resize(old + static_cast<size_t>(n) * d);
    lc.v.resize(old + static_cast<size_t>(n) * d);
    for (int64_t i = 0; i < n; ++i) {
      std::memcpy(lc.k.data() + old + i * d, qkv + i * 3 * d + d, d * sizeof(float));
      std::memcpy(lc.v.data() + old + i * d, qkv + i * 3 * d + 2 * d, d * sizeof(float));
    }
    AttentionArgs a;
    a.q = qkv;
    a.ldq = 3 * d;
    a.Tq = n;
    a.k = lc.k.data();
    a.v = lc.v.data();
    a.ldk = a.ldv = d;
    a.Tk = static_cast<int64_t>(lc.k.size()) / d;
    a.heads = static_cast<int>(H);
    a.head_dim = static_cast<int>(dh);
    a.key_begin = kb.data();
    a.key_end = ke.data();
    a.out = att;
    a.ldo = d;
    attention(a, pool);
    qasr::linear(att, d, n, b.attn_out.w, b.attn_out.bias, y, d, pool);
    for (int64_t i = 0; i < n * d; ++i) x[i] += y[i];

    // Convolution module; the causal conv continues from the cached history.
    layer_norm(x, n, d, b.conv_norm.gamma, b.conv_norm.beta, cfg_.ln_eps, h);
    qasr::linear(h, d, n, b.pw1.w, b.pw1.bias, qkv, 2 * d, pool);
    std::copy(lc.conv.begin(), lc.conv.end(), conv_in);
    glu(qkv, n, d, conv_in + (K - 1) * d);
    std::copy(conv_in + n * d, conv_in + (n + K - 1) * d, lc.conv.begin());
    depthwise_conv1d_causal(conv_in, n, d, static_cast<int>(K), b.dw_w, b.dw_b, h);
    layer_norm(h, n, d, b.dw_norm.gamma, b.dw_norm.beta, cfg_.ln_eps, h);
    silu_inplace(h, n * d);
    qasr::linear(h, d, n, b.pw2.w, b.pw2.bias, y, d, pool);
    for (int64_t i = 0; i < n * d; ++i) x[i] += y[i];

    feed_forward(b.ff2_norm, b.ff2_1, b.ff2_2, x, n);
    layer_norm(x, n, d, b.out_norm.gamma, b.out_norm.beta, cfg_.ln_eps, x);
  }
  qasr::linear(x, d, n, head_.w, head_.bias, logits, cfg_.vocab_size, pool);
  cache->next_pos = end;
  if (n > kScratchKeepFrames) t_scratch = EncodeScratch();

  // Keep only the keys that the next chunk's queries can see.
  if (chunk > 0 && left_chunks >= 0) {
    const int64_t keep_from = std::max<int64_t>(0, (end / chunk - left_chunks) * chunk);
    const int64_t drop = std::max<int64_t>(0, keep_from - cache->first_pos);
    if (drop > 0) {
      for (EncoderCache::Layer& lc : cache->layers) {
        lc.k.erase(lc.k.begin(), lc.k.begin() + drop * d);
        lc.v.erase(lc.v.begin(), lc.v.begin() + drop * d);
      }
      cache->first_pos += drop;
    }
  }
}

std::vector<float> ConformerModel::logits(const float* feats, int64_t T, int64_t chunk, int left_chunks) const {
  const int64_t n = cfg_.encoder_frames(T);
  std::vector<float> out(static_cast<size_t>(n) * cfg_.vocab_size);
  if (n == 0) return out;
  std::vector<float> f(feats, feats + T * cfg_.n_mels);
  normalize(f.data(), T);
  std::vector<float> x = subsample(f.data(), T);
  EncoderCache cache;
  init_cache(&cache);
  encode(&cache, x.data(), n, chunk, left_chunks, out.data());
  return out;
}

}  // namespace qasr
