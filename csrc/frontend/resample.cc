#include "frontend/resample.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <string>

#include "common/error.h"

namespace qasr {
namespace {

constexpr double kPi = 3.14159265358979323846;
constexpr double kStopDb = 80.0;      // stop-band attenuation the window is designed for
constexpr double kPassEdge = 0.92;    // pass band ends here, as a fraction of the lower Nyquist
constexpr int kDense = 512;           // fallback table points per input sample
constexpr int64_t kMaxTable = 1 << 18;  // floats in an exact phase table (1 MiB)

// Modified Bessel function of the first kind, order 0 (power series).
double bessel_i0(double x) {
  double sum = 1.0, term = 1.0;
  const double q = 0.25 * x * x;
  for (int k = 1; k < 500; ++k) {
    term *= q / (static_cast<double>(k) * k);
    sum += term;
    if (term < 1e-17 * sum) break;
  }
  return sum;
}

}  // namespace

Resampler::Resampler(int from_rate, int to_rate) : from_(from_rate), to_(to_rate) {
  if (from_rate < 1 || from_rate > 1000000 || to_rate < 1 || to_rate > 1000000) {
    invalid("resample: rates must be 1 to 1000000 Hz, got " + std::to_string(from_rate) + " -> " +
            std::to_string(to_rate));
  }
  if (static_cast<int64_t>(from_rate) > 64LL * to_rate || static_cast<int64_t>(to_rate) > 64LL * from_rate) {
    invalid("resample: ratio " + std::to_string(from_rate) + " -> " + std::to_string(to_rate) +
            " Hz exceeds 64; resample in steps");
  }
  const int64_t g = std::gcd(from_rate, to_rate);
  L_ = to_rate / g;
  M_ = from_rate / g;
  const double nyq = 0.5 * std::min(from_rate, to_rate);
  const double pass = kPassEdge * nyq, stop = nyq;
  cutoff_ = 0.5 * (pass + stop) / from_rate;
  beta_ = 0.1102 * (kStopDb - 8.7);
  i0_beta_ = bessel_i0(beta_);
  const double transition = 2.0 * kPi * (stop - pass) / from_rate;  // rad per input sample
  const double taps = (kStopDb - 8.0) / (2.285 * transition);
  half_ = std::max(2, static_cast<int>(std::ceil(taps / 2.0)) + 1);
  const int width = 2 * half_;
  if (L_ == 1 && M_ == 1) {
    // Same rate: a copy (the filter would be the identity at integer times).
  } else if (L_ * width <= kMaxTable) {
    table_.resize(static_cast<size_t>(L_ * width));
    for (int64_t p = 0; p < L_; ++p) {
      const double frac = static_cast<double>(p) / static_cast<double>(L_);
      double sum = 0.0;
      std::vector<double> h(width);
      for (int k = 0; k < width; ++k) {
        h[k] = filter(static_cast<double>(k - half_ + 1) - frac);
        sum += h[k];
      }
      // Unit gain at DC in every phase, so constants stay constant.
      for (int k = 0; k < width; ++k) table_[p * width + k] = static_cast<float>(h[k] / sum);
    }
  } else {
    dense_.resize(static_cast<size_t>(half_) * kDense + 2);
    for (size_t i = 0; i < dense_.size(); ++i) dense_[i] = static_cast<float>(filter(static_cast<double>(i) / kDense));
  }
  reset();
}

double Resampler::filter(double tau) const {
  const double x = tau / half_;
  if (std::fabs(x) >= 1.0) return 0.0;
  const double u = 2.0 * cutoff_ * tau;
  const double sinc = std::fabs(u) < 1e-12 ? 1.0 : std::sin(kPi * u) / (kPi * u);
  return 2.0 * cutoff_ * sinc * bessel_i0(beta_ * std::sqrt(1.0 - x * x)) / i0_beta_;
}

const float* Resampler::phase_taps(int64_t p, std::vector<float>* scratch) const {
  const int width = 2 * half_;
  if (!table_.empty()) return table_.data() + p * width;
  scratch->resize(width);
  const double frac = static_cast<double>(p) / static_cast<double>(L_);
  double sum = 0.0;
  for (int k = 0; k < width; ++k) {
    const double pos = std::fabs(static_cast<double>(k - half_ + 1) - frac) * kDense;
    const size_t i = static_cast<size_t>(pos);
    double v = 0.0;
    if (i + 1 < dense_.size()) {
      const double t = pos - static_cast<double>(i);
      v = (1.0 - t) * dense_[i] + t * dense_[i + 1];
    }
    (*scratch)[k] = static_cast<float>(v);
    sum += v;
  }
  for (int k = 0; k < width; ++k) (*scratch)[k] = static_cast<float>((*scratch)[k] / sum);
  return scratch->data();
}

void Resampler::reset() {
  buf_.assign(static_cast<size_t>(half_ - 1), 0.0f);
  buf_start_ = -(half_ - 1);
  received_ = 0;
  n0_ = 0;
  p_ = 0;
  finished_ = false;
}

void Resampler::emit(std::vector<float>* out, bool until_end) {
  const int width = 2 * half_;
  while (until_end ? (n0_ * L_ + p_ < received_ * L_) : (n0_ + half_ <= received_ - 1)) {
    const float* h = phase_taps(p_, &scratch_);
    const float* x = buf_.data() + (n0_ - half_ + 1 - buf_start_);
    // Eight independent partial sums (width is even, usually a multiple of
    // 8): lets the compiler use SIMD lanes without reassociating.
    float acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    int k = 0;
    for (; k + 8 <= width; k += 8) {
      for (int l = 0; l < 8; ++l) acc[l] += h[k + l] * x[k + l];
    }
    for (; k < width; ++k) acc[k & 7] += h[k] * x[k];
    out->push_back(((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7])));
    p_ += M_;
    n0_ += p_ / L_;
    p_ %= L_;
  }
  const int64_t first = n0_ - half_ + 1;  // the oldest sample the next output reads
  const int64_t drop = std::min<int64_t>(first - buf_start_, static_cast<int64_t>(buf_.size()));
  if (drop > 0) {
    buf_.erase(buf_.begin(), buf_.begin() + drop);
    buf_start_ += drop;
  }
}

void Resampler::process(const float* in, int64_t n, std::vector<float>* out) {
  if (n < 0) invalid("resample: negative sample count");
  if (finished_) fail("Resampler::process after flush(); call reset() to start a new stream");
  if (n == 0) return;
  if (L_ == 1 && M_ == 1) {
    out->insert(out->end(), in, in + n);
    received_ += n;
    return;
  }
  buf_.insert(buf_.end(), in, in + n);
  received_ += n;
  emit(out, false);
}

void Resampler::flush(std::vector<float>* out) {
  if (finished_) return;
  finished_ = true;
  if (L_ == 1 && M_ == 1) return;
  buf_.insert(buf_.end(), static_cast<size_t>(half_), 0.0f);
  emit(out, true);
}

std::vector<float> resample(const float* in, int64_t n, int from_rate, int to_rate) {
  Resampler r(from_rate, to_rate);
  std::vector<float> out;
  if (n > 0) out.reserve(static_cast<size_t>((n * static_cast<int64_t>(to_rate) + from_rate - 1) / from_rate));
  r.process(in, n, &out);
  r.flush(&out);
  return out;
}

}  // namespace qasr
