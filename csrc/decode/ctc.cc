#include "decode/ctc.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <unordered_map>

#include "common/error.h"

namespace qasr {
namespace {

constexpr double kNegInf = -std::numeric_limits<double>::infinity();

inline double log_add(double a, double b) {
  if (a == kNegInf) return b;
  if (b == kNegInf) return a;
  return a > b ? a + std::log1p(std::exp(b - a)) : b + std::log1p(std::exp(a - b));
}

constexpr uint64_t kHashMul = 0x9E3779B97F4A7C15ull;
inline uint64_t extend_hash(uint64_t h, int token) { return h * kHashMul + static_cast<uint64_t>(token) + 1; }

}  // namespace

void CtcDecoderOptions::validate() const {
  if (method != "greedy" && method != "prefix_beam") {
    invalid("CTC decoder: unknown method '" + method + "' (greedy or prefix_beam)");
  }
  if (blank < 0) invalid("CTC decoder: blank id must be >= 0, got " + std::to_string(blank));
  if (beam < 1 || beam > 10000) invalid("CTC decoder: beam must be in [1, 10000], got " + std::to_string(beam));
  if (max_tokens_per_frame < 0) invalid("CTC decoder: max_tokens_per_frame must be >= 0");
  if (nbest < 0) invalid("CTC decoder: nbest must be >= 0");
  if (std::isnan(token_threshold)) invalid("CTC decoder: token_threshold is NaN");
}

CtcDecoder::CtcDecoder(const CtcDecoderOptions& opts) : opts_(opts) { opts_.validate(); }

void CtcDecoder::reset() {
  frames_ = 0;
  trailing_blanks_ = 0;
  clear();
}

void CtcDecoder::accept(const float* scores, int64_t T, int64_t V) {
  if (T < 0 || V < 0) invalid("CTC decoder: negative shape [" + std::to_string(T) + ", " + std::to_string(V) + "]");
  if (T == 0) return;
  if (V <= opts_.blank) {
    invalid("CTC decoder: " + std::to_string(V) + " token scores per frame, but the blank id is " +
            std::to_string(opts_.blank));
  }
  if (V > (1 << 24)) invalid("CTC decoder: vocabulary of " + std::to_string(V) + " tokens is too large");
  if (vocab_ == 0) {
    vocab_ = V;
  } else if (V != vocab_) {
    invalid("CTC decoder: frames have " + std::to_string(V) + " scores, earlier frames had " + std::to_string(vocab_));
  }
  for (int64_t t = 0; t < T; ++t) {
    const float* row = scores + t * V;
    int argmax = 0;
    for (int64_t v = 0; v < V; ++v) {
      const float x = row[v];
      if (std::isnan(x) || x == std::numeric_limits<float>::infinity()) {
        invalid("CTC decoder: score of token " + std::to_string(v) + " at frame " + std::to_string(frames_) +
                " is " + (std::isnan(x) ? "NaN" : "+inf"));
      }
      if (x > row[argmax]) argmax = static_cast<int>(v);
    }
    if (opts_.log_softmax) {
      if (row[argmax] == -std::numeric_limits<float>::infinity()) {
        invalid("CTC decoder: every score at frame " + std::to_string(frames_) + " is -inf");
      }
      double sum = 0.0;
      const double m = row[argmax];
      for (int64_t v = 0; v < V; ++v) sum += std::exp(static_cast<double>(row[v]) - m);
      const double lse = m + std::log(sum);
      norm_.resize(V);
      for (int64_t v = 0; v < V; ++v) norm_[v] = static_cast<float>(static_cast<double>(row[v]) - lse);
      row = norm_.data();
    }
    trailing_blanks_ = argmax == opts_.blank ? trailing_blanks_ + 1 : 0;
    step(row, frames_, argmax);
    ++frames_;
  }
}

std::unique_ptr<CtcDecoder> make_ctc_decoder(const CtcDecoderOptions& opts) {
  opts.validate();
  if (opts.method == "greedy") return std::make_unique<CtcGreedyDecoder>(opts);
  return std::make_unique<CtcPrefixBeamDecoder>(opts);
}

// ---- greedy -----------------------------------------------------------------

CtcGreedyDecoder::CtcGreedyDecoder(const CtcDecoderOptions& opts) : CtcDecoder(opts) {}

void CtcGreedyDecoder::step(const float* frame, int64_t t, int argmax) {
  hyp_.score += frame[argmax];
  if (argmax != options().blank && argmax != prev_) {
    hyp_.tokens.push_back(argmax);
    hyp_.frames.push_back(t);
  }
  prev_ = argmax;
}

void CtcGreedyDecoder::clear() {
  hyp_ = CtcHypothesis();
  prev_ = -1;
}

// ---- prefix beam search -----------------------------------------------------

CtcPrefixBeamDecoder::CtcPrefixBeamDecoder(const CtcDecoderOptions& opts) : CtcDecoder(opts) { clear(); }

void CtcPrefixBeamDecoder::clear() {
  beam_.clear();
  Prefix empty;
  empty.pb = 0.0;
  empty.pnb = kNegInf;
  empty.vb = 0.0;
  empty.vnb = kNegInf;
  beam_.push_back(std::move(empty));
}

void CtcPrefixBeamDecoder::step(const float* frame, int64_t t, int argmax) {
  const CtcDecoderOptions& o = options();
  const int V = static_cast<int>(vocab());
  const int blank = o.blank;

  // Tokens worth extending with: the best k of this frame at or above the
  // threshold.
  const int k = std::min(V, o.max_tokens_per_frame > 0 ? o.max_tokens_per_frame : o.beam);
  candidates_.resize(V);
  std::iota(candidates_.begin(), candidates_.end(), 0);
  if (k < V) {
    std::nth_element(candidates_.begin(), candidates_.begin() + k, candidates_.end(), [&](int a, int b) {
      return frame[a] > frame[b] || (frame[a] == frame[b] && a < b);
    });
    candidates_.resize(k);
    std::sort(candidates_.begin(), candidates_.end());
  }
  candidates_.erase(std::remove_if(candidates_.begin(), candidates_.end(),
                                   [&](int c) {
                                     return frame[c] < o.token_threshold ||
                                            frame[c] == -std::numeric_limits<float>::infinity();
                                   }),
                    candidates_.end());
  if (frame[argmax] == -std::numeric_limits<float>::infinity()) {
    invalid("CTC prefix beam search: every score at frame " + std::to_string(t) + " is -inf");
  }
  // The frame's best token is always tried, whatever the threshold says.
  if (candidates_.empty()) candidates_.push_back(argmax);

  next_.clear();
  std::unordered_multimap<uint64_t, int> index;
  index.reserve(beam_.size() * (candidates_.size() + 1) * 2);
  // The entry for `parent` extended by `token` (-1: the parent itself).
  auto entry = [&](const Prefix& parent, int token) -> int {
    const uint64_t h = token < 0 ? parent.hash : extend_hash(parent.hash, token);
    const size_t len = parent.tokens.size() + (token < 0 ? 0 : 1);
    auto range = index.equal_range(h);
    for (auto it = range.first; it != range.second; ++it) {
      const std::vector<int>& s = next_[it->second].tokens;
      if (s.size() != len) continue;
      if (!std::equal(parent.tokens.begin(), parent.tokens.end(), s.begin())) continue;
      if (token >= 0 && s.back() != token) continue;
      return it->second;
    }
    Prefix p;
    p.tokens = parent.tokens;
    if (token >= 0) p.tokens.push_back(token);
    p.hash = h;
    p.pb = p.pnb = p.vb = p.vnb = kNegInf;
    next_.push_back(std::move(p));
    const int id = static_cast<int>(next_.size()) - 1;
    index.emplace(h, id);
    return id;
  };

  for (const Prefix& h : beam_) {
    const double total = log_add(h.pb, h.pnb);
    const bool best_is_blank = h.vb >= h.vnb;
    const double vbest = best_is_blank ? h.vb : h.vnb;
    const std::vector<int64_t>& tbest = best_is_blank ? h.tb : h.tnb;
    const int last = h.tokens.empty() ? -1 : h.tokens.back();
    for (int c : candidates_) {
      const double lp = frame[c];
      if (c == blank) {
        Prefix& n = next_[entry(h, -1)];
        n.pb = log_add(n.pb, total + lp);
        if (vbest + lp > n.vb) {
          n.vb = vbest + lp;
          n.tb = tbest;
        }
      } else if (c == last) {
        {  // the last token continues: no new emission
          Prefix& n = next_[entry(h, -1)];
          n.pnb = log_add(n.pnb, h.pnb + lp);
          if (h.vnb + lp > n.vnb) {
            n.vnb = h.vnb + lp;
            n.tnb = h.tnb;
          }
        }
        {  // a repeat of the token after a blank: a new emission
          Prefix& n = next_[entry(h, c)];
          n.pnb = log_add(n.pnb, h.pb + lp);
          if (h.vb + lp > n.vnb) {
            n.vnb = h.vb + lp;
            n.tnb = h.tb;
            n.tnb.push_back(t);
          }
        }
      } else {
        Prefix& n = next_[entry(h, c)];
        n.pnb = log_add(n.pnb, total + lp);
        if (vbest + lp > n.vnb) {
          n.vnb = vbest + lp;
          n.tnb = tbest;
          n.tnb.push_back(t);
        }
      }
    }
  }

  // Keep the `beam` most probable prefixes; ties keep creation order, which
  // is deterministic, so any chunking of the frames gives the same beam.
  order_.resize(next_.size());
  std::iota(order_.begin(), order_.end(), 0);
  std::vector<double> score(next_.size());
  for (size_t i = 0; i < next_.size(); ++i) score[i] = log_add(next_[i].pb, next_[i].pnb);
  const size_t keep = std::min<size_t>(next_.size(), static_cast<size_t>(o.beam));
  std::partial_sort(order_.begin(), order_.begin() + keep, order_.end(), [&](int a, int b) {
    return score[a] > score[b] || (score[a] == score[b] && a < b);
  });
  beam_.clear();
  for (size_t i = 0; i < keep; ++i) {
    if (score[order_[i]] == kNegInf) break;  // probability 0: nothing to keep
    beam_.push_back(std::move(next_[order_[i]]));
  }
  // Cannot happen: the frame's best token is finite and always tried.
  QASR_CHECK(!beam_.empty(), "CTC prefix beam search lost every prefix at frame " + std::to_string(t));
}

CtcHypothesis CtcPrefixBeamDecoder::to_hypothesis(const Prefix& p) const {
  CtcHypothesis h;
  h.tokens = p.tokens;
  h.frames = p.vb >= p.vnb ? p.tb : p.tnb;
  h.score = log_add(p.pb, p.pnb);
  return h;
}

CtcHypothesis CtcPrefixBeamDecoder::best() const { return to_hypothesis(beam_.front()); }

std::vector<CtcHypothesis> CtcPrefixBeamDecoder::nbest() const {
  const size_t n = options().nbest > 0 ? std::min<size_t>(options().nbest, beam_.size()) : beam_.size();
  std::vector<CtcHypothesis> out;
  out.reserve(n);
  for (size_t i = 0; i < n; ++i) out.push_back(to_hypothesis(beam_[i]));
  return out;
}

CtcHypothesis ctc_greedy(const float* scores, int64_t T, int64_t V, int blank) {
  CtcDecoderOptions o;
  o.blank = blank;
  CtcGreedyDecoder d(o);
  d.accept(scores, T, V);
  return d.best();
}

std::vector<CtcHypothesis> ctc_prefix_beam_search(const float* log_probs, int64_t T, int64_t V,
                                                  const CtcDecoderOptions& opts) {
  CtcDecoderOptions o = opts;
  o.method = "prefix_beam";
  CtcPrefixBeamDecoder d(o);
  d.accept(log_probs, T, V);
  return d.nbest();
}

}  // namespace qasr
