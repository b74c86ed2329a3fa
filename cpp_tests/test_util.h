// Helpers shared by the C++ tests: deterministic random data and the exact
// integer reference of docs/quantization.md computed from unpacked codes.
#pragma once

#include <cstdint>
#include <random>
#include <vector>

#include "kernels/quantize.h"

namespace qasr::test {

inline std::vector<float> random_floats(size_t n, uint32_t seed, float scale = 1.0f) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> dist(0.0f, scale);
  std::vector<float> v(n);
  for (auto& x : v) x = dist(rng);
  return v;
}

inline PackedMatrix view_of(const AlignedBytes& bytes, const PackedLayout& l) {
  PackedMatrix m;
  m.layout = l;
  m.data = bytes.data();
  return m;
}

}  // namespace qasr::test
