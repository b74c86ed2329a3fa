// libFuzzer target for the .qasr reader (scripts/fuzz.sh). Each input is read
// twice: as it is without checksums (every structural check must hold with
// arbitrary bytes), and with its preamble repaired (file size, data offset,
// checksums) and checksums on, so mutations reach the JSON and the tensor
// table instead of stopping at the first size or CRC check. Accepted files
// are then read through every accessor; ASan/UBSan report any stray access.
#include <cstdint>
#include <cstring>
#include <vector>

#include "common/error.h"
#include "format/qasr_file.h"
#include "kernels/quantize.h"

namespace {

using namespace qasr;

void put_le(uint8_t* p, uint64_t v, int n) {
  for (int i = 0; i < n; ++i) p[i] = static_cast<uint8_t>(v >> (8 * i));
}

uint64_t get_le(const uint8_t* p, int n) {
  uint64_t v = 0;
  for (int i = n - 1; i >= 0; --i) v = v << 8 | p[i];
  return v;
}

void walk(const Json& j, uint64_t& sink) {
  switch (j.type()) {
    case Json::Type::Array:
      for (const Json& v : j.as_array()) walk(v, sink);
      break;
    case Json::Type::Object:
      for (const auto& kv : j.items()) walk(kv.second, sink);
      break;
    case Json::Type::String: sink += j.as_string().size(); break;
    case Json::Type::Number: sink += static_cast<uint64_t>(j.as_double() != 0); break;
    default: break;
  }
}

void exercise(const QasrFile& f) {
  uint64_t sink = 0;
  walk(f.header(), sink);
  for (const TensorInfo& t : f.tensors()) {
    for (size_t i = 0; i < t.nbytes; ++i) sink += t.data[i];
    if (t.packed) {
      const PackedMatrix m = f.matrix(t.name, t.layout.N, t.layout.K);
      if (t.layout.format == WeightFormat::F32) {
        sink += unpack_f32(m).size();
      } else {
        sink += unpack_quantized(m).codes.size();
      }
    } else if (t.dtype == DType::F32) {
      sink += f.f32(t.name, t.shape) != nullptr;
    }
  }
  volatile uint64_t keep = sink;
  (void)keep;
}

void read(const uint8_t* data, size_t size, bool verify) {
  OpenOptions o;
  o.verify_checksums = verify;
  try {
    exercise(*QasrFile::from_bytes(data, size, o));
  } catch (const InvalidInput&) {
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  read(data, size, false);
  if (size < kPreambleSize) return 0;
  std::vector<uint8_t> fixed(data, data + size);
  const uint64_t header_size = get_le(fixed.data() + 16, 8);
  if (header_size <= size - kPreambleSize) {
    put_le(fixed.data() + 24, align_up(kPreambleSize + header_size, kAlign), 8);
    put_le(fixed.data() + 40, crc32(fixed.data() + kPreambleSize, header_size), 4);
  }
  put_le(fixed.data() + 32, size, 8);
  put_le(fixed.data() + 44, crc32(fixed.data(), 44), 4);
  read(fixed.data(), fixed.size(), true);
  return 0;
}
