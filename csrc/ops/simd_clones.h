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

}  // namespace qasr
