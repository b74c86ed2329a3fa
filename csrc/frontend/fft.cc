#include "frontend/fft.h"

#include <cmath>

#include "common/error.h"

namespace qasr {
namespace {

using cpx = std::complex<double>;

// Plain complex product: std::complex's operator* checks for NaN and may
// call a slow library routine; our inputs are finite.
inline cpx mul(cpx a, cpx b) {
  return {a.real() * b.real() - a.imag() * b.imag(), a.real() * b.imag() + a.imag() * b.real()};
}

std::vector<cpx> twiddles(int n, int count) {
  std::vector<cpx> tw(count);
  const double pi = 3.14159265358979323846;
  for (int k = 0; k < count; ++k) {
    const double a = -2.0 * pi * static_cast<double>(k) / static_cast<double>(n);
    tw[k] = cpx(std::cos(a), std::sin(a));
  }
  return tw;
}

}  // namespace

ComplexFft::ComplexFft(int n) : n_(n) {
  if (n < 1 || n > (1 << 24)) invalid("FFT size must be in [1, 2^24], got " + std::to_string(n));
  int r = n;
  while (r % 4 == 0) {
    factors_.push_back(4);
    r /= 4;
  }
  while (r % 2 == 0) {
    factors_.push_back(2);
    r /= 2;
  }
  for (int p = 3; r > 1; p += 2) {
    while (r % p == 0) {
      factors_.push_back(p);
      r /= p;
    }
    if (p * p > r && r > 1) {
      factors_.push_back(r);
      r = 1;
    }
  }
  if (factors_.empty()) factors_.push_back(1);
  tw_ = twiddles(n, n);
  int maxp = 1;
  for (int p : factors_) maxp = std::max(maxp, p);
  tmp_.resize(maxp);
}

void ComplexFft::forward(const cpx* in, cpx* out) {
  if (n_ == 1) {
    out[0] = in[0];
    return;
  }
  transform(in, out, n_, 1, 0, 1);
}

// Decimation in time: out[j*m .. j*m+m) receives the DFT of the j-th
// decimated subsequence, then radix-p butterflies combine them in place.
void ComplexFft::transform(const cpx* in, cpx* out, int n, int stride, size_t fi, int tw_stride) {
  const int p = factors_[fi];
  const int m = n / p;
  if (m == 1) {
    for (int j = 0; j < p; ++j) out[j] = in[j * stride];
  } else {
    for (int j = 0; j < p; ++j) transform(in + j * stride, out + j * m, m, stride * p, fi + 1, tw_stride * p);
  }
  const cpx* tw = tw_.data();
  switch (p) {
    case 2:
      for (int k = 0; k < m; ++k) {
        const cpx a = out[k];
        const cpx b = mul(out[k + m], tw[k * tw_stride]);
        out[k] = a + b;
        out[k + m] = a - b;
      }
      break;
    case 4:
      for (int k = 0; k < m; ++k) {
        const cpx a0 = out[k];
        const cpx a1 = mul(out[k + m], tw[k * tw_stride]);
        const cpx a2 = mul(out[k + 2 * m], tw[2 * k * tw_stride]);
        const cpx a3 = mul(out[k + 3 * m], tw[3 * k * tw_stride]);
        const cpx t0 = a0 + a2, t1 = a0 - a2, t2 = a1 + a3;
        const cpx d = a1 - a3;
        const cpx t3(d.imag(), -d.real());  // (a1 - a3) * (-i)
        out[k] = t0 + t2;
        out[k + m] = t1 + t3;
        out[k + 2 * m] = t0 - t2;
        out[k + 3 * m] = t1 - t3;
      }
      break;
    default: {
      const int root = n_ / p;  // tw[root * r] = exp(-2 pi i r / p)
      for (int k = 0; k < m; ++k) {
        for (int j = 0; j < p; ++j) {
          tmp_[j] = j == 0 ? out[k] : mul(out[k + j * m], tw[j * k * tw_stride]);
        }
        for (int q = 0; q < p; ++q) {
          cpx s = tmp_[0];
          for (int j = 1; j < p; ++j) s += mul(tmp_[j], tw[((j * q) % p) * root]);
          out[k + q * m] = s;
        }
      }
    }
  }
}

RealFft::RealFft(int n) : n_(n), cfft_(n >= 2 && n % 2 == 0 ? n / 2 : std::max(n, 1)) {
  if (n < 1) invalid("FFT size must be positive, got " + std::to_string(n));
  if (n % 2 == 0) {
    split_tw_ = twiddles(n, n / 2 + 1);
    zin_.resize(n / 2);
    zout_.resize(n / 2);
  } else {
    zin_.resize(n);
    zout_.resize(n);
  }
}

void RealFft::forward(const float* in, float* out) {
  if (n_ % 2 != 0) {
    for (int i = 0; i < n_; ++i) zin_[i] = cpx(in[i], 0.0);
    cfft_.forward(zin_.data(), zout_.data());
    for (int k = 0; k < num_bins(); ++k) {
      out[2 * k] = static_cast<float>(zout_[k].real());
      out[2 * k + 1] = static_cast<float>(zout_[k].imag());
    }
    return;
  }
  // Pack even/odd samples as one complex sequence of half the length, then
  // separate the two spectra: X[k] = E[k] + W^k O[k].
  const int h = n_ / 2;
  for (int i = 0; i < h; ++i) zin_[i] = cpx(in[2 * i], in[2 * i + 1]);
  cfft_.forward(zin_.data(), zout_.data());
  const cpx z0 = zout_[0];
  out[0] = static_cast<float>(z0.real() + z0.imag());
  out[1] = 0.0f;
  out[2 * h] = static_cast<float>(z0.real() - z0.imag());
  out[2 * h + 1] = 0.0f;
  for (int k = 1; k < h; ++k) {
    const cpx a = zout_[k];
    const cpx b = std::conj(zout_[h - k]);
    const cpx e = 0.5 * (a + b);
    const cpx d = 0.5 * (a - b);
    const cpx o(d.imag(), -d.real());  // (a - b) / (2i)
    const cpx x = e + mul(split_tw_[k], o);
    out[2 * k] = static_cast<float>(x.real());
    out[2 * k + 1] = static_cast<float>(x.imag());
  }
}

}  // namespace qasr
