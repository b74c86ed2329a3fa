// Vectorized float exp and erf for the hot loops of long-sequence attention
// and GELU: in Whisper's encoder, libm's scalar expf and erff took ~35% of the
// time (perf, tiny.en, 1 thread). Written with GCC/Clang vector extensions
// (4 lanes; SSE2 on x86-64, NEON on aarch64), because the compiler does not
// vectorize the selects of a scalar version without fast-math flags.
// Accuracy (cpp_tests/whisper_ops_test.cc): exp within 2 ulp of std::exp on
// [-87, 88] and 0 below -87.3 (what softmax needs); erf within 2e-7 absolute
// of std::erf, and 2e-7 relative for |x| < 0.5.
#pragma once

#include <cstdint>

namespace qasr {
namespace vmath {

typedef float V4 __attribute__((vector_size(16)));
typedef int32_t I4 __attribute__((vector_size(16)));

inline V4 splat(float x) { return V4{x, x, x, x}; }
// Lane-wise m ? a : b for a comparison mask m (all ones / all zeros).
inline V4 select(I4 m, V4 a, V4 b) { return (V4)((m & (I4)a) | (~m & (I4)b)); }

inline V4 exp4(V4 x) {
  // exp(x) = 2^n * exp(r), n = round(x / ln 2), r = x - n ln 2 (two-part ln 2).
  const V4 lo = splat(-87.3f), hi = splat(88.7f);
  V4 xc = select(x < lo, lo, x);
  xc = select(xc > hi, hi, xc);
  const V4 magic = splat(12582912.0f);  // 1.5 * 2^23: adding it rounds to an integer
  const V4 n = (xc * 1.44269504088896341f + magic) - magic;
  V4 r = xc - n * 0.693359375f;
  r = r - n * -2.12194440e-4f;
  // Cephes expf polynomial on [-ln2/2, ln2/2].
  V4 p = splat(1.9875691500e-4f);
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * r * r + r + 1.0f;
  const I4 e = (__builtin_convertvector(n, I4) + 127) << 23;
  const V4 y = p * (V4)e;
  return select(x < lo, splat(0.0f), y);
}

// erf(x) = sign(x) (1 - erfc|x|) with Numerical Recipes' erfc fit
// (fractional error < 1.2e-7) for |x| >= 0.5, and the Taylor series below,
// where 1 - erfc would lose relative accuracy.
inline V4 erf4(V4 x) {
  const V4 zero = splat(0.0f);
  const V4 a = select(x < zero, -x, x);
  // Near 0: 2/sqrt(pi) (x - x^3/3 + x^5/10 - x^7/42 + x^9/216 - x^11/1320 + x^13/9360).
  const V4 x2 = x * x;
  V4 s = splat(1.0f / 9360.0f);
  s = s * -x2 + 1.0f / 1320.0f;
  s = s * -x2 + 1.0f / 216.0f;
  s = s * -x2 + 1.0f / 42.0f;
  s = s * -x2 + 1.0f / 10.0f;
  s = s * -x2 + 1.0f / 3.0f;
  s = s * -x2 + 1.0f;
  const V4 small = 1.1283791670955126f * x * s;
  // erfc(a) = t exp(-a^2 - 1.26551223 + t P(t)), t = 1 / (1 + a/2).
  const V4 t = 1.0f / (1.0f + 0.5f * a);
  V4 p = splat(0.17087277f);
  p = p * t - 0.82215223f;
  p = p * t + 1.48851587f;
  p = p * t - 1.13520398f;
  p = p * t + 0.27886807f;
  p = p * t - 0.18628806f;
  p = p * t + 0.09678418f;
  p = p * t + 0.37409196f;
  p = p * t + 1.00002368f;
  p = p * t - 1.26551223f;
  const V4 big = 1.0f - t * exp4(-a * a + p);
  const V4 r = select(x < zero, -big, big);
  return select(a < splat(0.5f), small, r);
}

inline float exp(float x) { return exp4(splat(x))[0]; }
inline float erf(float x) { return erf4(splat(x))[0]; }

}  // namespace vmath

// x * Phi(x) with vmath::erf (torch's default, exact-erf GELU, to ~2e-7).
void gelu_inplace_vec(float* x, int64_t n);
// Softmax of one row with vmath::exp; -inf entries get 0, an all -inf row
// becomes zeros (as ops/softmax.h).
void softmax_inplace_vec(float* x, int64_t n);

}  // namespace qasr
