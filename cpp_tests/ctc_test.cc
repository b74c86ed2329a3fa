// CTC decoding: greedy against a direct implementation, prefix beam search
// against exact brute force over all alignments, incremental against
// all-at-once; tokenizer and endpoint rules.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <random>
#include <vector>

#include "common/error.h"
#include "decode/ctc.h"
#include "decode/endpoint.h"
#include "decode/tokenizer.h"

namespace qasr {
namespace {

// Random log-softmax rows; `peak` > 0 makes one token dominate each frame.
std::vector<float> random_log_probs(int T, int V, uint32_t seed, double peak = 0.0) {
  std::mt19937 rng(seed);
  std::normal_distribution<double> d(0.0, 1.5);
  std::vector<float> out(T * V);
  for (int t = 0; t < T; ++t) {
    std::vector<double> z(V);
    for (auto& v : z) v = d(rng);
    if (peak > 0) z[rng() % V] += peak;
    double m = *std::max_element(z.begin(), z.end()), s = 0;
    for (double v : z) s += std::exp(v - m);
    for (int v = 0; v < V; ++v) out[t * V + v] = static_cast<float>(z[v] - m - std::log(s));
  }
  return out;
}

struct Labelling {
  double log_prob = -INFINITY;     // sum over alignments
  double best_path = -INFINITY;    // best single alignment
  std::vector<int64_t> frames;     // its emission frames
};

// Every one of V^T alignments, collapsed.
std::map<std::vector<int>, Labelling> brute_force(const std::vector<float>& lp, int T, int V, int blank) {
  std::map<std::vector<int>, Labelling> out;
  std::vector<int> a(T, 0);
  while (true) {
    double s = 0;
    for (int t = 0; t < T; ++t) s += lp[t * V + a[t]];
    std::vector<int> labels;
    std::vector<int64_t> frames;
    for (int t = 0; t < T; ++t) {
      if (a[t] != blank && (t == 0 || a[t] != a[t - 1])) {
        labels.push_back(a[t]);
        frames.push_back(t);
      }
    }
    Labelling& l = out[labels];
    const double m = std::max(l.log_prob, s);
    l.log_prob = m == -INFINITY ? s : m + std::log(std::exp(l.log_prob - m) + std::exp(s - m));
    if (s > l.best_path) {
      l.best_path = s;
      l.frames = frames;
    }
    int t = T - 1;
    while (t >= 0 && ++a[t] == V) a[t--] = 0;
    if (t < 0) break;
  }
  return out;
}

TEST(CtcGreedy, MatchesDirectArgmaxCollapse) {
  for (int seed = 0; seed < 20; ++seed) {
    const int T = 50, V = 7, blank = seed % 3;
    const auto lp = random_log_probs(T, V, seed, seed % 2 ? 3.0 : 0.0);
    std::vector<int> want;
    std::vector<int64_t> want_frames;
    double score = 0;
    int prev = -1;
    for (int t = 0; t < T; ++t) {
      const int k = static_cast<int>(std::max_element(lp.begin() + t * V, lp.begin() + (t + 1) * V) - lp.begin()) - t * V;
      score += lp[t * V + k];
      if (k != blank && k != prev) {
        want.push_back(k);
        want_frames.push_back(t);
      }
      prev = k;
    }
    const CtcHypothesis h = ctc_greedy(lp.data(), T, V, blank);
    EXPECT_EQ(h.tokens, want);
    EXPECT_EQ(h.frames, want_frames);
    EXPECT_NEAR(h.score, score, 1e-4);
  }
}

TEST(CtcBeam, FindsTheExactMostProbableLabelling) {
  struct Case {
    int T, V;
  };
  for (const Case c : {Case{4, 3}, Case{6, 3}, Case{5, 4}, Case{7, 3}, Case{4, 5}}) {
    for (int seed = 0; seed < 8; ++seed) {
      const auto lp = random_log_probs(c.T, c.V, 100 + seed);
      const int blank = seed % c.V;
      const auto truth = brute_force(lp, c.T, c.V, blank);
      auto best = truth.begin();
      for (auto it = truth.begin(); it != truth.end(); ++it) {
        if (it->second.log_prob > best->second.log_prob) best = it;
      }
      CtcDecoderOptions o;
      o.blank = blank;
      o.beam = 10000;  // nothing pruned: exact
      o.max_tokens_per_frame = c.V;
      const auto nb = ctc_prefix_beam_search(lp.data(), c.T, c.V, o);
      ASSERT_FALSE(nb.empty());
      EXPECT_EQ(nb[0].tokens, best->first) << "T=" << c.T << " V=" << c.V << " seed=" << seed;
      EXPECT_NEAR(nb[0].score, best->second.log_prob, 1e-4);
      EXPECT_EQ(nb[0].frames, best->second.frames);
      // Every labelling is found with its exact probability and best path.
      EXPECT_EQ(nb.size(), truth.size());
      for (const auto& h : nb) {
        const Labelling& l = truth.at(h.tokens);
        EXPECT_NEAR(h.score, l.log_prob, 1e-4);
        EXPECT_EQ(h.frames, l.frames);
      }
      for (size_t i = 1; i < nb.size(); ++i) EXPECT_GE(nb[i - 1].score, nb[i].score);
    }
  }
}

TEST(CtcBeam, ModestBeamStillFindsTheBestOnSmallProblems) {
  for (int seed = 0; seed < 10; ++seed) {
    const int T = 7, V = 4;
    const auto lp = random_log_probs(T, V, 300 + seed, 2.0);
    const auto truth = brute_force(lp, T, V, 0);
    auto best = std::max_element(truth.begin(), truth.end(),
                                 [](const auto& a, const auto& b) { return a.second.log_prob < b.second.log_prob; });
    CtcDecoderOptions o;
    o.beam = 16;
    o.max_tokens_per_frame = V;
    const auto nb = ctc_prefix_beam_search(lp.data(), T, V, o);
    EXPECT_EQ(nb[0].tokens, best->first) << seed;
    // A finite beam drops the alignments that pass through pruned prefixes:
    // the score is a slight underestimate, never an overestimate.
    EXPECT_LE(nb[0].score, best->second.log_prob + 1e-9);
    EXPECT_GT(nb[0].score, best->second.log_prob - 0.05);
  }
}

TEST(CtcBeam, BeamOneEqualsGreedyOnPeakedInputs) {
  for (int seed = 0; seed < 20; ++seed) {
    const int T = 80, V = 30;
    const auto lp = random_log_probs(T, V, 500 + seed, 12.0);
    CtcDecoderOptions o;
    o.beam = 1;
    const auto nb = ctc_prefix_beam_search(lp.data(), T, V, o);
    const auto g = ctc_greedy(lp.data(), T, V);
    ASSERT_EQ(nb.size(), 1u);
    EXPECT_EQ(nb[0].tokens, g.tokens);
    EXPECT_EQ(nb[0].frames, g.frames);
  }
}

TEST(CtcDecoders, IncrementalEqualsAllAtOnce) {
  std::mt19937 rng(9);
  for (const char* method : {"greedy", "prefix_beam"}) {
    for (int seed = 0; seed < 10; ++seed) {
      const int T = 120, V = 12;
      const auto lp = random_log_probs(T, V, 700 + seed, 2.0);
      CtcDecoderOptions o;
      o.method = method;
      o.beam = 5;
      o.nbest = 3;
      auto whole = make_ctc_decoder(o);
      whole->accept(lp.data(), T, V);
      auto parts = make_ctc_decoder(o);
      int t = 0;
      while (t < T) {
        const int n = std::min<int>(T - t, rng() % 9);
        parts->accept(lp.data() + t * V, n, V);
        t += n;
        parts->best();  // partial results any time
      }
      const auto a = whole->nbest(), b = parts->nbest();
      ASSERT_EQ(a.size(), b.size());
      for (size_t i = 0; i < a.size(); ++i) {
        EXPECT_EQ(a[i].tokens, b[i].tokens);
        EXPECT_EQ(a[i].frames, b[i].frames);
        EXPECT_EQ(a[i].score, b[i].score);
      }
      EXPECT_EQ(whole->num_frames(), T);
      EXPECT_EQ(parts->trailing_blank_frames(), whole->trailing_blank_frames());
      parts->reset();
      EXPECT_EQ(parts->num_frames(), 0);
      EXPECT_TRUE(parts->best().tokens.empty());
      parts->accept(lp.data(), T, V);
      EXPECT_EQ(parts->best().tokens, a[0].tokens);
    }
  }
}

TEST(CtcDecoders, LogSoftmaxOptionNormalizesLogits) {
  const int T = 30, V = 6;
  auto lp = random_log_probs(T, V, 42, 1.0);
  std::vector<float> logits(lp);
  for (int t = 0; t < T; ++t)
    for (int v = 0; v < V; ++v) logits[t * V + v] += 3.0f * t - 1.0f;  // per-frame offsets
  CtcDecoderOptions o;
  o.method = "prefix_beam";
  const auto want = ctc_prefix_beam_search(lp.data(), T, V, o);
  o.log_softmax = true;
  const auto got = ctc_prefix_beam_search(logits.data(), T, V, o);
  EXPECT_EQ(want[0].tokens, got[0].tokens);
  EXPECT_NEAR(want[0].score, got[0].score, 1e-3);
}

TEST(CtcDecoders, ThresholdPruningKeepsTheFramesBestToken) {
  const int T = 40, V = 8;
  const auto lp = random_log_probs(T, V, 77, 6.0);
  CtcDecoderOptions o;
  o.beam = 4;
  o.token_threshold = 0.0f;  // prunes everything but the best token (log-probs are < 0)
  const auto nb = ctc_prefix_beam_search(lp.data(), T, V, o);
  EXPECT_EQ(nb[0].tokens, ctc_greedy(lp.data(), T, V).tokens);
}

TEST(CtcDecoders, RejectBadInput) {
  auto d = make_ctc_decoder(CtcDecoderOptions());
  std::vector<float> x(10, -1.0f);
  EXPECT_THROW(d->accept(x.data(), 2, -1), InvalidInput);
  d->accept(x.data(), 2, 5);
  EXPECT_THROW(d->accept(x.data(), 1, 4), InvalidInput);  // vocabulary changed
  x[3] = NAN;
  EXPECT_THROW(d->accept(x.data(), 2, 5), InvalidInput);
  CtcDecoderOptions o;
  o.blank = 7;
  auto d2 = make_ctc_decoder(o);
  x[3] = 0;
  EXPECT_THROW(d2->accept(x.data(), 2, 5), InvalidInput);
  o = CtcDecoderOptions();
  o.method = "viterbi";
  EXPECT_THROW(make_ctc_decoder(o), InvalidInput);
  o = CtcDecoderOptions();
  o.beam = 0;
  EXPECT_THROW(make_ctc_decoder(o), InvalidInput);
  o = CtcDecoderOptions();
  o.method = "prefix_beam";
  auto d3 = make_ctc_decoder(o);
  std::vector<float> ninf(5, -INFINITY);
  EXPECT_THROW(d3->accept(ninf.data(), 1, 5), InvalidInput);
}

TEST(Tokenizer, CharVocabulary) {
  Tokenizer t({"<blk>", "|", "a", "b", "c", "<unk>", "'"}, "char");
  EXPECT_EQ(t.decode({2, 3, 1, 4, 6, 2}), "ab c'a");
  EXPECT_EQ(t.decode({1, 1, 2, 1, 1, 0, 3, 1}), "a b");
  EXPECT_EQ(t.decode({5, 2}), "a");
  EXPECT_EQ(t.decode({}), "");
  EXPECT_TRUE(t.starts_word(1));
  EXPECT_FALSE(t.starts_word(2));
  EXPECT_EQ(t.id("b"), 3);
  EXPECT_EQ(t.id("zz"), -1);
  EXPECT_THROW(t.decode({7}), InvalidInput);
  EXPECT_THROW(t.piece(-1), InvalidInput);
  Tokenizer spaces({"_", " ", "x", "y"}, "char", 0, "");
  EXPECT_EQ(spaces.decode({2, 1, 3}), "x y");
}

TEST(Tokenizer, SentencePieceVocabulary) {
  const std::string w = "\xE2\x96\x81";  // U+2581
  Tokenizer t({"<blank>", "<unk>", w + "the", w + "cat", "s", w, "<0xE2>", "<0x82>", "<0xAC>", "</s>"},
              "sentencepiece");
  EXPECT_EQ(t.decode({2, 3, 4}), "the cats");
  EXPECT_EQ(t.decode({5, 6, 7, 8, 9}), "\xE2\x82\xAC");  // the euro sign from byte pieces
  EXPECT_EQ(t.decode({6, 7}), "\xEF\xBF\xBD\xEF\xBF\xBD");  // incomplete: replacement characters
  EXPECT_TRUE(t.starts_word(2));
  EXPECT_FALSE(t.starts_word(4));
  EXPECT_THROW(Tokenizer({"a"}, "bpe"), InvalidInput);
  EXPECT_THROW(Tokenizer({}, "char"), InvalidInput);
  EXPECT_THROW(Tokenizer({"a", "b"}, "char", 2), InvalidInput);
}

TEST(Endpoint, DefaultRules) {
  Endpoint ep(EndpointConfig{}, 0.04f);  // 25 frames per second
  EXPECT_EQ(ep.check(0, 0, false), 0);
  EXPECT_EQ(ep.check(59, 59, false), 0);
  EXPECT_EQ(ep.check(60, 60, false), 1);   // 2.4 s of nothing
  EXPECT_EQ(ep.check(100, 29, true), 0);
  EXPECT_EQ(ep.check(100, 30, true), 2);   // 1.2 s after text
  EXPECT_EQ(ep.check(100, 30, false), 0);  // rule 2 needs text
  EXPECT_EQ(ep.check(499, 0, true), 0);
  EXPECT_EQ(ep.check(500, 0, true), 3);    // 20 s
  EXPECT_THROW(ep.check(10, 11, false), InvalidInput);
}

TEST(Endpoint, ConfigurableAndDrivenByADecoder) {
  EndpointConfig c;
  c.rule1.min_trailing_silence = 1.0f;
  c.rule2.min_trailing_silence = 0.5f;
  c.rule3.min_utterance_length = INFINITY;
  Endpoint ep(c, 0.1f);
  EXPECT_EQ(ep.check(10, 10, false), 1);
  EXPECT_EQ(ep.check(1000000, 0, true), 0);
  // Synthetic CTC output: 3 frames of a token, then blanks.
  const int V = 3;
  auto d = make_ctc_decoder(CtcDecoderOptions());
  std::vector<float> speech = {-5, 0, -5}, blank = {0, -5, -5};
  for (int i = 0; i < 3; ++i) d->accept(speech.data(), 1, V);
  EXPECT_EQ(ep.check(*d), 0);
  for (int i = 0; i < 4; ++i) d->accept(blank.data(), 1, V);
  EXPECT_EQ(d->trailing_blank_frames(), 4);
  EXPECT_EQ(ep.check(*d), 0);
  d->accept(blank.data(), 1, V);
  EXPECT_EQ(ep.check(*d), 2);
  EXPECT_THROW(Endpoint(c, 0.0f), InvalidInput);
  c.rule1.min_trailing_silence = -1;
  EXPECT_THROW(Endpoint(c, 0.04f), InvalidInput);
}

}  // namespace
}  // namespace qasr
