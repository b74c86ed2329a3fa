#include "frontend/whisper_mel.h"

#include <algorithm>
#include <cmath>
#include <string>

#include "common/error.h"
#include "frontend/fft.h"

namespace qasr {

WhisperMel::WhisperMel(std::vector<float> filters, int n_mels) : filters_(std::move(filters)), n_mels_(n_mels) {
  if (n_mels <= 0) invalid("whisper mel: n_mels must be positive, got " + std::to_string(n_mels));
  if (filters_.size() != static_cast<size_t>(n_mels) * kBins) {
    invalid("whisper mel: filters hold " + std::to_string(filters_.size()) + " values, expected " +
            std::to_string(n_mels) + " x " + std::to_string(kBins));
  }
  for (float f : filters_) {
    if (!std::isfinite(f) || f < 0.0f) invalid("whisper mel: filter weights must be finite and non-negative");
  }
  window_.resize(kNfft);
  const double pi = 3.14159265358979323846;
  for (int i = 0; i < kNfft; ++i) window_[i] = 0.5 - 0.5 * std::cos(2.0 * pi * i / kNfft);
  mel_begin_.assign(n_mels, 0);
  mel_end_.assign(n_mels, 0);
  for (int m = 0; m < n_mels; ++m) {
    const float* f = filters_.data() + static_cast<size_t>(m) * kBins;
    int b0 = 0, b1 = kBins;
    while (b0 < kBins && f[b0] == 0.0f) ++b0;
    while (b1 > b0 && f[b1 - 1] == 0.0f) --b1;
    mel_begin_[m] = b0;
    mel_end_[m] = b1;
  }
}

std::vector<float> WhisperMel::compute(const float* samples, int64_t n) const {
  if (n < 0 || (n > 0 && !samples)) invalid("whisper mel: null or negative-length input");
  const int64_t used = std::min<int64_t>(n, kSamples);
  for (int64_t i = 0; i < used; ++i) {
    if (!std::isfinite(samples[i])) invalid("whisper mel: sample " + std::to_string(i) + " is not finite");
  }
  // The padded window with reflect padding of half a frame on both sides.
  const int half = kNfft / 2;
  std::vector<float> x(kSamples + 2 * half, 0.0f);
  std::copy(samples, samples + used, x.begin() + half);
  for (int i = 1; i <= half; ++i) {
    x[half - i] = x[half + i];
    x[half + kSamples - 1 + i] = x[half + kSamples - 1 - i];
  }
  // The last sample that is not padding: frames starting past it are zero.
  const int64_t last_nonzero = used + 2 * half;

  std::vector<float> logmel(static_cast<size_t>(kFrames) * n_mels_);
  RealFft fft(kNfft);
  std::vector<float> frame(kNfft), spec(2 * kBins), power(kBins);
  const float floor_log = std::log10(1e-10f);
  float vmax = -INFINITY;
  for (int64_t t = 0; t < kFrames; ++t) {
    float* out = logmel.data() + t * n_mels_;
    const float* src = x.data() + t * kHop;
    if (t * kHop >= last_nonzero) {  // all zeros: every mel energy is 0
      std::fill(out, out + n_mels_, floor_log);
      vmax = std::max(vmax, floor_log);
      continue;
    }
    for (int i = 0; i < kNfft; ++i) frame[i] = static_cast<float>(src[i] * window_[i]);
    fft.forward(frame.data(), spec.data());
    for (int b = 0; b < kBins; ++b) {
      const double re = spec[2 * b], im = spec[2 * b + 1];
      power[b] = static_cast<float>(re * re + im * im);
    }
    for (int m = 0; m < n_mels_; ++m) {
      const float* f = filters_.data() + static_cast<size_t>(m) * kBins;
      double acc = 0.0;
      for (int b = mel_begin_[m]; b < mel_end_[m]; ++b) acc += static_cast<double>(f[b]) * power[b];
      const float v = std::log10(std::max(static_cast<float>(acc), 1e-10f));
      out[m] = v;
      vmax = std::max(vmax, v);
    }
  }
  const float lo = vmax - 8.0f;
  for (float& v : logmel) v = (std::max(v, lo) + 4.0f) / 4.0f;
  return logmel;
}

}  // namespace qasr
