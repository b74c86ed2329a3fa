// The .qasr reader on file images built here from the spec (docs/format.md),
// independently of the Python writer: valid files, every kind of damage,
// and files read through mmap.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

#include "common/error.h"
#include "format/qasr_file.h"
#include "kernels/quantize.h"
#include "test_util.h"

namespace qasr {
namespace {

using Bytes = std::vector<uint8_t>;

std::string hex8(uint32_t v) {
  char buf[9];
  std::snprintf(buf, sizeof(buf), "%08x", v);
  return buf;
}

void put_le(Bytes& b, size_t at, uint64_t v, int n) {
  for (int i = 0; i < n; ++i) b[at + i] = static_cast<uint8_t>(v >> (8 * i));
}

struct Preamble {
  uint16_t major = 1, minor = 0;
  uint32_t flags = 0;
  int64_t data_offset = -1;  // -1: the correct one
  int64_t file_size = -1;
};

// A file image: preamble, JSON text, zero padding, data.
Bytes build(const std::string& json, const Bytes& data, const Preamble& p = {}) {
  const size_t data_offset = align_up(kPreambleSize + json.size(), 64);
  Bytes b(data_offset + data.size(), 0);
  const uint8_t magic[8] = {'Q', 'A', 'S', 'R', 0, '\r', '\n', 0x1a};
  std::memcpy(b.data(), magic, 8);
  put_le(b, 8, p.major, 2);
  put_le(b, 10, p.minor, 2);
  put_le(b, 12, p.flags, 4);
  put_le(b, 16, json.size(), 8);
  put_le(b, 24, p.data_offset < 0 ? data_offset : static_cast<uint64_t>(p.data_offset), 8);
  put_le(b, 32, p.file_size < 0 ? b.size() : static_cast<uint64_t>(p.file_size), 8);
  std::memcpy(b.data() + kPreambleSize, json.data(), json.size());
  put_le(b, 40, crc32(b.data() + kPreambleSize, json.size()), 4);
  put_le(b, 44, crc32(b.data(), 44), 4);
  if (!data.empty()) std::memcpy(b.data() + data_offset, data.data(), data.size());
  return b;
}

// Two tensors: a plain f32 vector and a packed q4a matrix.
struct Sample {
  std::vector<float> a;
  QuantizedWeights q;
  AlignedBytes packed;
  Bytes data;
  std::string json(const std::string& a_entry_extra = "", const std::string& m_offset = "64") const {
    return std::string(R"({"format_version":"1.0","model":{"family":"t","d":4},"tensors":[)") +
           R"({"name":"a","shape":[10],"dtype":"f32","offset":0,"nbytes":40,"crc32":")" +
           hex8(crc32(data.data(), 40)) + "\"" + a_entry_extra + "}," +
           R"({"name":"m","shape":[20,40],"packed":{"format":"q4a","group":32},"offset":)" + m_offset +
           ",\"nbytes\":" + std::to_string(packed.size()) + ",\"crc32\":\"" +
           hex8(crc32(packed.data(), packed.size())) + "\"}]}";
  }
};

Sample make_sample() {
  Sample s;
  for (int i = 0; i < 10; ++i) s.a.push_back(static_cast<float>(i) * 0.5f);
  const std::vector<float> w = test::random_floats(20 * 40, 7);
  s.q = quantize_weights(WeightFormat::Q4A, w.data(), 20, 40, 32);
  s.packed = pack_quantized(s.q);
  s.data.assign(64 + s.packed.size(), 0);
  std::memcpy(s.data.data(), s.a.data(), 40);
  std::memcpy(s.data.data() + 64, s.packed.data(), s.packed.size());
  return s;
}

std::string error_of(const Bytes& b, bool verify = true) {
  OpenOptions o;
  o.verify_checksums = verify;
  try {
    QasrFile::from_bytes(b.data(), b.size(), o);
  } catch (const InvalidInput& e) {
    return e.what();
  }
  return "";
}

#define EXPECT_ERROR(bytes, fragment)                                              \
  do {                                                                             \
    const std::string msg_ = error_of(bytes);                                      \
    EXPECT_NE(msg_.find(fragment), std::string::npos) << "message: '" << msg_ << "'"; \
    EXPECT_EQ(msg_.rfind("<memory>: ", 0), 0u) << msg_;                            \
  } while (0)

TEST(Crc32, KnownValues) {
  const char* s = "123456789";
  EXPECT_EQ(crc32(reinterpret_cast<const uint8_t*>(s), 9), 0xCBF43926u);
  EXPECT_EQ(crc32(nullptr, 0), 0u);
  // Chaining equals one pass, at every split and alignment.
  Bytes b(300);
  for (size_t i = 0; i < b.size(); ++i) b[i] = static_cast<uint8_t>(i * 37 + 11);
  const uint32_t whole = crc32(b.data(), b.size());
  for (size_t split = 0; split <= b.size(); split += 13) {
    EXPECT_EQ(crc32(b.data() + split, b.size() - split, crc32(b.data(), split)), whole);
  }
  // Bytewise reference.
  uint32_t c = 0xFFFFFFFFu;
  for (uint8_t v : b) {
    c ^= v;
    for (int k = 0; k < 8; ++k) c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
  }
  EXPECT_EQ(whole, ~c);
}

TEST(QasrFile, ReadsAValidImage) {
  const Sample s = make_sample();
  const Bytes img = build(s.json(), s.data);
  const auto f = QasrFile::from_bytes(img.data(), img.size());
  EXPECT_EQ(f->version(), 1u);
  EXPECT_EQ(f->version_minor(), 0u);
  EXPECT_EQ(f->file_size(), img.size());
  EXPECT_EQ(f->source(), "<memory>");
  EXPECT_EQ(f->header()["model"]["d"].as_int(), 4);
  ASSERT_EQ(f->tensors().size(), 2u);
  const float* a = f->f32("a", {10});
  for (int i = 0; i < 10; ++i) EXPECT_EQ(a[i], s.a[i]);
  const TensorInfo& t = f->tensor("m");
  EXPECT_TRUE(t.packed);
  EXPECT_EQ(t.offset, f->data_offset() + 64);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(t.data) % 64, 0u);
  const PackedMatrix m = f->matrix("m", 20, 40);
  EXPECT_EQ(std::memcmp(m.data, s.packed.data(), s.packed.size()), 0);
  const QuantizedWeights back = unpack_quantized(m);
  EXPECT_EQ(back.codes, s.q.codes);
  EXPECT_EQ(back.scales, s.q.scales);
  EXPECT_EQ(back.zeros, s.q.zeros);
}

