// The FFTs against a direct DFT in double precision, for power-of-two,
// mixed-radix and prime sizes.
#include <gtest/gtest.h>

#include <cmath>
#include <complex>
#include <random>
#include <vector>

#include "common/error.h"
#include "frontend/fft.h"

namespace qasr {
namespace {

std::vector<std::complex<double>> dft(const std::vector<std::complex<double>>& x) {
  const size_t n = x.size();
  std::vector<std::complex<double>> y(n);
  const double pi = 3.14159265358979323846;
  for (size_t k = 0; k < n; ++k) {
    std::complex<double> s = 0;
    for (size_t j = 0; j < n; ++j) {
      const double a = -2.0 * pi * static_cast<double>((j * k) % n) / static_cast<double>(n);
      s += x[j] * std::complex<double>(std::cos(a), std::sin(a));
    }
    y[k] = s;
  }
  return y;
}

const int kSizes[] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 11, 12, 16, 25, 30, 32, 49, 60, 64, 100, 128, 256, 400, 512, 1000, 1024};

TEST(Fft, ComplexMatchesDirectDft) {
  std::mt19937 rng(1);
  std::normal_distribution<float> d(0.0f, 1.0f);
  for (int n : kSizes) {
    std::vector<std::complex<double>> x(n), y(n);
    for (int i = 0; i < n; ++i) x[i] = {d(rng), d(rng)};
    ComplexFft fft(n);
    fft.forward(x.data(), y.data());
    const auto ref = dft(x);
    double err = 0.0;
    for (int k = 0; k < n; ++k) err = std::max(err, std::abs(y[k] - ref[k]));
    // Double rounding grows like sqrt(n) log(n) times the unit roundoff.
    EXPECT_LT(err, 1e-15 * std::sqrt(static_cast<double>(n)) * (1 + std::log2(n)) * 8) << "n=" << n;
  }
}

TEST(Fft, RealMatchesDirectDft) {
  std::mt19937 rng(2);
  std::normal_distribution<float> d(0.0f, 1.0f);
  for (int n : kSizes) {
    std::vector<float> x(n);
    std::vector<std::complex<double>> xd(n);
    for (int i = 0; i < n; ++i) {
      x[i] = d(rng);
      xd[i] = x[i];
    }
    RealFft fft(n);
    ASSERT_EQ(fft.num_bins(), n / 2 + 1);
    std::vector<float> y(2 * fft.num_bins());
    fft.forward(x.data(), y.data());
    const auto ref = dft(xd);
    double err = 0.0;
    for (int k = 0; k < fft.num_bins(); ++k) {
      err = std::max(err, std::abs(std::complex<double>(y[2 * k], y[2 * k + 1]) - ref[k]));
    }
    // Outputs are rounded to float: relative to each bin's own magnitude.
    double scale = 0.0;
    for (int k = 0; k < fft.num_bins(); ++k) scale = std::max(scale, std::abs(ref[k]));
    EXPECT_LT(err, 1.2e-7 * scale + 1e-12) << "n=" << n;
  }
}

TEST(Fft, PureToneLandsInItsBin) {
  const int n = 512;
  std::vector<float> x(n), y(2 * (n / 2 + 1));
  for (int i = 0; i < n; ++i) x[i] = static_cast<float>(std::cos(2 * 3.14159265358979 * 37 * i / n));
  RealFft fft(n);
  fft.forward(x.data(), y.data());
  for (int k = 0; k <= n / 2; ++k) {
    const double mag = std::hypot(y[2 * k], y[2 * k + 1]);
    if (k == 37) {
      EXPECT_NEAR(mag, n / 2.0, 1e-3);
    } else {
      EXPECT_LT(mag, 1e-5) << k;  // leakage is input rounding only: no float FFT noise floor
    }
  }
}

TEST(Fft, RejectsBadSizes) {
  EXPECT_THROW(ComplexFft(0), InvalidInput);
  EXPECT_THROW(RealFft(-4), InvalidInput);
}

}  // namespace
}  // namespace qasr
