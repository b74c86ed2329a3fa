// Kaldi-compatible log-mel filterbank features ("fbank"), the input of the
// Conformer-CTC models; equal to kaldi-native-fbank / torchaudio.compliance.
// kaldi.fbank with dither 0 and snip_edges = true.
//
// Usage (whole utterance):
//   qasr::FbankOptions opts;                 // 16 kHz, 25/10 ms, 80 bins
//   std::vector<float> feats = qasr::compute_fbank(opts, samples, n);  // [frames, opts.dim()]
// Usage (streaming, any piece sizes):
//   qasr::FbankStream fs(opts);
//   fs.accept(piece, piece_len);             // as audio arrives
//   std::vector<float> frames;
//   int64_t got = fs.take(&frames);          // complete frames so far, row-major
//
// Input scale: samples are floats in [-1, 1]. They are multiplied by
// `input_scale` (default 32768) before anything else, so the features equal
// Kaldi's for the same audio stored as int16 (Kaldi reads int16 values
// unscaled). Set input_scale = 1 for audio already in int16 units.
//
// Frames are "snipped" (Kaldi snip_edges = true): frame i covers samples
// [i * shift, i * shift + length); a recording of n samples has
// 1 + (n - length) / shift frames (0 when n < length), and no padding is ever
// invented at either end. That makes streaming exact: every frame depends
// only on its own samples, and FbankStream and compute_fbank run the same
// per-frame code. Dither is not offered (it would make features random).
//
// Per frame, in Kaldi's order: scale, remove the DC offset (frame mean),
// log raw energy (if use_energy && raw_energy), pre-emphasis
// x[i] -= preemph * x[i-1] (x[0] -= preemph * x[0]), window, zero-pad to the
// FFT size, power (or magnitude) spectrum, triangular mel filters on the
// mel scale 1127 ln(1 + f/700) over FFT bins 0..N/2-1, log(max(e, epsilon))
// with epsilon = FLT_EPSILON (so silence gives log(FLT_EPSILON) ~ -15.94).
// With use_energy, the log energy is column 0 (Kaldi's htk_compat = false).
//
// Agreement with kaldi-native-fbank (python_tests/test_frontend.py): log-mel
// within ~1e-4 on speech, noise, tiny and clipped signals, bit-equal on
// silence. Bins 80+ dB below their frame's strongest bin (a pure tone's far
// bins, the band above a resampler's cut-off) sit in float rounding noise of
// the time-domain steps, which Kaldi also computes in float, and differ
// more (up to ~0.6 for a pure tone; ~2e-3 in speech).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "frontend/fft.h"

namespace qasr {

struct FbankOptions {
  float sample_rate = 16000.0f;
  float frame_length_ms = 25.0f;
  float frame_shift_ms = 10.0f;
  int num_bins = 80;
  float low_freq = 20.0f;
  float high_freq = 0.0f;          // <= 0: offset from Nyquist (0 = Nyquist), as in Kaldi
  float preemph = 0.97f;
  bool remove_dc = true;
  std::string window = "povey";    // povey | hamming | hann (hanning) | rectangular | blackman
  float blackman_coeff = 0.42f;
  bool round_to_power_of_two = true;
  bool use_power = true;           // false: magnitude spectrum
  bool use_log = true;             // false: linear mel energies
  bool use_energy = false;         // prepend log frame energy
  bool raw_energy = true;          // energy before pre-emphasis and window
  float energy_floor = 0.0f;       // > 0: floor on the energy (linear), as in Kaldi
  float input_scale = 32768.0f;

  int64_t frame_length() const;   // samples per frame
  int64_t frame_shift() const;    // samples between frame starts
  int64_t fft_size() const;
  int dim() const { return num_bins + (use_energy ? 1 : 0); }
  // Frames of an n-sample recording (snip_edges = true).
  int64_t num_frames(int64_t num_samples) const;
  // Throws InvalidInput naming the first bad option.
  void validate() const;
};

// Triangular filters; weights[b] covers FFT bins [first[b], first[b] + size).
struct MelBanks {
  std::vector<int> first;
  std::vector<std::vector<float>> weights;
};
MelBanks make_mel_banks(const FbankOptions& opts);

// The per-frame computation, with its tables and scratch memory. Not
// thread-safe: one per stream.
class FbankComputer {
 public:
  explicit FbankComputer(const FbankOptions& opts);
  const FbankOptions& options() const { return opts_; }
  int dim() const { return opts_.dim(); }
  // frame: frame_length() samples (unscaled, as given by the caller);
  // out: dim() floats.
  void compute(const float* frame, float* out);

 private:
  FbankOptions opts_;
  std::vector<float> window_;
  MelBanks banks_;
  RealFft fft_;
  std::vector<float> buf_, spec_, power_;
};

class ThreadPool;

// Features of a whole recording, row-major [num_frames(n), dim()]. Frames
// are independent, so a pool (optional) computes them in parallel; the
// result does not depend on it.
std::vector<float> compute_fbank(const FbankOptions& opts, const float* samples, int64_t n,
                                 ThreadPool* pool = nullptr);

// Streaming features. Keeps only the samples that incomplete frames still
// need (< frame_length), plus the computed frames not yet taken.
class FbankStream {
 public:
  explicit FbankStream(const FbankOptions& opts);
  const FbankOptions& options() const { return computer_.options(); }
  int dim() const { return computer_.dim(); }

  // Appends samples and computes every frame they complete, spread over
  // `pool` when given (the features are the same either way). Samples must
  // be finite (see validate_samples in frontend/wav.h).
  void accept(const float* samples, int64_t n, ThreadPool* pool = nullptr);
  // Frames computed and not yet taken.
  int64_t num_ready() const { return static_cast<int64_t>(ready_.size() / dim()) - taken_rows_; }
  // Appends up to max_frames ready frames (all if < 0) to *out, row-major;
  // returns how many.
  int64_t take(std::vector<float>* out, int64_t max_frames = -1);
  // Frames computed since construction or reset (taken or not).
  int64_t num_frames() const { return frames_done_; }
  // Samples accepted since construction or reset.
  int64_t num_samples() const { return samples_seen_; }
  // Samples kept for the next frame (always < frame_length()).
  int64_t num_buffered() const { return static_cast<int64_t>(pending_.size()); }
  void reset();

 private:
  FbankComputer computer_;
  std::vector<FbankComputer> helpers_;  // scratch for pool tasks beyond the first
  std::vector<float> pending_;  // samples from frame frames_done_ * shift on
  int64_t skip_ = 0;            // samples to drop first (shift > frame length)
  std::vector<float> ready_;    // computed frames; the first taken_rows_ are consumed
  int64_t taken_rows_ = 0;
  int64_t frames_done_ = 0;
  int64_t samples_seen_ = 0;
};

}  // namespace qasr
