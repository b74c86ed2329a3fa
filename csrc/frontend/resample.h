// Sample-rate conversion for audio that is not at the model's rate.
//
// Usage (whole signal):
//   std::vector<float> y = qasr::resample(x.data(), x.size(), 44100, 16000);
// Usage (streaming; the concatenated output equals the one-shot result):
//   qasr::Resampler r(48000, 16000);
//   r.process(piece, n, &out);   // appends what the new samples complete
//   r.flush(&out);               // at the end of the stream
//
// Band-limited interpolation with a Kaiser-windowed sinc, polyphase for the
// rational ratio L/M = to/from (reduced). The filter is zero-phase (no
// delay): output sample m sits at input time m * from / to. Design: stop
// band from min(from, to) / 2 up (>= 80 dB down by design, so tones above
// the new Nyquist do not alias), pass band flat (ripple ~1e-4) to 0.92 of
// that Nyquist, transition in between. Samples before the start and after
// the end are taken as zero. n input samples give ceil(n * to / from)
// outputs. The phase table is exact when L * taps stays small (every
// rate pair in common use); for odd pairs (e.g. 44101 -> 16000) taps come
// from a finely sampled filter, linearly interpolated (error ~1e-6).
#pragma once

#include <cstdint>
#include <vector>

namespace qasr {

class Resampler {
 public:
  // Rates in Hz, 1 to 1'000'000, with a ratio of at most 64 either way.
  Resampler(int from_rate, int to_rate);
  int from_rate() const { return from_; }
  int to_rate() const { return to_; }
  // Filter half-width in input samples (the look-ahead a stream waits for).
  int half_width() const { return half_; }

  void process(const float* in, int64_t n, std::vector<float>* out);
  // Emits the outputs that wait for samples after the end; then the stream
  // is finished until reset().
  void flush(std::vector<float>* out);
  void reset();

 private:
  void emit(std::vector<float>* out, bool until_end);
  const float* phase_taps(int64_t p, std::vector<float>* scratch) const;
  double filter(double tau) const;

  int from_, to_;
  int64_t L_, M_;        // to / from reduced
  int half_;             // taps j in (-half_, half_]
  double cutoff_;        // cycles per input sample
  double beta_, i0_beta_;
  std::vector<float> table_;   // exact polyphase table [L][2 * half_], or empty
  std::vector<float> dense_;   // filter at kDense points per input sample, for the fallback
  // Stream state. buf_[0] holds input sample buf_start_ (may be negative:
  // the zeros before the start).
  std::vector<float> buf_;
  int64_t buf_start_ = 0;
  int64_t received_ = 0;
  int64_t n0_ = 0, p_ = 0;  // next output at input time n0_ + p_ / L_
  bool finished_ = false;
  mutable std::vector<float> scratch_;
};

std::vector<float> resample(const float* in, int64_t n, int from_rate, int to_rate);

}  // namespace qasr
