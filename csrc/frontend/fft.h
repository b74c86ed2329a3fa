// Small FFTs for the feature front ends (Kaldi fbank now, Whisper's 400-point
// log-mel later), so the core needs no FFT library.
//
// Usage:
//   qasr::RealFft fft(512);
//   std::vector<float> spec(2 * (512 / 2 + 1));
//   fft.forward(frame, spec.data());   // spec = [re0, im0, re1, im1, ...]
//
// Any size works: sizes made of the factors 2 and 4 take fast butterflies,
// other prime factors a direct DFT of that factor. The transform runs in
// double (inputs and outputs of RealFft are float): a float FFT's rounding
// error is relative to the frame's strongest bin, so bins ~100 dB below it
// (a pure tone's far bins) would be noise; in double every bin is accurate
// to float precision of its own value. Cost is negligible next to the rest
// of the front end. An object keeps scratch memory: use one per thread.
#pragma once

#include <complex>
#include <cstdint>
#include <vector>

namespace qasr {

// Forward complex DFT: X[k] = sum_j x[j] exp(-2 pi i j k / n).
class ComplexFft {
 public:
  explicit ComplexFft(int n);
  int size() const { return n_; }
  // in and out must not overlap; both hold n complex values.
  void forward(const std::complex<double>* in, std::complex<double>* out);

 private:
  void transform(const std::complex<double>* in, std::complex<double>* out, int n, int stride, size_t factor,
                 int tw_stride);

  int n_;
  std::vector<int> factors_;               // radices, outermost first
  std::vector<std::complex<double>> tw_;   // exp(-2 pi i k / n), k < n
  std::vector<std::complex<double>> tmp_;  // generic-radix scratch
};

// Forward DFT of n real samples: bins 0..n/2, i.e. n/2 + 1 complex values
// written as interleaved (re, im) floats. Even n uses a half-size complex
// transform; odd n a full-size one.
class RealFft {
 public:
  explicit RealFft(int n);
  int size() const { return n_; }
  int num_bins() const { return n_ / 2 + 1; }
  void forward(const float* in, float* out);

 private:
  int n_;
  ComplexFft cfft_;
  std::vector<std::complex<double>> split_tw_;  // exp(-2 pi i k / n), k <= n/2
  std::vector<std::complex<double>> zin_, zout_;
};

}  // namespace qasr
