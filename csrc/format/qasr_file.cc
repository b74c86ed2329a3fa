#include "format/qasr_file.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <limits>

#include "common/error.h"

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "the .qasr reader maps little-endian data in place; big-endian hosts are not supported"
#endif

namespace qasr {

// ---- CRC-32 (slicing-by-8) --------------------------------------------------

namespace {

struct CrcTables {
  uint32_t t[8][256];
  constexpr CrcTables() : t{} {
    for (uint32_t i = 0; i < 256; ++i) {
      uint32_t c = i;
      for (int k = 0; k < 8; ++k) c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
      t[0][i] = c;
    }
    for (uint32_t i = 0; i < 256; ++i) {
      for (int s = 1; s < 8; ++s) t[s][i] = (t[s - 1][i] >> 8) ^ t[0][t[s - 1][i] & 0xFF];
    }
  }
};
constexpr CrcTables kCrc;

inline uint32_t load_le32(const uint8_t* p) {
  return static_cast<uint32_t>(p[0]) | static_cast<uint32_t>(p[1]) << 8 | static_cast<uint32_t>(p[2]) << 16 |
         static_cast<uint32_t>(p[3]) << 24;
}
inline uint16_t load_le16(const uint8_t* p) { return static_cast<uint16_t>(p[0] | p[1] << 8); }
inline uint64_t load_le64(const uint8_t* p) {
  return static_cast<uint64_t>(load_le32(p)) | static_cast<uint64_t>(load_le32(p + 4)) << 32;
}

}  // namespace

uint32_t crc32(const uint8_t* data, size_t size, uint32_t crc) {
  const auto& T = kCrc.t;
  crc = ~crc;
  while (size >= 8) {
    const uint32_t a = load_le32(data) ^ crc;
    const uint32_t b = load_le32(data + 4);
    crc = T[7][a & 0xFF] ^ T[6][(a >> 8) & 0xFF] ^ T[5][(a >> 16) & 0xFF] ^ T[4][a >> 24] ^ T[3][b & 0xFF] ^
          T[2][(b >> 8) & 0xFF] ^ T[1][(b >> 16) & 0xFF] ^ T[0][b >> 24];
    data += 8;
    size -= 8;
  }
  while (size--) crc = T[0][(crc ^ *data++) & 0xFF] ^ (crc >> 8);
  return ~crc;
}

// ---- dtypes -------------------------------------------------------------------

const char* dtype_name(DType t) {
  switch (t) {
    case DType::F32: return "f32";
    case DType::F16: return "f16";
    case DType::I32: return "i32";
    case DType::U8: return "u8";
  }
  return "?";
}

size_t dtype_size(DType t) {
  switch (t) {
    case DType::F32: return 4;
    case DType::F16: return 2;
    case DType::I32: return 4;
    case DType::U8: return 1;
  }
  return 0;
}

DType parse_dtype(const std::string& name) {
  if (name == "f32") return DType::F32;
  if (name == "f16") return DType::F16;
  if (name == "i32") return DType::I32;
  if (name == "u8") return DType::U8;
  invalid("unknown dtype '" + name + "' (expected f32, f16, i32 or u8)");
}

// ---- validation helpers -----------------------------------------------------

namespace {

constexpr uint8_t kMagic[8] = {'Q', 'A', 'S', 'R', 0x00, 0x0D, 0x0A, 0x1A};
constexpr size_t kMaxHeaderSize = size_t{16} << 20;
constexpr int64_t kMaxDim = int64_t{1} << 40;
constexpr size_t kMaxDims = 8;
constexpr size_t kMaxNameBytes = 1024;
constexpr uint32_t kIncompatibleFlags = 0xFFFF0000u;
constexpr uint32_t kKnownIncompatibleFlags = 0;  // format 1.0 defines none

std::string hex32(uint32_t v) {
  static const char* digits = "0123456789abcdef";
  std::string s(8, '0');
  for (int i = 7; i >= 0; --i, v >>= 4) s[i] = digits[v & 15];
  return s;
}

// A name as it appears in messages: printable, bounded.
std::string quoted(const std::string& name) {
  std::string s = "'";
  for (size_t i = 0; i < name.size() && i < 200; ++i) {
    const unsigned char c = static_cast<unsigned char>(name[i]);
    s += (c < 0x20 || c == 0x7F) ? '?' : static_cast<char>(c);
  }
  if (name.size() > 200) s += "...";
  return s + "'";
}

std::string shape_str(const std::vector<int64_t>& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

bool mul_overflows(size_t a, size_t b, size_t* out) {
  if (a != 0 && b > std::numeric_limits<size_t>::max() / a) return true;
  *out = a * b;
  return false;
}

std::string describe(const TensorInfo& t) {
  if (t.packed) {
    return std::string("packed ") + format_name(t.layout.format) + " " + shape_str(t.shape) + " group " +
           std::to_string(t.layout.group);
  }
  return std::string(dtype_name(t.dtype)) + " " + shape_str(t.shape);
}

// Parses the members of one tensor entry (everything but the placement).
void parse_entry(const Json& e, TensorInfo& t) {
  const Json* dtype = e.get("dtype");
  const Json* packed = e.get("packed");
  if (dtype && dtype->is_null()) dtype = nullptr;
  if (packed && packed->is_null()) packed = nullptr;
  if ((dtype != nullptr) == (packed != nullptr)) invalid("must have exactly one of 'dtype' and 'packed'");
  const std::vector<Json>& dims = e["shape"].as_array();
  if (packed && dims.size() != 2) {
    invalid("a packed matrix needs a 2-D shape [N, K], got " + std::to_string(dims.size()) + " dimensions");
  }
  if (dims.size() > kMaxDims) invalid("shape has " + std::to_string(dims.size()) + " dimensions (at most 8)");
  for (const Json& d : dims) {
    const int64_t v = d.as_int();
    if (v < (packed ? 1 : 0) || v > kMaxDim) {
      invalid("shape dimension " + std::to_string(v) + " is out of range (" + (packed ? "1" : "0") + " .. 2^40)");
    }
    t.shape.push_back(v);
  }
  size_t expected = 0;
  if (packed) {
    t.packed = true;
    const WeightFormat f = parse_format((*packed)["format"].as_string());
    const int64_t group = (*packed)["group"].as_int();
    if (group < 0 || group > 4096) invalid("group " + std::to_string(group) + " is not supported");
    t.layout = PackedLayout::make(f, t.shape[0], t.shape[1], static_cast<int>(group));
    expected = t.layout.total_bytes;
  } else {
    t.dtype = parse_dtype(dtype->as_string());
    expected = dtype_size(t.dtype);
    for (int64_t d : t.shape) {
      if (mul_overflows(expected, static_cast<size_t>(d), &expected)) {
        invalid("shape " + shape_str(t.shape) + " is too large (its size overflows)");
      }
    }
  }
  const int64_t offset = e["offset"].as_int();
  const int64_t nbytes = e["nbytes"].as_int();
  if (offset < 0) invalid("offset " + std::to_string(offset) + " is negative");
  if (nbytes < 0) invalid("nbytes " + std::to_string(nbytes) + " is negative");
  t.offset = static_cast<size_t>(offset);  // relative to data_offset until placed
  t.nbytes = static_cast<size_t>(nbytes);
  const std::string& crc = e["crc32"].as_string();
  bool crc_ok = crc.size() == 8;
  uint32_t v = 0;
  for (char c : crc) {
    int d = -1;
    if (c >= '0' && c <= '9') d = c - '0';
    if (c >= 'a' && c <= 'f') d = c - 'a' + 10;
    if (d < 0) crc_ok = false;
    v = v << 4 | static_cast<uint32_t>(d < 0 ? 0 : d);
  }
  if (!crc_ok) invalid("crc32 must be 8 lowercase hex digits");
  t.crc32 = v;
  if (t.nbytes != expected) {
    invalid("nbytes " + std::to_string(t.nbytes) + " does not match " + describe(t) + " (needs " +
            std::to_string(expected) + ")");
  }
}

bool f16_finite(uint16_t h) { return (h & 0x7C00u) != 0x7C00u; }

// Values the kernels rely on: finite scales and 4-bit zero points of the
// real (non-padding) rows.
void check_packed_values(const TensorInfo& t) {
  PackedMatrix m;
  m.layout = t.layout;
  m.data = t.data;
  const PackedLayout& l = t.layout;
  if (l.format == WeightFormat::F32) return;
  for (int64_t p = 0; p < l.panels; ++p) {
    const int rows = static_cast<int>(std::min<int64_t>(kPanel, l.N - p * kPanel));
    for (int64_t g = 0; g < l.groups; ++g) {
      uint16_t s[kPanel];
      std::memcpy(s, m.scale_row(p, g), sizeof(s));
      for (int j = 0; j < rows; ++j) {
        if (!f16_finite(s[j])) {
          invalid("scale of row " + std::to_string(p * kPanel + j) + ", group " + std::to_string(g) +
                  " is not finite (f16 0x" + hex32(s[j]).substr(4) + ")");
        }
      }
      if (l.format == WeightFormat::Q4A) {
        const uint8_t* z = m.zero_row(p, g);
        for (int j = 0; j < rows; ++j) {
          if (z[j] > 15) {
            invalid("zero point " + std::to_string(z[j]) + " of row " + std::to_string(p * kPanel + j) +
                    ", group " + std::to_string(g) + " is outside [0, 15]");
          }
        }
      }
    }
  }
}

void check_zero(const uint8_t* base, size_t begin, size_t end, const char* what) {
  for (size_t i = begin; i < end; ++i) {
    if (base[i] != 0) invalid(std::string("non-zero byte in ") + what + " at file offset " + std::to_string(i));
  }
}

}  // namespace

// ---- QasrFile -------------------------------------------------------------------

std::shared_ptr<const QasrFile> QasrFile::open(const std::string& path, const OpenOptions& opts) {
  std::shared_ptr<QasrFile> f(new QasrFile());
  f->source_ = path;
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) invalid(path + ": cannot open: " + std::strerror(errno));
  struct stat st;
  if (::fstat(fd, &st) != 0) {
    const int err = errno;
    ::close(fd);
    invalid(path + ": cannot stat: " + std::strerror(err));
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(fd);
    invalid(path + ": not a regular file");
  }
  if (st.st_size == 0) {
    ::close(fd);
    invalid(path + ": file is empty");
  }
  if (static_cast<uint64_t>(st.st_size) > std::numeric_limits<size_t>::max()) {
    ::close(fd);
    invalid(path + ": file is too large to map on this system");
  }
  const size_t size = static_cast<size_t>(st.st_size);
  void* p = ::mmap(nullptr, size, PROT_READ, MAP_PRIVATE, fd, 0);
  const int err = errno;
  ::close(fd);
  if (p == MAP_FAILED) invalid(path + ": cannot map: " + std::strerror(err));
  f->base_ = static_cast<const uint8_t*>(p);
  f->size_ = size;
  f->mapped_ = true;
  f->parse_and_validate(opts);
  return f;
}

std::shared_ptr<const QasrFile> QasrFile::from_bytes(const uint8_t* data, size_t size, const OpenOptions& opts) {
  std::shared_ptr<QasrFile> f(new QasrFile());
  f->source_ = "<memory>";
  if (size == 0) invalid("<memory>: file is empty");
  f->owned_ = std::aligned_alloc(kAlign, align_up(size, kAlign));
  if (!f->owned_) fail("out of memory copying a " + std::to_string(size) + "-byte file image");
  std::memcpy(f->owned_, data, size);
  f->base_ = static_cast<const uint8_t*>(f->owned_);
  f->size_ = size;
  f->parse_and_validate(opts);
  return f;
}

QasrFile::~QasrFile() {
  if (mapped_) ::munmap(const_cast<uint8_t*>(base_), size_);
  std::free(owned_);
}

void QasrFile::parse_and_validate(const OpenOptions& opts) {
  try {
    validate(opts);
  } catch (const InvalidInput& e) {
    invalid(source_ + ": " + e.what());
  }
}

void QasrFile::validate(const OpenOptions& opts) {
  const uint8_t* b = base_;
  const size_t n = size_;
  const std::string truncated_preamble =
      "file is truncated (" + std::to_string(n) + " bytes; the preamble alone is " + std::to_string(kPreambleSize) + ")";

  // Magic and version come first: they say what the file is even when the
  // rest of the preamble belongs to another version.
  if (n < sizeof(kMagic) || std::memcmp(b, kMagic, sizeof(kMagic)) != 0) invalid("not a .qasr file (bad magic)");
  if (n < 12) invalid(truncated_preamble);
  version_ = load_le16(b + 8);
  version_minor_ = load_le16(b + 10);
  const std::string version = std::to_string(version_) + "." + std::to_string(version_minor_);
  if (version_ == 0) invalid("invalid format version " + version);
  if (version_ > kFormatMajor) {
    invalid("format version " + version + " is newer than this reader supports (" + std::to_string(kFormatMajor) +
            ".x); upgrade qasr_native");
  }
  if (n < kPreambleSize) invalid(truncated_preamble);
  if (opts.verify_checksums) {
    const uint32_t stored = load_le32(b + 44), computed = crc32(b, 44);
    if (stored != computed) {
      invalid("preamble checksum mismatch (stored " + hex32(stored) + ", computed " + hex32(computed) +
              "): the file is corrupted");
    }
  }
  flags_ = load_le32(b + 12);
  const uint32_t unknown = flags_ & kIncompatibleFlags & ~kKnownIncompatibleFlags;
  if (unknown) invalid("file needs features this reader does not know (flags 0x" + hex32(unknown) + ")");
  const uint64_t header_size = load_le64(b + 16);
  const uint64_t data_offset = load_le64(b + 24);
  const uint64_t file_size = load_le64(b + 32);
  if (file_size > n) {
    invalid("file is truncated (" + std::to_string(n) + " bytes; its preamble says " + std::to_string(file_size) + ")");
  }
  if (file_size < n) {
    invalid("file has " + std::to_string(n - file_size) + " unexpected bytes after its end (its preamble says " +
            std::to_string(file_size) + " bytes)");
  }
  if (header_size < 2 || header_size > kMaxHeaderSize) {
    invalid("header size " + std::to_string(header_size) + " is invalid (2 .. " + std::to_string(kMaxHeaderSize) +
            " bytes)");
  }
  if (header_size > n - kPreambleSize) {
    invalid("header (" + std::to_string(header_size) + " bytes) extends past the end of the file (" +
            std::to_string(n) + " bytes)");
  }
  const size_t header_end = kPreambleSize + static_cast<size_t>(header_size);
  const size_t expected_data = align_up(header_end, kAlign);
  if (data_offset != expected_data) {
    invalid("data offset " + std::to_string(data_offset) + " is not the first 64-byte boundary after the header (" +
            std::to_string(expected_data) + ")");
  }
  if (data_offset > n) {
    invalid("data offset " + std::to_string(data_offset) + " is past the end of the file (" + std::to_string(n) +
            " bytes)");
  }
  check_zero(b, header_end, expected_data, "the header padding");
  if (opts.verify_checksums) {
    const uint32_t stored = load_le32(b + 40), computed = crc32(b + kPreambleSize, header_size);
    if (stored != computed) {
      invalid("header checksum mismatch (stored " + hex32(stored) + ", computed " + hex32(computed) +
              "): the file is corrupted");
    }
  }
  data_offset_ = expected_data;
  header_text_.assign(reinterpret_cast<const char*>(b + kPreambleSize), header_size);
  try {
    header_ = Json::parse(header_text_);
  } catch (const InvalidInput& e) {
    invalid(std::string("header ") + e.what());
  }

  // Header structure.
  if (!header_.is_object()) invalid("header must be a JSON object");
  const std::string& fv = header_["format_version"].as_string();
  if (fv != version) invalid("header format_version '" + fv + "' differs from the preamble's " + version);
  const Json& model = header_["model"];
  if (!model.is_object()) invalid("header member 'model' must be an object");
  model["family"].as_string();
  for (const char* section : {"frontend", "tokenizer", "quantization", "provenance"}) {
    const Json* s = header_.get(section);
    if (s && !s->is_object()) invalid(std::string("header member '") + section + "' must be an object");
  }
  const std::vector<Json>& entries = header_["tensors"].as_array();

  // The tensor table: every entry parsed, then placed exactly where the
  // canonical layout puts it.
  const size_t data_size = n - data_offset_;
  size_t next = 0;      // canonical offset of the next tensor (relative)
  size_t prev_end = 0;  // end of the previous tensor (relative)
  tensors_.reserve(entries.size());
  for (size_t i = 0; i < entries.size(); ++i) {
    const Json& e = entries[i];
    std::string where = "tensor #" + std::to_string(i);
    if (!e.is_object()) invalid(where + ": entry must be an object");
    const Json* name = e.get("name");
    if (!name || name->type() != Json::Type::String) invalid(where + ": 'name' must be a string");
    TensorInfo t;
    t.name = name->as_string();
    if (t.name.empty() || t.name.size() > kMaxNameBytes || t.name.find('\0') != std::string::npos) {
      invalid(where + ": name must be 1 .. 1024 bytes without NUL");
    }
    where = "tensor " + quoted(t.name);
    const auto dup = index_.find(t.name);
    if (dup != index_.end()) invalid(where + ": duplicate name (tensors #" + std::to_string(dup->second) + " and #" + std::to_string(i) + ")");
    try {
      parse_entry(e, t);
    } catch (const InvalidInput& err) {
      invalid(where + ": " + err.what());
    }
    const size_t rel = t.offset;
    const std::string prev = tensors_.empty() ? std::string() : " " + quoted(tensors_.back().name);
    if (rel % kAlign != 0) invalid(where + ": offset " + std::to_string(rel) + " is not a multiple of 64");
    if (rel > data_size || t.nbytes > data_size - rel) {
      invalid(where + ": its bytes [" + std::to_string(rel) + ", " + std::to_string(rel) + " + " +
              std::to_string(t.nbytes) + ") after the data offset extend past the end of the file (" +
              std::to_string(data_size) + " data bytes)");
    }
    if (rel < next) {
      invalid(where + ": offset " + std::to_string(rel) + " overlaps tensor" + prev + ", which ends at " +
              std::to_string(prev_end) + " (tensors are stored in table order without overlap)");
    }
    if (rel > next) {
      invalid(where + ": offset " + std::to_string(rel) + " leaves a gap after " +
              (tensors_.empty() ? std::string("the header") : "tensor" + prev) + " (expected offset " +
              std::to_string(next) + ": each tensor starts at the next 64-byte boundary)");
    }
    check_zero(b, data_offset_ + prev_end, data_offset_ + rel, "the padding between tensors");
    t.offset = data_offset_ + rel;
    t.data = b + t.offset;
    prev_end = rel + t.nbytes;
    next = align_up(prev_end, kAlign);
    index_.emplace(t.name, tensors_.size());
    tensors_.push_back(std::move(t));
  }
  if (prev_end != data_size) {
    invalid(std::to_string(data_size - prev_end) + " bytes after " +
            (tensors_.empty() ? std::string("the header") : "the last tensor " + quoted(tensors_.back().name)) +
            " are not described by the tensor table");
  }

  if (opts.verify_checksums) {
    for (const TensorInfo& t : tensors_) {
      const uint32_t computed = crc32(t.data, t.nbytes);
      if (computed != t.crc32) {
        invalid("tensor " + quoted(t.name) + ": checksum mismatch (stored " + hex32(t.crc32) + ", computed " +
                hex32(computed) + "): the file is corrupted");
      }
    }
  }
  for (const TensorInfo& t : tensors_) {
    if (!t.packed) continue;
    try {
      check_packed_values(t);
    } catch (const InvalidInput& err) {
      invalid("tensor " + quoted(t.name) + ": " + err.what());
    }
  }
}

bool QasrFile::has(const std::string& name) const { return index_.count(name) != 0; }

const TensorInfo& QasrFile::tensor(const std::string& name) const {
  const auto it = index_.find(name);
  if (it == index_.end()) invalid(source_ + ": tensor " + quoted(name) + " is missing");
  return tensors_[it->second];
}

const float* QasrFile::f32(const std::string& name, const std::vector<int64_t>& shape) const {
  const TensorInfo& t = tensor(name);
  if (t.packed || t.dtype != DType::F32) {
    invalid(source_ + ": tensor " + quoted(name) + " is " + describe(t) + ", expected f32 " + shape_str(shape));
  }
  if (t.shape != shape) {
    invalid(source_ + ": tensor " + quoted(name) + " has shape " + shape_str(t.shape) + ", expected " +
            shape_str(shape));
  }
  return reinterpret_cast<const float*>(t.data);
}

PackedMatrix QasrFile::matrix(const std::string& name) const {
  const TensorInfo& t = tensor(name);
  if (!t.packed) invalid(source_ + ": tensor " + quoted(name) + " is " + describe(t) + ", expected a packed matrix");
  PackedMatrix m;
  m.layout = t.layout;
  m.data = t.data;
  return m;
}

PackedMatrix QasrFile::matrix(const std::string& name, int64_t N, int64_t K) const {
  const PackedMatrix m = matrix(name);
  if (m.layout.N != N || m.layout.K != K) {
    invalid(source_ + ": matrix " + quoted(name) + " has shape " + shape_str(tensor(name).shape) + ", expected [" +
            std::to_string(N) + ", " + std::to_string(K) + "]");
  }
  return m;
}

}  // namespace qasr