TEST(QasrFile, AccessorErrorsNameTheTensor) {
  const Sample s = make_sample();
  const Bytes img = build(s.json(), s.data);
  const auto f = QasrFile::from_bytes(img.data(), img.size());
  auto message = [](auto fn) {
    try {
      fn();
    } catch (const InvalidInput& e) {
      return std::string(e.what());
    }
    return std::string();
  };
  EXPECT_EQ(message([&] { f->tensor("nope"); }), "<memory>: tensor 'nope' is missing");
  EXPECT_EQ(message([&] { f->f32("a", {11}); }), "<memory>: tensor 'a' has shape [10], expected [11]");
  EXPECT_EQ(message([&] { f->f32("m", {20, 40}); }),
            "<memory>: tensor 'm' is packed q4a [20, 40] group 32, expected f32 [20, 40]");
  EXPECT_EQ(message([&] { f->matrix("m", 40, 20); }), "<memory>: matrix 'm' has shape [20, 40], expected [40, 20]");
  EXPECT_EQ(message([&] { f->matrix("a"); }), "<memory>: tensor 'a' is f32 [10], expected a packed matrix");
}

TEST(QasrFile, EveryTruncationIsRejected) {
  const Sample s = make_sample();
  const Bytes img = build(s.json(), s.data);
  for (size_t n = 1; n < img.size(); ++n) {
    const Bytes cut(img.begin(), img.begin() + n);
    for (bool verify : {true, false}) {
      const std::string msg = error_of(cut, verify);
      EXPECT_TRUE(msg.find("truncated") != std::string::npos || (n < 8 && msg.find("bad magic") != std::string::npos))
          << n << ": " << msg;
    }
  }
  EXPECT_EQ(error_of(Bytes{}), "<memory>: file is empty");
}

