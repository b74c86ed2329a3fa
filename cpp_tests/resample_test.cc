// The resampler: tones keep amplitude and frequency, tones above the new
// Nyquist do not alias, streaming equals one-shot, lengths and rates.
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

#include "common/error.h"
#include "frontend/resample.h"

namespace qasr {
namespace {

constexpr double kPi = 3.14159265358979323846;

std::vector<float> tone(double freq, int rate, double seconds, double amp = 0.5, double phase = 0.3) {
  std::vector<float> x(static_cast<size_t>(seconds * rate));
  for (size_t i = 0; i < x.size(); ++i) x[i] = static_cast<float>(amp * std::sin(2 * kPi * freq * i / rate + phase));
  return x;
}

struct Fit {
  double amplitude;
  double residual_rms;  // after removing the fitted sinusoid
};

// Least-squares fit of a sinusoid at `freq` over the interior of y (edges
// are skipped: there the zeros outside the signal are part of the filter).
Fit fit_tone(const std::vector<float>& y, double freq, int rate) {
  const size_t skip = static_cast<size_t>(0.05 * rate);
  const size_t a = skip, b = y.size() - skip;
  double cc = 0, ss = 0, cs = 0, yc = 0, ys = 0;
  for (size_t i = a; i < b; ++i) {
    const double c = std::cos(2 * kPi * freq * i / rate), s = std::sin(2 * kPi * freq * i / rate);
    cc += c * c;
    ss += s * s;
    cs += c * s;
    yc += y[i] * c;
    ys += y[i] * s;
  }
  const double det = cc * ss - cs * cs;
  const double kc = (yc * ss - ys * cs) / det, ks = (ys * cc - yc * cs) / det;
  double r = 0;
  for (size_t i = a; i < b; ++i) {
    const double e = y[i] - kc * std::cos(2 * kPi * freq * i / rate) - ks * std::sin(2 * kPi * freq * i / rate);
    r += e * e;
  }
  return {std::hypot(kc, ks), std::sqrt(r / (b - a))};
}

double rms_interior(const std::vector<float>& y, int rate) {
  const size_t skip = static_cast<size_t>(0.05 * rate);
  double r = 0;
  for (size_t i = skip; i < y.size() - skip; ++i) r += static_cast<double>(y[i]) * y[i];
  return std::sqrt(r / (y.size() - 2 * skip));
}

struct Rates {
  int from, to;
};
const Rates kPairs[] = {{44100, 16000}, {48000, 16000}, {8000, 16000}, {22050, 16000}, {11025, 16000},
                        {32000, 16000}, {16000, 44100}, {16000, 8000},  {44101, 16000}, {16000, 16001}};

TEST(Resample, TonesKeepAmplitudeAndFrequency) {
  for (const Rates& r : kPairs) {
    const double nyq = 0.5 * std::min(r.from, r.to);
    for (double f : {100.0, 1000.0, 0.5 * nyq, 0.85 * nyq}) {
      const auto x = tone(f, r.from, 0.5);
      const auto y = resample(x.data(), x.size(), r.from, r.to);
      const Fit fit = fit_tone(y, f, r.to);
      EXPECT_NEAR(fit.amplitude, 0.5, 0.5 * 2e-3) << r.from << "->" << r.to << " f=" << f;
      // Whatever is not the tone at f (wrong frequency, distortion) is tiny.
      EXPECT_LT(fit.residual_rms / (0.5 / std::sqrt(2.0)), 1e-3) << r.from << "->" << r.to << " f=" << f;
    }
  }
}

TEST(Resample, TonesAboveTheNewNyquistDoNotAlias) {
  for (const Rates& r : kPairs) {
    if (r.to >= r.from) continue;
    const double nyq = 0.5 * r.to;
    for (double f : {1.01 * nyq, 1.2 * nyq, 1.7 * nyq, 0.45 * r.from}) {
      if (f >= 0.5 * r.from) continue;
      const auto x = tone(f, r.from, 0.5);
      const auto y = resample(x.data(), x.size(), r.from, r.to);
      const double db = 20 * std::log10(rms_interior(y, r.to) / (0.5 / std::sqrt(2.0)));
      EXPECT_LT(db, -60.0) << r.from << "->" << r.to << " f=" << f;
    }
  }
}

TEST(Resample, UpsamplingCreatesNoImages) {
  // 8 kHz -> 16 kHz: a 3 kHz tone must not produce energy at 5 kHz.
  const auto x = tone(3000, 8000, 0.5);
  const auto y = resample(x.data(), x.size(), 8000, 16000);
  const Fit fit = fit_tone(y, 3000, 16000);
  EXPECT_LT(fit.residual_rms / (0.5 / std::sqrt(2.0)), 1e-3);
}

TEST(Resample, LengthsAndConstants) {
  for (const Rates& r : kPairs) {
    for (int64_t n : {0, 1, 2, 3, 100, 4801}) {
      std::vector<float> x(n, 0.25f);
      const auto y = resample(x.data(), n, r.from, r.to);
      EXPECT_EQ(static_cast<int64_t>(y.size()), (n * r.to + r.from - 1) / r.from);
      // Far from the edges a constant stays the same constant.
      const int64_t margin = static_cast<int64_t>(0.02 * r.to);
      for (int64_t i = margin; i + margin < static_cast<int64_t>(y.size()); ++i) ASSERT_NEAR(y[i], 0.25f, 1e-5);
    }
  }
  std::vector<float> same = {1, 2, 3};
  EXPECT_EQ(resample(same.data(), 3, 16000, 16000), same);
}

TEST(Resample, StreamingEqualsOneShot) {
  std::mt19937 rng(3);
  std::normal_distribution<float> d(0.0f, 0.3f);
  std::vector<float> x(20000);
  for (auto& v : x) v = d(rng);
  for (const Rates& r : kPairs) {
    const auto want = resample(x.data(), x.size(), r.from, r.to);
    Resampler s(r.from, r.to);
    std::vector<float> got;
    size_t pos = 0;
    while (pos < x.size()) {
      const size_t n = std::min<size_t>(x.size() - pos, rng() % 700);
      s.process(x.data() + pos, n, &got);
      pos += n;
    }
    s.flush(&got);
    ASSERT_EQ(got.size(), want.size());
    for (size_t i = 0; i < got.size(); ++i) ASSERT_EQ(got[i], want[i]) << r.from << "->" << r.to << " at " << i;
    EXPECT_THROW(s.process(x.data(), 1, &got), Error);
    s.reset();
    std::vector<float> again;
    s.process(x.data(), x.size(), &again);
    s.flush(&again);
    EXPECT_EQ(again, want);
  }
}

TEST(Resample, RejectsBadRates) {
  EXPECT_THROW(Resampler(0, 16000), InvalidInput);
  EXPECT_THROW(Resampler(16000, -1), InvalidInput);
  EXPECT_THROW(Resampler(2000000, 16000), InvalidInput);
  EXPECT_THROW(Resampler(1000, 100000), InvalidInput);
}

}  // namespace
}  // namespace qasr
