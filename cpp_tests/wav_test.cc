// The WAV reader on files built byte by byte: every supported encoding,
// chunk layouts, lying sizes and malformed headers; validate_samples.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

#include "common/error.h"
#include "frontend/wav.h"

namespace qasr {
namespace {

using Bytes = std::vector<uint8_t>;

void put16(Bytes& b, uint32_t v) {
  b.push_back(v & 0xFF);
  b.push_back((v >> 8) & 0xFF);
}
void put32(Bytes& b, uint32_t v) {
  put16(b, v & 0xFFFF);
  put16(b, v >> 16);
}
void put_tag(Bytes& b, const char* t) { b.insert(b.end(), t, t + 4); }

struct Spec {
  int tag = 1;  // 1 PCM, 3 float, 0xFFFE extensible
  int sub = 1;  // extensible sub-format
  int channels = 1;
  uint32_t rate = 16000;
  int bits = 16;
  int valid_bits = 0;  // extensible only
};

Bytes fmt_chunk(const Spec& s) {
  Bytes b;
  put_tag(b, "fmt ");
  const bool ext = s.tag == 0xFFFE;
  put32(b, ext ? 40 : 16);
  put16(b, s.tag);
  put16(b, s.channels);
  put32(b, s.rate);
  put32(b, s.rate * s.channels * s.bits / 8);
  put16(b, s.channels * s.bits / 8);
  put16(b, s.bits);
  if (ext) {
    put16(b, 22);
    put16(b, s.valid_bits ? s.valid_bits : s.bits);
    put32(b, 0);
    put16(b, s.sub);
    const uint8_t tail[14] = {0x00, 0x00, 0x00, 0x00, 0x10, 0x00, 0x80, 0x00, 0x00, 0xAA, 0x00, 0x38, 0x9B, 0x71};
    b.insert(b.end(), tail, tail + 14);
  }
  return b;
}

Bytes riff(const std::vector<Bytes>& chunks) {
  Bytes body;
  put_tag(body, "WAVE");
  for (const auto& c : chunks) body.insert(body.end(), c.begin(), c.end());
  Bytes b;
  put_tag(b, "RIFF");
  put32(b, static_cast<uint32_t>(body.size()));
  b.insert(b.end(), body.begin(), body.end());
  return b;
}

Bytes chunk(const char* id, const Bytes& payload, int64_t claimed = -1) {
  Bytes b;
  put_tag(b, id);
  put32(b, claimed < 0 ? static_cast<uint32_t>(payload.size()) : static_cast<uint32_t>(claimed));
  b.insert(b.end(), payload.begin(), payload.end());
  if (payload.size() % 2) b.push_back(0);
  return b;
}

Audio parse(const Bytes& b) { return parse_wav(b.data(), b.size(), "test.wav"); }

std::string error_of(const Bytes& b) {
  try {
    parse(b);
  } catch (const InvalidInput& e) {
    return e.what();
  }
  return "";
}

TEST(Wav, Pcm16Mono) {
  Bytes d;
  for (int v : {0, 1, -1, 32767, -32768, 16384}) put16(d, static_cast<uint16_t>(v));
  const Audio a = parse(riff({fmt_chunk({}), chunk("data", d)}));
  EXPECT_EQ(a.sample_rate, 16000);
  EXPECT_EQ(a.channels, 1);
  EXPECT_EQ(a.bits_per_sample, 16);
  EXPECT_TRUE(a.warnings.empty());
  const std::vector<float> want = {0.0f, 1 / 32768.0f, -1 / 32768.0f, 32767 / 32768.0f, -1.0f, 0.5f};
  EXPECT_EQ(a.samples, want);
}

TEST(Wav, AllEncodingsDecodeTheSameValues) {
  const std::vector<double> v = {0.0, 0.5, -0.5, -1.0, 0.25, 0.999};
  auto check = [&](const Spec& s, const Bytes& d, double tol) {
    const Audio a = parse(riff({fmt_chunk(s), chunk("data", d)}));
    ASSERT_EQ(a.samples.size(), v.size());
    for (size_t i = 0; i < v.size(); ++i) EXPECT_NEAR(a.samples[i], v[i], tol) << s.bits << " bits tag " << s.tag;
  };
  Bytes d8, d24, d32, f32, f64;
  for (double x : v) {
    d8.push_back(static_cast<uint8_t>(std::lround(x * 128) + 128 > 255 ? 255 : std::lround(x * 128) + 128));
    const int32_t i24 = static_cast<int32_t>(std::lround(x * 8388608.0 > 8388607 ? 8388607 : x * 8388608.0));
    d24.push_back(i24 & 0xFF);
    d24.push_back((i24 >> 8) & 0xFF);
    d24.push_back((i24 >> 16) & 0xFF);
    const double s32 = x * 2147483648.0 > 2147483647.0 ? 2147483647.0 : x * 2147483648.0;
    put32(d32, static_cast<uint32_t>(static_cast<int32_t>(std::llround(s32))));
    float f = static_cast<float>(x);
    uint32_t u;
    std::memcpy(&u, &f, 4);
    put32(f32, u);
    uint64_t u64;
    std::memcpy(&u64, &x, 8);
    put32(f64, static_cast<uint32_t>(u64));
    put32(f64, static_cast<uint32_t>(u64 >> 32));
  }
  check({1, 1, 1, 16000, 8}, d8, 1.0 / 128);
  check({1, 1, 1, 16000, 24}, d24, 1e-6);
  check({1, 1, 1, 16000, 32}, d32, 1e-7);
  check({3, 1, 1, 16000, 32}, f32, 2e-8);  // float32 rounding of the reference values
  check({3, 1, 1, 16000, 64}, f64, 1e-7);
  check({0xFFFE, 1, 1, 16000, 24}, d24, 1e-6);
  check({0xFFFE, 3, 1, 16000, 32}, f32, 2e-8);
  // 24 valid bits left-justified in 32-bit containers.
  Bytes d24in32;
  for (size_t i = 0; i < d24.size(); i += 3) {
    d24in32.push_back(0);
    d24in32.insert(d24in32.end(), d24.begin() + i, d24.begin() + i + 3);
  }
  check({0xFFFE, 1, 1, 16000, 32, 24}, d24in32, 1e-6);
}

TEST(Wav, ChannelsAreAveraged) {
  Bytes d;
  for (int v : {16384, -16384, 32767, 32767, 0, 8192}) put16(d, static_cast<uint16_t>(static_cast<int16_t>(v)));
  Spec s;
  s.channels = 2;
  const Audio a = parse(riff({fmt_chunk(s), chunk("data", d)}));
  EXPECT_EQ(a.channels, 2);
  ASSERT_EQ(a.samples.size(), 3u);
  EXPECT_FLOAT_EQ(a.samples[0], 0.0f);
  EXPECT_FLOAT_EQ(a.samples[1], 32767 / 32768.0f);
  EXPECT_FLOAT_EQ(a.samples[2], 0.125f);
  s.channels = 3;  // odd channel counts work the same way
  Bytes d3;
  for (int v : {3000, 6000, 9000}) put16(d3, v);
  const Audio b = parse(riff({fmt_chunk(s), chunk("data", d3)}));
  ASSERT_EQ(b.samples.size(), 1u);
  EXPECT_FLOAT_EQ(b.samples[0], 6000 / 32768.0f);
}

TEST(Wav, SkipsUnknownAndOddChunks) {
  Bytes d;
  put16(d, 1000);
  const Bytes odd = {'a', 'b', 'c'};  // odd size, padded by a zero byte
  const Audio a = parse(riff({chunk("LIST", odd), fmt_chunk({}), chunk("fact", {1, 2, 3, 4}), chunk("junk", odd),
                              chunk("data", d), chunk("id3 ", odd)}));
  ASSERT_EQ(a.samples.size(), 1u);
  EXPECT_FLOAT_EQ(a.samples[0], 1000 / 32768.0f);
  EXPECT_TRUE(a.warnings.empty());
  // fmt after data is found too.
  const Audio b = parse(riff({chunk("data", d), fmt_chunk({})}));
  ASSERT_EQ(b.samples.size(), 1u);
}

TEST(Wav, DataSizeLargerThanFileIsClampedWithAWarning) {
  Bytes d;
  for (int i = 0; i < 10; ++i) put16(d, i * 100);
  for (uint32_t claimed : {1000u, 0xFFFFFFFFu}) {
    const Audio a = parse(riff({fmt_chunk({}), chunk("data", d, claimed)}));
    EXPECT_EQ(a.samples.size(), 10u);
    ASSERT_EQ(a.warnings.size(), 1u);
    EXPECT_NE(a.warnings[0].find("truncated"), std::string::npos) << a.warnings[0];
  }
  // A partial sample frame at the end is dropped, also with a warning.
  Bytes d2 = d;
  d2.push_back(7);
  Bytes file = riff({fmt_chunk({}), chunk("data", d2, 1001)});
  file.pop_back();  // no pad byte: the file ends inside a sample frame
  const Audio b = parse(file);
  EXPECT_EQ(b.samples.size(), 10u);
  EXPECT_EQ(b.warnings.size(), 2u);
}

TEST(Wav, EmptyDataIsValidAndEmpty) {
  const Audio a = parse(riff({fmt_chunk({}), chunk("data", {})}));
  EXPECT_TRUE(a.samples.empty());
  EXPECT_TRUE(a.warnings.empty());
  EXPECT_EQ(a.sample_rate, 16000);
  // Declared empty with bytes after it: still empty, but said so.
  Bytes d(64, 1);
  Bytes file = riff({fmt_chunk({}), chunk("data", {})});
  file.insert(file.end(), d.begin(), d.end());
  const Audio b = parse(file);
  EXPECT_TRUE(b.samples.empty());
  ASSERT_EQ(b.warnings.size(), 1u);
  EXPECT_NE(b.warnings[0].find("declares 0 bytes"), std::string::npos);
}

TEST(Wav, MalformedFilesGiveClearErrors) {
  Bytes d;
  put16(d, 1);
  const Bytes good = riff({fmt_chunk({}), chunk("data", d)});
  auto expect = [](const Bytes& b, const std::string& needle) {
    const std::string e = error_of(b);
    EXPECT_NE(e.find("test.wav"), std::string::npos) << e;
    EXPECT_NE(e.find(needle), std::string::npos) << "wanted '" << needle << "' in: " << e;
  };
  expect({}, "empty");
  expect(Bytes(good.begin(), good.begin() + 7), "too short");
  Bytes b = good;
  std::memcpy(b.data(), "RIFX", 4);
  expect(b, "RIFX");
  std::memcpy(b.data(), "RF64", 4);
  expect(b, "RF64");
  std::memcpy(b.data(), "OggS", 4);
  expect(b, "not a WAV");
  b = good;
  std::memcpy(b.data() + 8, "AVI ", 4);
  expect(b, "not WAVE");
  expect(riff({chunk("data", d)}), "no 'fmt '");
  expect(riff({fmt_chunk({})}), "no 'data'");
  expect(Bytes(good.begin(), good.begin() + 30), "'fmt ' chunk claims");  // truncated inside fmt
  expect(riff({chunk("fmt ", {1, 0, 1, 0}), chunk("data", d)}), "needs at least 16");
  Spec s;
  s.tag = 6;
  s.bits = 8;
  expect(riff({fmt_chunk(s), chunk("data", d)}), "A-law");
  s = Spec();
  s.channels = 0;
  expect(riff({fmt_chunk(s), chunk("data", d)}), "channels");
  s = Spec();
  s.rate = 0;
  expect(riff({fmt_chunk(s), chunk("data", d)}), "sample rate");
  s.rate = 5000000;
  expect(riff({fmt_chunk(s), chunk("data", d)}), "sample rate");
  s = Spec();
  s.bits = 12;
  expect(riff({fmt_chunk(s), chunk("data", d)}), "12-bit PCM");
  s = Spec();
  s.tag = 3;
  s.bits = 16;
  expect(riff({fmt_chunk(s), chunk("data", d)}), "16-bit float");
  s = Spec();
  s.tag = 0xFFFE;
  s.bits = 16;
  s.valid_bits = 20;
  expect(riff({fmt_chunk(s), chunk("data", d)}), "valid bits");
  Bytes f = fmt_chunk({});
  f[8 + 12] = 7;  // block_align
  expect(riff({f, chunk("data", d)}), "block_align");
  expect(riff({fmt_chunk({}), fmt_chunk({}), chunk("data", d)}), "more than one");
  expect(riff({chunk("LIST", {1, 2}, 0xFFFFFFF0u), fmt_chunk({}), chunk("data", d)}),
         "chunk 'LIST' at byte 12 claims 4294967280 bytes, past the end");
}

TEST(Wav, EveryTruncationIsHandled) {
  // Any prefix of a valid file is either read (possibly clamped) or rejected
  // with InvalidInput; never anything else.
  Bytes d;
  for (int i = 0; i < 50; ++i) put16(d, i);
  Spec s;
  s.tag = 0xFFFE;
  const Bytes full = riff({chunk("LIST", {'x'}), fmt_chunk(s), chunk("data", d)});
  for (size_t n = 0; n <= full.size(); ++n) {
    try {
      const Audio a = parse_wav(full.data(), n, "test.wav");
      EXPECT_LE(a.samples.size(), 50u);
    } catch (const InvalidInput&) {
    }
  }
}

TEST(Wav, ReadsFilesAndNamesMissingOnes) {
  Bytes d;
  put16(d, 0x4000);
  const Bytes b = riff({fmt_chunk({}), chunk("data", d)});
  const std::string path = ::testing::TempDir() + "qasr_wav_test.wav";
  {
    std::ofstream f(path, std::ios::binary);
    f.write(reinterpret_cast<const char*>(b.data()), static_cast<std::streamsize>(b.size()));
  }
  const Audio a = read_wav(path);
  ASSERT_EQ(a.samples.size(), 1u);
  EXPECT_FLOAT_EQ(a.samples[0], 0.5f);
  std::remove(path.c_str());
  try {
    read_wav(path);
    FAIL() << "no error for a missing file";
  } catch (const InvalidInput& e) {
    EXPECT_NE(std::string(e.what()).find(path), std::string::npos);
  }
}

TEST(Wav, ValidateSamples) {
  std::vector<float> x(100, 0.1f);
  EXPECT_NO_THROW(validate_samples(x.data(), x.size(), "clip"));
  EXPECT_NO_THROW(validate_samples(nullptr, 0, "clip"));
  x[50] = NAN;
  try {
    validate_samples(x.data(), x.size(), "clip", 16000);
    FAIL();
  } catch (const InvalidInput& e) {
    const std::string m = e.what();
    EXPECT_NE(m.find("clip"), std::string::npos);
    EXPECT_NE(m.find("sample 50"), std::string::npos);
    EXPECT_NE(m.find("NaN"), std::string::npos);
  }
  x[50] = -INFINITY;
  EXPECT_THROW(validate_samples(x.data(), x.size(), "clip"), InvalidInput);
}

}  // namespace
}  // namespace qasr