TEST(QasrFile, EveryFlippedByteIsRejectedWithChecksums) {
  const Sample s = make_sample();
  const Bytes img = build(s.json(), s.data);
  const size_t data_offset = img.size() - s.data.size();
  for (size_t i = 0; i < img.size(); ++i) {
    Bytes bad = img;
    bad[i] ^= 0x01;
    const std::string msg = error_of(bad);
    EXPECT_FALSE(msg.empty()) << "flip at " << i << " accepted";
    if (i >= data_offset && msg.find("padding") == std::string::npos) {
      EXPECT_NE(msg.find("checksum mismatch"), std::string::npos) << msg;
    }
    // Without checksums: accepted or rejected, never a crash (run under ASan).
    error_of(bad, false);
  }
}

TEST(QasrFile, PreambleErrors) {
  const Sample s = make_sample();
  const std::string json = s.json();
  Bytes img = build(json, s.data);
  Bytes bad = img;
  bad[0] = 'X';
  EXPECT_ERROR(bad, "not a .qasr file (bad magic)");
  Preamble p;
  p.major = 2;
  p.minor = 1;
  EXPECT_ERROR(build(json, s.data, p), "format version 2.1 is newer than this reader supports (1.x)");
  p.major = 0;
  EXPECT_ERROR(build(json, s.data, p), "invalid format version 0.1");
  p = {};
  p.flags = 0x00010000;
  EXPECT_ERROR(build(json, s.data, p), "flags 0x00010000");
  p = {};
  p.flags = 0x00000001;  // compatible flag: ignored
  EXPECT_EQ(error_of(build(json, s.data, p)), "");
  p = {};
  p.file_size = static_cast<int64_t>(img.size()) + 1;
  EXPECT_ERROR(build(json, s.data, p), "file is truncated");
  p.file_size = static_cast<int64_t>(img.size()) - 1;
  EXPECT_ERROR(build(json, s.data, p), "1 unexpected bytes after its end");
  p = {};
  p.data_offset = static_cast<int64_t>(align_up(kPreambleSize + json.size(), 64) + 64);
  EXPECT_ERROR(build(json, s.data, p), "is not the first 64-byte boundary after the header");
  bad = img;
  put_le(bad, 16, uint64_t{1} << 62, 8);
  put_le(bad, 44, crc32(bad.data(), 44), 4);
  EXPECT_ERROR(bad, "header size 4611686018427387904 is invalid");
  bad = img;
  put_le(bad, 16, img.size(), 8);
  put_le(bad, 44, crc32(bad.data(), 44), 4);
  EXPECT_ERROR(bad, "extends past the end of the file");
  bad = img;
  bad[kPreambleSize + json.size()] = 1;
  EXPECT_ERROR(bad, "non-zero byte in the header padding");
  bad = img;
  bad[kPreambleSize + 5] ^= 0x20;
  EXPECT_ERROR(bad, "header checksum mismatch");
  bad = img;
  bad[20] ^= 0x01;
  EXPECT_ERROR(bad, "preamble checksum mismatch");
}

