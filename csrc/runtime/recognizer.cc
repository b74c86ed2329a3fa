#include "runtime/recognizer.h"

#include <cmath>

#include "common/error.h"
#include "frontend/wav.h"

namespace qasr {

namespace {

RecognitionResult make_result(const ConformerModel& model, const CtcDecoder& decoder, float duration) {
  RecognitionResult r;
  const CtcHypothesis h = decoder.best();
  r.tokens = h.tokens;
  r.text = model.tokenizer().decode(h.tokens);
  r.timestamps.reserve(h.frames.size());
  for (int64_t f : h.frames) r.timestamps.push_back(static_cast<float>(f) * model.frame_seconds());
  r.frames = decoder.num_frames();
  r.duration = duration;
  return r;
}

}  // namespace

void RecognizerOptions::validate() const {
  if (beam < 1 || beam > 1024) invalid("beam must be in [1, 1024], got " + std::to_string(beam));
  if (chunk_frames < 1 || chunk_frames > 100000) {
    invalid("chunk must be at least one encoder frame, got " + std::to_string(chunk_frames));
  }
  if (left_chunks < 0) invalid("left_chunks must be >= 0 for streaming (bounded memory)");
}

CtcDecoderOptions RecognizerOptions::decoder_options(int blank) const {
  CtcDecoderOptions o;
  o.blank = blank;
  o.log_softmax = true;
  if (beam > 1) {
    o.method = "prefix_beam";
    o.beam = beam;
  }
  o.validate();
  return o;
}

RecognitionResult transcribe(const ConformerModel& model, const float* samples, int64_t n,
                             const RecognizerOptions& opts) {
  opts.validate();
  validate_samples(samples, static_cast<size_t>(n), "audio");
  const FbankOptions& fo = model.fbank_options();
  const std::vector<float> feats = compute_fbank(fo, samples, n, model.pool());
  const int64_t T = static_cast<int64_t>(feats.size()) / fo.dim();
  const std::vector<float> logits = model.logits(feats.data(), T);
  auto decoder = make_ctc_decoder(opts.decoder_options(model.config().blank));
  const int64_t V = model.config().vocab_size;
  decoder->accept(logits.data(), static_cast<int64_t>(logits.size()) / V, V);
  return make_result(model, *decoder, static_cast<float>(n) / fo.sample_rate);
}

ConformerStream::ConformerStream(std::shared_ptr<const ConformerModel> model, const RecognizerOptions& opts)
    : model_(std::move(model)),
      opts_(opts),
      fbank_(model_->fbank_options()),
      endpoint_(opts.endpoint, model_->frame_seconds()) {
  opts_.validate();
  decoder_ = make_ctc_decoder(opts_.decoder_options(model_->config().blank));
  model_->init_cache(&cache_);
}

void ConformerStream::accept_waveform(const float* samples, int64_t n) {
  if (finished_) invalid("accept_waveform after the input was finished (call reset() first)");
  if (n < 0) invalid("negative sample count");
  validate_samples(samples, static_cast<size_t>(n), "audio");
  fbank_.accept(samples, n, model_->pool());
  run_chunks(false);
}

void ConformerStream::input_finished() {
  if (finished_) return;
  run_chunks(true);
  finished_ = true;
}

void ConformerStream::run_chunks(bool flush) {
  const ConformerConfig& c = model_->config();
  const int64_t F = c.n_mels, S = c.stride(), R = c.receptive_field(), V = c.vocab_size;
  taken_.clear();
  const int64_t got = fbank_.take(&taken_);
  if (got > 0) {
    model_->normalize(taken_.data(), got);
    pending_.insert(pending_.end(), taken_.begin(), taken_.end());
  }
  const int64_t C = opts_.chunk_frames;
  while (true) {
    const int64_t rows = static_cast<int64_t>(pending_.size()) / F;
    const int64_t avail = c.encoder_frames(rows);
    // Frames run chunk by chunk, so chunk boundaries fall where the
    // training-time chunk mask puts them.
    const int64_t n = avail >= C ? C : (flush ? avail : 0);
    if (n <= 0) break;
    const int64_t need = S * (n - 1) + R;
    std::vector<float> x = model_->subsample(pending_.data(), need);
    logits_.resize(static_cast<size_t>(n) * V);
    model_->encode(&cache_, x.data(), n, C, opts_.left_chunks, logits_.data());
    decoder_->accept(logits_.data(), n, V);
    if (opts_.keep_logits) kept_.insert(kept_.end(), logits_.begin(), logits_.end());
    pending_.erase(pending_.begin(), pending_.begin() + S * n * F);
    if (n < C) break;
  }
}

RecognitionResult ConformerStream::result() const {
  return make_result(*model_, *decoder_, static_cast<float>(fbank_.num_samples()) / model_->fbank_options().sample_rate);
}

int ConformerStream::endpoint_rule() const { return endpoint_.check(*decoder_); }

void ConformerStream::reset() {
  fbank_.reset();
  pending_.clear();
  decoder_->reset();
  kept_.clear();
  model_->init_cache(&cache_);
  finished_ = false;
}

size_t ConformerStream::state_bytes() const {
  return cache_.bytes() + (pending_.capacity() + taken_.capacity() + logits_.capacity()) * sizeof(float);
}

}  // namespace qasr
