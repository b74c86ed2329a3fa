// CTC decoding of per-frame token scores from an encoder (Conformer-CTC,
// Wav2Vec2-CTC): greedy and prefix beam search, both incremental.
//
// Usage (streaming, from an executor):
//   qasr::CtcDecoderOptions o;                 // greedy, blank 0
//   o.method = "prefix_beam"; o.beam = 8;      // or keep greedy
//   auto dec = qasr::make_ctc_decoder(o);
//   dec->accept(log_probs, T, V);              // [T, V] row-major, each chunk as it comes
//   qasr::CtcHypothesis partial = dec->best(); // any time
//   ... dec->best() after the last chunk is the final result; dec->reset() for
//   the next utterance (e.g. at an endpoint, decode/endpoint.h).
// One-shot: qasr::ctc_greedy(...), qasr::ctc_prefix_beam_search(...).
//
// Feeding frames in any chunking gives exactly the result of feeding them
// all at once: the decoders carry all their state between calls and do
// nothing at chunk boundaries.
//
// Scores are natural-log probabilities (log-softmax output). With
// options.log_softmax = true the decoder normalizes raw logits itself.
// Greedy decoding only needs the argmax, so it accepts logits as they are
// (its score is then not a log-probability). -inf is allowed (probability
// 0); NaN and +inf are rejected with InvalidInput.
//
// State grows with the utterance (the hypotheses' tokens): reset() at
// endpoints keeps endless streams bounded.
//
// Frame indices count encoder frames since construction or reset(); a
// token's frame is where its best path first emits it (for greedy: the first
// frame of the token's run). Multiply by the model's frame shift (e.g.
// 40 ms) for timestamps.
#pragma once

#include <cstdint>
#include <limits>
#include <memory>
#include <string>
#include <vector>

namespace qasr {

struct CtcHypothesis {
  std::vector<int> tokens;      // blank-free, repeats collapsed
  std::vector<int64_t> frames;  // one per token
  // Greedy: sum of the chosen frames' scores (the best path's log-probability
  // for log-prob input). Beam: log of the total probability of the label
  // sequence, summed over all its alignments that survived the beam.
  double score = 0.0;
};

struct CtcDecoderOptions {
  std::string method = "greedy";  // "greedy" or "prefix_beam"
  int blank = 0;
  bool log_softmax = false;       // input is raw logits: normalize each frame
  // Prefix beam search only:
  int beam = 10;                  // prefixes kept after each frame
  int max_tokens_per_frame = 0;   // tokens tried per frame, best first; 0: beam; >= V: all
  // Skip tokens whose log-prob is below this (the frame's best token is
  // always tried, so a high threshold cannot empty the beam).
  float token_threshold = -std::numeric_limits<float>::infinity();
  int nbest = 0;                  // hypotheses returned by nbest(); 0: beam

  void validate() const;  // InvalidInput naming the bad option
};

// The streaming interface every CTC decoder implements.
class CtcDecoder {
 public:
  virtual ~CtcDecoder() = default;
  // scores: T frames of V values each, row-major. V is fixed by the first
  // call with T > 0 and must exceed the blank id.
  void accept(const float* scores, int64_t T, int64_t V);
  // The best hypothesis so far (partial result; final after the last frame).
  virtual CtcHypothesis best() const = 0;
  // Best first; greedy decoding has exactly one.
  virtual std::vector<CtcHypothesis> nbest() const = 0;
  void reset();

  const CtcDecoderOptions& options() const { return opts_; }
  int64_t num_frames() const { return frames_; }
  // Consecutive frames at the end whose top-scoring token is blank; the
  // endpoint detector's measure of trailing silence.
  int64_t trailing_blank_frames() const { return trailing_blanks_; }

 protected:
  explicit CtcDecoder(const CtcDecoderOptions& opts);
  // One frame of V log-probs (normalized when options ask for it); argmax
  // is its top-scoring token.
  virtual void step(const float* frame, int64_t t, int argmax) = 0;
  virtual void clear() = 0;
  int64_t vocab() const { return vocab_; }

 private:
  CtcDecoderOptions opts_;
  int64_t vocab_ = 0;
  int64_t frames_ = 0;
  int64_t trailing_blanks_ = 0;
  std::vector<float> norm_;
};

std::unique_ptr<CtcDecoder> make_ctc_decoder(const CtcDecoderOptions& opts);

class CtcGreedyDecoder : public CtcDecoder {
 public:
  explicit CtcGreedyDecoder(const CtcDecoderOptions& opts);
  CtcHypothesis best() const override { return hyp_; }
  std::vector<CtcHypothesis> nbest() const override { return {hyp_}; }

 private:
  void step(const float* frame, int64_t t, int argmax) override;
  void clear() override;
  CtcHypothesis hyp_;
  int prev_ = -1;  // argmax of the previous frame (-1 before the first)
};

// Log-domain prefix beam search. Each prefix carries the total probability
// of its alignments ending in blank / in its last token, and the best single
// alignment of each kind with its emission frames. With beam and
// max_tokens_per_frame large enough that nothing is pruned, scores are the
// exact CTC label-sequence probabilities.
class CtcPrefixBeamDecoder : public CtcDecoder {
 public:
  explicit CtcPrefixBeamDecoder(const CtcDecoderOptions& opts);
  CtcHypothesis best() const override;
  std::vector<CtcHypothesis> nbest() const override;

  struct Prefix {
    std::vector<int> tokens;
    uint64_t hash = 0;
    double pb, pnb;                    // log P(prefix, path ends in blank / in last token)
    double vb, vnb;                    // best single path of each kind
    std::vector<int64_t> tb, tnb;      // emission frames of those paths
  };

 private:
  void step(const float* frame, int64_t t, int argmax) override;
  void clear() override;
  CtcHypothesis to_hypothesis(const Prefix& p) const;

  std::vector<Prefix> beam_;
  std::vector<Prefix> next_;
  std::vector<int> order_;
  std::vector<int> candidates_;
};

// One-shot helpers over T x V scores.
CtcHypothesis ctc_greedy(const float* scores, int64_t T, int64_t V, int blank = 0);
std::vector<CtcHypothesis> ctc_prefix_beam_search(const float* log_probs, int64_t T, int64_t V,
                                                  const CtcDecoderOptions& opts);

}  // namespace qasr