TEST(QasrFile, HeaderErrors) {
  const Sample s = make_sample();
  EXPECT_ERROR(build("{\"a\":", {}), "header JSON: unexpected end of text");
  EXPECT_ERROR(build("[1,2]", {}), "header must be a JSON object");
  EXPECT_ERROR(build(R"({"format_version":"1.0","tensors":[]})", {}), "$.model is missing");
  EXPECT_ERROR(build(R"({"format_version":"1.0","model":[],"tensors":[]})", {}), "'model' must be an object");
  EXPECT_ERROR(build(R"({"format_version":"1.0","model":{"family":1},"tensors":[]})", {}),
               "$.model.family must be a string");
  EXPECT_ERROR(build(R"({"format_version":"1.1","model":{"family":"t"},"tensors":[]})", {}),
               "format_version '1.1' differs from the preamble's 1.0");
  EXPECT_ERROR(build(R"({"format_version":"1.0","model":{"family":"t"},"tensors":[],"tokenizer":3})", {}),
               "'tokenizer' must be an object");
  EXPECT_ERROR(build(R"({"format_version":"1.0","model":{"family":"t"},"tensors":{}})", {}),
               "$.tensors must be an array");
  EXPECT_EQ(error_of(build(R"({"format_version":"1.0","model":{"family":"t"},"tensors":[]})", {})), "");
  EXPECT_ERROR(build(R"({"format_version":"1.0","model":{"family":"t"},"tensors":[]})", {1, 2}),
               "2 bytes after the header are not described by the tensor table");
  (void)s;
}

TEST(QasrFile, TensorEntryErrors) {
  const Sample s = make_sample();
  struct Case {
    std::string from, to, fragment;
  };
  const std::string ok = s.json();
  const Case cases[] = {
      {"\"offset\":64", "\"offset\":128", "tensor 'm': its bytes [128, 128 + 1216)"},
      {"\"offset\":64", "\"offset\":0", "tensor 'm': offset 0 overlaps tensor 'a', which ends at 40"},
      {"\"offset\":64", "\"offset\":32", "tensor 'm': offset 32 is not a multiple of 64"},
      {"\"offset\":64", "\"offset\":-64", "tensor 'm': offset -64 is negative"},
      {"\"offset\":64", "\"offset\":1e300", "tensor 'm': $.tensors[1].offset is out of the integer range"},
      {"\"offset\":64", "\"offset\":99999999999999999999", "tensor 'm': $.tensors[1].offset is out of the integer range"},
      {"\"nbytes\":40", "\"nbytes\":44", "tensor 'a': nbytes 44 does not match f32 [10] (needs 40)"},
      {"\"shape\":[10]", "\"shape\":[1099511627776,1099511627776,1099511627776]", "tensor 'a': shape [1099511627776, 1099511627776, 1099511627776] is too large (its size overflows)"},
      {"\"shape\":[10]", "\"shape\":[1099511627777]", "tensor 'a': shape dimension 1099511627777 is out of range"},
      {"\"shape\":[10]", "\"shape\":[-1]", "out of range"},
      {"\"shape\":[10]", "\"shape\":[1,1,1,1,1,1,1,1,1]", "at most 8"},
      {"\"shape\":[10]", "\"shape\":\"10\"", "$.tensors[0].shape must be an array"},
      {"\"shape\":[20,40]", "\"shape\":[20,40,1]", "tensor 'm': a packed matrix needs a 2-D shape"},
      {"\"shape\":[20,40]", "\"shape\":[1099511627776,1099511627776]", "tensor 'm': packed matrix size overflows"},
      {"\"format\":\"q4a\"", "\"format\":\"q3\"", "tensor 'm': unknown weight format 'q3'"},
      {"\"group\":32", "\"group\":16", "tensor 'm': group 16 is not supported for q4a"},
      {"\"group\":32", "\"group\":4294967328", "tensor 'm': group 4294967328 is not supported"},
      {"\"dtype\":\"f32\"", "\"dtype\":\"f64\"", "tensor 'a': unknown dtype 'f64'"},
      {"\"dtype\":\"f32\"", "\"dtype\":\"f32\",\"packed\":{}", "tensor 'a': must have exactly one of"},
      {"\"dtype\":\"f32\",", "", "tensor 'a': must have exactly one of"},
      {"\"name\":\"a\"", "\"name\":\"m\"", "tensor 'm': duplicate name (tensors #0 and #1)"},
      {"\"name\":\"a\"", "\"name\":\"\"", "tensor #0: name must be"},
      {"\"name\":\"a\"", "\"name\":\"a\\u0000b\"", "tensor #0: name must be"},
      {"\"name\":\"a\"", "\"name\":[]", "tensor #0: 'name' must be a string"},
      {"\"crc32\":\"", "\"crc32\":\"X", "crc32 must be 8 lowercase hex digits"},
  };
  for (const Case& c : cases) {
    std::string json = ok;
    const size_t at = json.find(c.from);
    ASSERT_NE(at, std::string::npos) << c.from;
    json.replace(at, c.from.size(), c.to);
    EXPECT_ERROR(build(json, s.data), c.fragment);
  }
  // A gap: the data has room, but the tensor is not where the layout puts it.
  Bytes data = s.data;
  data.insert(data.begin() + 64, 64, 0);
  EXPECT_ERROR(build(s.json("", "128"), data), "tensor 'm': offset 128 leaves a gap after tensor 'a' (expected offset 64");
  // Non-object entry.
  std::string json = ok;
  json.replace(json.find("]}"), 2, ",5]}");
  EXPECT_ERROR(build(json, s.data), "tensor #2: entry must be an object");
  // Unknown members are ignored (minor-version additions).
  EXPECT_EQ(error_of(build(s.json(",\"future\":{\"x\":1}"), s.data)), "");
}

