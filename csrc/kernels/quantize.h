// Weight quantization and packing (docs/quantization.md section 2) and the
// scalar reference for activation quantization (section 3). The Python
// mirror in qasr_native/quant/ implements the same functions; tests hold
// them equal code for code.
#pragma once

#include <cstdint>
#include <vector>

#include "kernels/packed.h"

namespace qasr {

// A 64-byte aligned byte buffer (the in-memory form of a packed matrix).
class AlignedBytes {
 public:
  AlignedBytes() = default;
  explicit AlignedBytes(size_t n);
  ~AlignedBytes();
  AlignedBytes(AlignedBytes&& o) noexcept;
  AlignedBytes& operator=(AlignedBytes&& o) noexcept;
  AlignedBytes(const AlignedBytes&) = delete;
  AlignedBytes& operator=(const AlignedBytes&) = delete;
  uint8_t* data() { return ptr_; }
  const uint8_t* data() const { return ptr_; }
  size_t size() const { return size_; }

 private:
  uint8_t* ptr_ = nullptr;
  size_t size_ = 0;
};

// Unpacked (row-major) quantized weights: the form the Python mirror and the
// calibration code work with.
struct QuantizedWeights {
  WeightFormat format = WeightFormat::Q8;
  int64_t N = 0, K = 0;
  int group = 0;
  std::vector<uint8_t> codes;    // [N][K] unsigned codes u
  std::vector<uint16_t> scales;  // [N][G] f16 bits
  std::vector<uint8_t> zeros;    // [N][G], q4a only
};

// Min-max default scales (and zero points for q4a) as f16 bits, per
// docs/quantization.md. `w` is row-major [N][K].
void default_scales(WeightFormat f, const float* w, int64_t N, int64_t K, int group,
                    uint16_t* scales, uint8_t* zeros);

// Codes for given f16 scales (and zero points for q4a). `scales` and
// `zeros` are [N][G]; null means the min-max defaults. Throws InvalidInput
// if a scale is not finite or `w` holds NaN/Inf.
QuantizedWeights quantize_weights(WeightFormat f, const float* w, int64_t N, int64_t K, int group,
                                  const uint16_t* scales = nullptr, const uint8_t* zeros = nullptr);

// Tiles quantized weights into the packed layout (and back).
AlignedBytes pack_quantized(const QuantizedWeights& q);
QuantizedWeights unpack_quantized(const PackedMatrix& m);

// Float32 weights into f32 panels, and back.
AlignedBytes pack_f32(const float* w, int64_t N, int64_t K);
std::vector<float> unpack_f32(const PackedMatrix& m);

// Scalar reference of the activation quantizer: x is [M][ldx] with K valid
// columns; codes are [M][blocks*32], scales and sums [M][blocks].
void quantize_activations_ref(const float* x, int64_t ldx, int64_t M, int64_t K, int8_t* codes,
                              float* scales, int32_t* sums);

}  // namespace qasr
