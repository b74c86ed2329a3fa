#include "runtime/whisper/whisper_runner.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <limits>

#include "common/error.h"
#include "common/thread_pool.h"
#include "decode/repetition.h"
#include "kernels/linear.h"
#include "ops/attention.h"
#include "ops/conv1d.h"
#include "ops/norm.h"
#include "ops/activations.h"

namespace qasr::whisper {
namespace {

double now() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

void add_inplace(float* x, const float* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) x[i] += y[i];
}

}  // namespace

Runner::Runner(std::shared_ptr<const Model> model, ThreadPool* pool)
    : model_(std::move(model)), pool_(pool ? pool : &global_pool()) {
  if (!model_) invalid("whisper: null model");
  const Dims& d = model_->dims();
  const size_t D = d.d_model;
  self_k_.assign(size_t(d.decoder_layers) * d.target_positions * D, 0.0f);
  self_v_.assign(self_k_.size(), 0.0f);
  cross_.resize(d.decoder_layers);
}

// x [M][d] += out_proj(attention(q_proj(norm(x)), K, V)). Self-attention
// writes this step's keys/values into the layer's cache at rows pos0.. and
// attends causally; cross-attention reads the window's precomputed K/V.
// The encoder (kv_src == nullptr && self && layer < 0) attends over its own
// rows with no cache.
void Runner::attention_block(const Attention& a, float* x, int64_t M, int heads, const float* kv_src, int64_t Tkv,
                             bool self, int layer, int64_t pos0) {
  const Dims& d = model_->dims();
  const int64_t D = d.d_model;
  h_.resize(M * D);
  q_.resize(M * D);
  att_.resize(M * D);
  layer_norm(x, M, D, a.norm.gamma, a.norm.beta, d.eps, h_.data());
  linear(h_.data(), D, M, a.q.w, a.q.bias, q_.data(), D, pool_);
  AttentionArgs args;
  args.q = q_.data();
  args.ldq = D;
  args.Tq = M;
  args.heads = heads;
  args.head_dim = static_cast<int>(D / heads);
  args.out = att_.data();
  args.ldo = D;
  if (layer < 0) {  // encoder self-attention over its own M rows
    k_.resize(M * D);
    v_.resize(M * D);
    linear(h_.data(), D, M, a.k.w, nullptr, k_.data(), D, pool_);
    linear(h_.data(), D, M, a.v.w, a.v.bias, v_.data(), D, pool_);
    enc_kv_.pack(k_.data(), D, v_.data(), D, M, heads, args.head_dim, pool_);
    attention_packed(q_.data(), D, M, enc_kv_, 0.0f, att_.data(), D, scores_, qh_, pool_);
  } else if (self) {
    float* kc = self_k_.data() + (size_t(layer) * d.target_positions) * D;
    float* vc = self_v_.data() + (size_t(layer) * d.target_positions) * D;
    linear(h_.data(), D, M, a.k.w, nullptr, kc + pos0 * D, D, pool_);
    linear(h_.data(), D, M, a.v.w, a.v.bias, vc + pos0 * D, D, pool_);
    key_begin_.assign(M, 0);
    key_end_.resize(M);
    for (int64_t i = 0; i < M; ++i) key_end_[i] = pos0 + i + 1;
    args.k = kc;
    args.v = vc;
    args.ldk = args.ldv = D;
    args.Tk = pos0 + M;
    args.key_begin = key_begin_.data();
    args.key_end = key_end_.data();
  } else {
    (void)kv_src;
    (void)Tkv;
    attention_packed(q_.data(), D, M, cross_[layer], 0.0f, att_.data(), D, scores_, qh_, pool_);
  }
  if (self && layer >= 0) attention(args, pool_);
  linear(att_.data(), D, M, a.out.w, a.out.bias, h_.data(), D, pool_);
  add_inplace(x, h_.data(), M * D);
}

void Runner::ffn_block(const Ffn& f, float* x, int64_t M) {
  const Dims& d = model_->dims();
  const int64_t D = d.d_model, F = f.fc1.w.layout.N;
  h_.resize(M * D);
  ff_.resize(M * F);
  layer_norm(x, M, D, f.norm.gamma, f.norm.beta, d.eps, h_.data());
  linear(h_.data(), D, M, f.fc1.w, f.fc1.bias, ff_.data(), F, pool_);
  gelu_inplace(ff_.data(), M * F);
  linear(ff_.data(), F, M, f.fc2.w, f.fc2.bias, h_.data(), D, pool_);
  add_inplace(x, h_.data(), M * D);
}

const std::vector<float>& Runner::encode(const float* mel) {
  const Model& m = *model_;
  const Dims& d = m.dims();
  const int64_t D = d.d_model, T = WhisperMel::kFrames, S = d.source_positions;
  conv_a_.resize(T * D);
  conv1d(mel, T, d.n_mels, 3, 1, 1, m.conv1.w, m.conv1.bias, conv_a_.data(), cols_, pool_);
  gelu_inplace(conv_a_.data(), T * D);
  enc_x_.resize(S * D);
  conv1d(conv_a_.data(), T, D, 3, 2, 1, m.conv2.w, m.conv2.bias, enc_x_.data(), cols_, pool_);
  gelu_inplace(enc_x_.data(), S * D);
  add_inplace(enc_x_.data(), m.enc_positions, S * D);
  for (const EncoderLayer& l : m.enc) {
    attention_block(l.self, enc_x_.data(), S, d.encoder_heads, nullptr, 0, true, -1, 0);
    ffn_block(l.ffn, enc_x_.data(), S);
  }
  layer_norm(enc_x_.data(), S, D, m.enc_norm.gamma, m.enc_norm.beta, d.eps, enc_x_.data());
  // Cross-attention keys and values of every decoder layer, once per window.
  k_.resize(S * D);
  v_.resize(S * D);
  for (int i = 0; i < d.decoder_layers; ++i) {
    const Attention& c = m.dec[i].cross;
    linear(enc_x_.data(), D, S, c.k.w, nullptr, k_.data(), D, pool_);
    linear(enc_x_.data(), D, S, c.v.w, c.v.bias, v_.data(), D, pool_);
    cross_[i].pack(k_.data(), D, v_.data(), D, S, d.decoder_heads, static_cast<int>(D / d.decoder_heads), pool_);
  }
  return enc_x_;
}

