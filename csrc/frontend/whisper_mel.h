// Whisper's log-mel spectrogram (the input of Whisper encoders), equal to
// transformers' WhisperFeatureExtractor within float rounding
// (python_tests/test_whisper_native.py states the tolerance).
//
// Usage:
//   qasr::WhisperMel mel(filters, n_mels);            // filters [n_mels][201] from the .qasr header
//   std::vector<float> feats = mel.compute(samples, n); // [3000][n_mels], one 30 s window
//
// Recipe (docs/whisper.md): the 16 kHz waveform is cut or zero-padded to
// 30 s (480000 samples), reflect-padded by n_fft/2 = 200 samples on both
// sides, framed every 160 samples with a 400-point periodic Hann window
// (3001 frames, the last one dropped), power spectrum, the stored mel
// filters (Slaney, as the model was trained with), log10(max(m, 1e-10)),
// clamped from below at (maximum over the window) - 8, then (x + 4) / 4.
//
// Output is time-major ([frame][mel]) because the encoder's first
// convolution reads whole frames; transformers' layout is [mel][frame].
#pragma once

#include <cstdint>
#include <vector>

namespace qasr {

class WhisperMel {
 public:
  static constexpr int kSampleRate = 16000;
  static constexpr int kNfft = 400;
  static constexpr int kHop = 160;
  static constexpr int kBins = kNfft / 2 + 1;
  static constexpr int64_t kSamples = 30 * kSampleRate;   // one window
  static constexpr int64_t kFrames = kSamples / kHop;     // 3000

  // `filters`: n_mels x 201 row-major (checked).
  WhisperMel(std::vector<float> filters, int n_mels);
  int n_mels() const { return n_mels_; }
  // Features of the first 30 s of samples[0, n) (zero-padded): kFrames x n_mels.
  // Throws InvalidInput on non-finite samples.
  std::vector<float> compute(const float* samples, int64_t n) const;

 private:
  std::vector<float> filters_;  // [n_mels][kBins]
  std::vector<double> window_;  // periodic Hann
  int n_mels_;
  // Per filter, the bins [begin, end) holding its non-zero weights: a Slaney
  // filter covers a few bins, so the product skips ~97% of the zeros (adding
  // the skipped 0 * power terms would not change the sum).
  std::vector<int> mel_begin_, mel_end_;
};

}  // namespace qasr