TEST(QasrFile, PackedValues) {
  Sample s = make_sample();
  const PackedLayout l = PackedLayout::make(WeightFormat::Q4A, 20, 40, 32);
  {
    Sample t = make_sample();
    t.packed.data()[l.scales_offset + 2 * 3 + 1] = 0x7c;  // row 3, group 0: +inf
    t.packed.data()[l.scales_offset + 2 * 3] = 0x00;
    std::memcpy(t.data.data() + 64, t.packed.data(), t.packed.size());
    EXPECT_ERROR(build(t.json(), t.data), "tensor 'm': scale of row 3, group 0 is not finite (f16 0x7c00)");
  }
  {
    Sample t = make_sample();
    t.packed.data()[l.zeros_offset + 16 * 2 + 1] = 200;  // panel 1, group 0, row 17
    std::memcpy(t.data.data() + 64, t.packed.data(), t.packed.size());
    EXPECT_ERROR(build(t.json(), t.data), "tensor 'm': zero point 200 of row 17, group 0 is outside [0, 15]");
  }
  {
    Sample t = make_sample();
    t.packed.data()[l.zeros_offset + 16 * 2 + 9] = 200;  // panel 1, row 25: padding, not checked
    std::memcpy(t.data.data() + 64, t.packed.data(), t.packed.size());
    EXPECT_EQ(error_of(build(t.json(), t.data)), "");
  }
  (void)s;
}

TEST(QasrFile, OpensFilesByPath) {
  const Sample s = make_sample();
  const Bytes img = build(s.json(), s.data);
  char dir[] = "/tmp/qasr_test_XXXXXX";
  ASSERT_NE(mkdtemp(dir), nullptr);
  const std::string path = std::string(dir) + "/m.qasr";
  {
    std::ofstream out(path, std::ios::binary);
    out.write(reinterpret_cast<const char*>(img.data()), static_cast<std::streamsize>(img.size()));
  }
  {
    const auto f = QasrFile::open(path);
    EXPECT_EQ(f->source(), path);
    EXPECT_EQ(reinterpret_cast<uintptr_t>(f->tensor("m").data) % 64, 0u);
    EXPECT_EQ(std::memcmp(f->matrix("m").data, s.packed.data(), s.packed.size()), 0);
  }
  auto message = [](const std::string& p) {
    try {
      QasrFile::open(p);
    } catch (const InvalidInput& e) {
      return std::string(e.what());
    }
    return std::string();
  };
  {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out.write(reinterpret_cast<const char*>(img.data()), 100);
  }
  EXPECT_EQ(message(path).rfind(path + ": file is truncated", 0), 0u) << message(path);
  { std::ofstream out(path, std::ios::binary | std::ios::trunc); }
  EXPECT_EQ(message(path), path + ": file is empty");
  EXPECT_EQ(message(dir), std::string(dir) + ": not a regular file");
  std::remove(path.c_str());
  EXPECT_EQ(message(path).rfind(path + ": cannot open: ", 0), 0u) << message(path);
  rmdir(dir);
}

}  // namespace
}  // namespace qasr
