// Element-wise ops are plain C++ loops that the compiler vectorises. The
// baseline x86-64 target only has SSE2, so on x86 (GCC/Clang) each hot loop
// is also compiled for AVX2 and AVX-512 and the loader picks the best one
// for the CPU (function multi-versioning); elsewhere it is a plain function.
// No -ffast-math anywhere: every clone computes the same float sums in the
// same order.
#pragma once

#include <cstdint>
#include <cstring>

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__)) && !defined(__SANITIZE_ADDRESS__)
#define QASR_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define QASR_CLONES
#endif

// Helpers of a cloned function must be inlined into each clone to be
// compiled for its instruction set.
#if defined(__GNUC__) || defined(__clang__)
#define QASR_ALWAYS_INLINE inline __attribute__((always_inline))
#else
#define QASR_ALWAYS_INLINE inline
#endif

namespace qasr {

// exp(x) to ~2 ulp without a library call, so loops over it vectorise
// (Cody-Waite range reduction, degree-6 polynomial, Cephes' coefficients).
// Inputs below -87.3 (and -inf) give 0, above 88.7 exp(88.7).
QASR_ALWAYS_INLINE float exp_poly(float x0) {
  const float x = x0 < -87.3f ? -87.3f : (x0 > 88.7f ? 88.7f : x0);
  const float magic = 12582912.0f;  // 1.5 * 2^23: adding it rounds to an integer
  const float n = (x * 1.44269504088896341f + magic) - magic;
  float r = x - n * 0.693359375f;
  r = r - n * -2.12194440e-4f;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  const float y = p * r * r + r + 1.0f;
  const int32_t bits = (static_cast<int32_t>(n) + 127) << 23;
  float scale;
  std::memcpy(&scale, &bits, sizeof scale);
  return x0 < -87.3f ? 0.0f : y * scale;
}

// erf(x) to ~2e-7 absolute without a library call (vectorises like exp_poly):
// sign(x) (1 - erfc|x|) with Numerical Recipes' erfc fit (fractional error
// < 1.2e-7) for |x| >= 0.5, and the Taylor series below 0.5, where 1 - erfc
// would lose relative accuracy (there it is within 2e-7 relative).
QASR_ALWAYS_INLINE float erf_poly(float x) {
  const float a = x < 0.0f ? -x : x;
  // Near 0: 2/sqrt(pi) (x - x^3/3 + x^5/10 - x^7/42 + x^9/216 - x^11/1320 + x^13/9360).
  const float x2 = x * x;
  float s = 1.0f / 9360.0f;
  s = s * -x2 + 1.0f / 1320.0f;
  s = s * -x2 + 1.0f / 216.0f;
  s = s * -x2 + 1.0f / 42.0f;
  s = s * -x2 + 1.0f / 10.0f;
  s = s * -x2 + 1.0f / 3.0f;
  s = s * -x2 + 1.0f;
  const float small = 1.1283791670955126f * x * s;
  // erfc(a) = t exp(-a^2 - 1.26551223 + t P(t)), t = 1 / (1 + a/2).
  const float t = 1.0f / (1.0f + 0.5f * a);
  float p = 0.17087277f;
  p = p * t - 0.82215223f;
  p = p * t + 1.48851587f;
  p = p * t - 1.13520398f;
  p = p * t + 0.27886807f;
  p = p * t - 0.18628806f;
  p = p * t + 0.09678418f;
  p = p * t + 0.37409196f;
  p = p * t + 1.00002368f;
  p = p * t - 1.26551223f;
  const float big = 1.0f - t * exp_poly(-a * a + p);
  return a < 0.5f ? small : (x < 0.0f ? -big : big);
}

}  // namespace qasr