const std::vector<float>& Runner::decoder_step(const int* tokens, int64_t n, int64_t pos0) {
  const Model& m = *model_;
  const Dims& d = m.dims();
  const int64_t D = d.d_model;
  if (n <= 0 || pos0 < 0 || pos0 + n > d.target_positions) {
    invalid("whisper: decoder positions " + std::to_string(pos0) + ".." + std::to_string(pos0 + n) +
            " exceed max_target_positions " + std::to_string(d.target_positions));
  }
  dx_.resize(n * D);
  for (int64_t i = 0; i < n; ++i) {
    m.embedding(tokens[i], dx_.data() + i * D);
    add_inplace(dx_.data() + i * D, m.dec_positions + (pos0 + i) * D, D);
  }
  for (int i = 0; i < d.decoder_layers; ++i) {
    const DecoderLayer& l = m.dec[i];
    attention_block(l.self, dx_.data(), n, d.decoder_heads, nullptr, 0, true, i, pos0);
    attention_block(l.cross, dx_.data(), n, d.decoder_heads, nullptr, d.source_positions, false, i, pos0);
    ffn_block(l.ffn, dx_.data(), n);
  }
  float* last = dx_.data() + (n - 1) * D;
  layer_norm(last, 1, D, m.dec_norm.gamma, m.dec_norm.beta, d.eps, last);
  logits_.resize(d.vocab);
  linear(last, D, 1, m.proj, nullptr, logits_.data(), d.vocab, pool_);
  return logits_;
}

std::vector<int> Runner::decode_window(const float* mel) {
  const Model& m = *model_;
  const Generation& g = m.generation();
  double t0 = now();
  encode(mel);
  double t1 = now();
  timings_.encoder_s += t1 - t0;
  std::vector<int> out;
  const float ninf = -std::numeric_limits<float>::infinity();
  int64_t pos = static_cast<int64_t>(g.prompt.size());
  const std::vector<float>* logits = &decoder_step(g.prompt.data(), pos, 0);
  ++timings_.decoder_steps;
  for (int step = 0; step < g.max_new_tokens; ++step) {
    std::vector<float>& l = const_cast<std::vector<float>&>(*logits);
    for (int t : g.suppress) l[t] = ninf;
    if (step == 0) {
      for (int t : g.begin_suppress) l[t] = ninf;
    }
    // First maximum (torch.argmax); NaN never wins.
    int best = -1;
    float bv = ninf;
    for (int t = 0; t < static_cast<int>(l.size()); ++t) {
      if (l[t] > bv || (best < 0 && l[t] == bv)) {
        bv = l[t];
        best = t;
      }
    }
    if (best < 0 || !std::isfinite(bv)) fail("whisper: every token is suppressed or the logits are not finite");
    if (best == g.eos) break;
    out.push_back(best);
    if (const int p = trailing_repeat_period(out, repetition_guard_)) {
      out.resize(out.size() - p);
      break;
    }
    if (step + 1 == g.max_new_tokens) break;
    logits = &decoder_step(&best, 1, pos);
    ++pos;
    ++timings_.decoder_steps;
  }
  timings_.decoder_s += now() - t1;
  return out;
}

std::vector<float> Runner::forced_logits(const float* mel, const std::vector<int>& tokens) {
  const Model& m = *model_;
  const Generation& g = m.generation();
  const int64_t V = m.dims().vocab;
  const int64_t P = static_cast<int64_t>(g.prompt.size());
  if (P + static_cast<int64_t>(tokens.size()) > m.dims().target_positions) {
    invalid("whisper: prompt and tokens exceed max_target_positions");
  }
  encode(mel);
  std::vector<float> out;
  out.reserve((tokens.size() + 1) * V);
  const std::vector<float>* l = &decoder_step(g.prompt.data(), P, 0);
  out.insert(out.end(), l->begin(), l->end());
  for (size_t i = 0; i < tokens.size(); ++i) {
    l = &decoder_step(&tokens[i], 1, P + static_cast<int64_t>(i));
    out.insert(out.end(), l->begin(), l->end());
  }
  return out;
}

Result Runner::transcribe(const float* samples, int64_t n) {
  if (n < 0 || (n > 0 && !samples)) invalid("whisper: null or negative-length audio");
  Result r;
  for (int64_t start = 0; start < n; start += WhisperMel::kSamples) {
    const int64_t len = std::min<int64_t>(WhisperMel::kSamples, n - start);
    const double t0 = now();
    std::vector<float> mel = model_->mel().compute(samples + start, len);
    timings_.mel_s += now() - t0;
    r.windows.push_back(decode_window(mel.data()));
    r.tokens.insert(r.tokens.end(), r.windows.back().begin(), r.windows.back().end());
  }
  std::string text = model_->tokenizer().decode(r.tokens);
  const size_t b = text.find_first_not_of(" \t\n\r");
  const size_t e = text.find_last_not_of(" \t\n\r");
  r.text = b == std::string::npos ? std::string() : text.substr(b, e - b + 1);
  return r;
}

}  // namespace qasr::whisper
