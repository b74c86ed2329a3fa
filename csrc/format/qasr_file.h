// The .qasr model file (docs/format.md): one mmap-able file holding a JSON
// header and 64-byte aligned tensors. The reader validates everything
// (magic, version, sizes, offsets, shapes, dtypes, checksums) with
// overflow-safe arithmetic and names the failing tensor in its errors.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "format/json.h"
#include "kernels/packed.h"

namespace qasr {

// Format version this reader implements (docs/format.md 1.2): it reads
// every minor version of its major version.
constexpr uint16_t kFormatMajor = 1;
constexpr uint16_t kFormatMinor = 0;
constexpr size_t kPreambleSize = 48;

// Plain (unpacked) element types of non-matrix tensors.
enum class DType { F32, F16, I32, U8 };
const char* dtype_name(DType t);
size_t dtype_size(DType t);
// Parses "f32" / "f16" / "i32" / "u8"; throws InvalidInput otherwise.
DType parse_dtype(const std::string& name);

struct TensorInfo {
  std::string name;
  std::vector<int64_t> shape;
  bool packed = false;         // a packed matrix (docs/format.md "Packed matrices")
  DType dtype = DType::F32;    // when !packed
  PackedLayout layout;         // when packed; shape == {N, K}
  size_t offset = 0;           // from the start of the file, 64-byte aligned
                               // (the JSON table stores it relative to data_offset)
  size_t nbytes = 0;
  uint32_t crc32 = 0;
  const uint8_t* data = nullptr;  // points into the mapping
};

struct OpenOptions {
  bool verify_checksums = true;  // CRC-32 of the header and every tensor
};

class QasrFile {
 public:
  // Maps `path` read-only and validates it; throws InvalidInput naming the
  // file and the problem.
  static std::shared_ptr<const QasrFile> open(const std::string& path, const OpenOptions& opts = {});
  // Validates a file image held in memory (copied into an aligned buffer);
  // used by tests and the fuzzer.
  static std::shared_ptr<const QasrFile> from_bytes(const uint8_t* data, size_t size,
                                                    const OpenOptions& opts = {});
  ~QasrFile();
  QasrFile(const QasrFile&) = delete;
  QasrFile& operator=(const QasrFile&) = delete;

  uint32_t version() const { return version_; }  // major
  uint32_t version_minor() const { return version_minor_; }
  uint32_t flags() const { return flags_; }
  size_t data_offset() const { return data_offset_; }
  const Json& header() const { return header_; }
  const std::string& header_text() const { return header_text_; }
  size_t file_size() const { return size_; }
  const std::string& source() const { return source_; }  // path or "<memory>"
  const std::vector<TensorInfo>& tensors() const { return tensors_; }

  bool has(const std::string& name) const;
  // Throws InvalidInput "tensor 'x' is missing" when absent.
  const TensorInfo& tensor(const std::string& name) const;
  // Plain float32 tensor with exactly this shape (throws naming the tensor on
  // a dtype or shape mismatch).
  const float* f32(const std::string& name, const std::vector<int64_t>& shape) const;
  // Packed matrix [N, K] in any packed format.
  PackedMatrix matrix(const std::string& name, int64_t N, int64_t K) const;
  // Packed matrix of whatever shape the file says.
  PackedMatrix matrix(const std::string& name) const;

 private:
  QasrFile() = default;
  // Runs validate() and prefixes its errors with source().
  void parse_and_validate(const OpenOptions& opts);
  void validate(const OpenOptions& opts);

  const uint8_t* base_ = nullptr;
  size_t size_ = 0;
  bool mapped_ = false;
  void* owned_ = nullptr;  // aligned copy for from_bytes
  uint32_t version_ = 0;
  uint32_t version_minor_ = 0;
  uint32_t flags_ = 0;
  size_t data_offset_ = 0;
  std::string source_;
  std::string header_text_;
  Json header_;
  std::vector<TensorInfo> tensors_;
  std::unordered_map<std::string, size_t> index_;
};

// Standard CRC-32 (IEEE 802.3, as zlib.crc32), slicing-by-8.
uint32_t crc32(const uint8_t* data, size_t size, uint32_t crc = 0);

}  // namespace qasr
