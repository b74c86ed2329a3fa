#include "frontend/wav.h"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <new>

#include "common/error.h"

namespace qasr {
namespace {

// Random-access bytes: a file or a memory block.
class Source {
 public:
  virtual ~Source() = default;
  virtual uint64_t size() const = 0;
  // Reads n bytes at offset; the caller stays within size().
  virtual void read(uint64_t offset, size_t n, uint8_t* dst) = 0;
};

class MemorySource : public Source {
 public:
  MemorySource(const uint8_t* data, size_t size) : data_(data), size_(size) {}
  uint64_t size() const override { return size_; }
  void read(uint64_t offset, size_t n, uint8_t* dst) override {
    if (n) std::memcpy(dst, data_ + offset, n);
  }

 private:
  const uint8_t* data_;
  size_t size_;
};

class FileSource : public Source {
 public:
  explicit FileSource(const std::string& path) : path_(path), f_(path, std::ios::binary) {
    if (!f_) invalid(path + ": cannot open the file (" + std::strerror(errno) + ")");
    f_.seekg(0, std::ios::end);
    const std::streamoff end = f_.tellg();
    if (end < 0) invalid(path + ": cannot determine the file size (not a regular file?)");
    size_ = static_cast<uint64_t>(end);
  }
  uint64_t size() const override { return size_; }
  void read(uint64_t offset, size_t n, uint8_t* dst) override {
    f_.clear();
    f_.seekg(static_cast<std::streamoff>(offset));
    f_.read(reinterpret_cast<char*>(dst), static_cast<std::streamsize>(n));
    if (static_cast<size_t>(f_.gcount()) != n) {
      invalid(path_ + ": read error at byte " + std::to_string(offset) + " (file changed while reading?)");
    }
  }

 private:
  std::string path_;
  std::ifstream f_;
  uint64_t size_ = 0;
};

inline uint16_t le16(const uint8_t* p) { return static_cast<uint16_t>(p[0] | (p[1] << 8)); }
inline uint32_t le32(const uint8_t* p) {
  return static_cast<uint32_t>(p[0]) | (static_cast<uint32_t>(p[1]) << 8) | (static_cast<uint32_t>(p[2]) << 16) |
         (static_cast<uint32_t>(p[3]) << 24);
}

std::string fourcc(const uint8_t* p) {
  std::string s;
  for (int i = 0; i < 4; ++i) {
    const char c = static_cast<char>(p[i]);
    if (c >= 32 && c < 127) {
      s += c;
    } else {
      static const char* hex = "0123456789abcdef";
      s += "\\x";
      s += hex[p[i] >> 4];
      s += hex[p[i] & 15];
    }
  }
  return s;
}

struct Format {
  int tag = 0;  // 1 = PCM, 3 = IEEE float (after resolving EXTENSIBLE)
  int channels = 0;
  uint32_t sample_rate = 0;
  int block_align = 0;
  int container_bits = 0;
  int valid_bits = 0;
};

const char* tag_name(int tag) {
  switch (tag) {
    case 2: return "Microsoft ADPCM";
    case 6: return "A-law";
    case 7: return "mu-law";
    case 0x11: return "IMA ADPCM";
    case 0x31: return "GSM 6.10";
    case 0x50: return "MPEG";
    case 0x55: return "MP3";
    default: return "compressed or unknown";
  }
}

Format parse_fmt(const uint8_t* b, uint32_t size, const std::string& name) {
  if (size < 16) invalid(name + ": 'fmt ' chunk is " + std::to_string(size) + " bytes, needs at least 16");
  Format f;
  int tag = le16(b);
  f.channels = le16(b + 2);
  f.sample_rate = le32(b + 4);
  f.block_align = le16(b + 12);
  f.container_bits = le16(b + 14);
  f.valid_bits = f.container_bits;
  if (tag == 0xFFFE) {  // WAVE_FORMAT_EXTENSIBLE
    if (size < 40 || le16(b + 16) < 22) {
      invalid(name + ": WAVE_FORMAT_EXTENSIBLE 'fmt ' chunk is too short (" + std::to_string(size) + " bytes)");
    }
    const int valid = le16(b + 18);
    if (valid != 0) f.valid_bits = valid;
    static const uint8_t kGuidTail[14] = {0x00, 0x00, 0x00, 0x00, 0x10, 0x00, 0x80,
                                          0x00, 0x00, 0xAA, 0x00, 0x38, 0x9B, 0x71};
    if (std::memcmp(b + 24 + 2, kGuidTail, 14) != 0) {
      invalid(name + ": WAVE_FORMAT_EXTENSIBLE with a non-standard sub-format GUID is not supported");
    }
    tag = le16(b + 24);
  }
  if (tag != 1 && tag != 3) {
    invalid(name + ": WAV format tag " + std::to_string(tag) + " (" + tag_name(tag) +
            ") is not supported; only PCM integer and IEEE float samples are");
  }
  f.tag = tag;
  if (f.channels < 1 || f.channels > 256) {
    invalid(name + ": " + std::to_string(f.channels) + " channels (must be 1 to 256)");
  }
  if (f.sample_rate < 1 || f.sample_rate > 1000000) {
    invalid(name + ": sample rate " + std::to_string(f.sample_rate) + " Hz is out of range [1, 1000000]");
  }
  const int cb = f.container_bits;
  if (tag == 1 && cb != 8 && cb != 16 && cb != 24 && cb != 32) {
    invalid(name + ": " + std::to_string(cb) + "-bit PCM is not supported (8, 16, 24 or 32 bits)");
  }
  if (tag == 3 && cb != 32 && cb != 64) {
    invalid(name + ": " + std::to_string(cb) + "-bit float is not supported (32 or 64 bits)");
  }
  if (f.valid_bits > cb) {
    invalid(name + ": " + std::to_string(f.valid_bits) + " valid bits in a " + std::to_string(cb) + "-bit container");
  }
  if (f.block_align != f.channels * (cb / 8)) {
    invalid(name + ": block_align " + std::to_string(f.block_align) + " does not match " +
            std::to_string(f.channels) + " channels of " + std::to_string(cb) + " bits");
  }
  return f;
}

inline float decode_sample(const uint8_t* p, const Format& f) {
  if (f.tag == 3) {
    if (f.container_bits == 32) {
      const uint32_t u = le32(p);
      float v;
      std::memcpy(&v, &u, 4);
      return v;
    }
    const uint64_t u = static_cast<uint64_t>(le32(p)) | (static_cast<uint64_t>(le32(p + 4)) << 32);
    double v;
    std::memcpy(&v, &u, 8);
    return static_cast<float>(v);
  }
  switch (f.container_bits) {
    case 8: return static_cast<float>(static_cast<int>(p[0]) - 128) * (1.0f / 128.0f);
    case 16: return static_cast<float>(static_cast<int16_t>(le16(p))) * (1.0f / 32768.0f);
    case 24: {
      const int32_t v = static_cast<int32_t>(static_cast<uint32_t>(p[0]) << 8 | static_cast<uint32_t>(p[1]) << 16 |
                                             static_cast<uint32_t>(p[2]) << 24) >> 8;
      return static_cast<float>(v) * (1.0f / 8388608.0f);
    }
    default:
      return static_cast<float>(static_cast<double>(static_cast<int32_t>(le32(p))) * (1.0 / 2147483648.0));
  }
}

Audio parse(Source& src, const std::string& name) {
  const uint64_t size = src.size();
  if (size == 0) invalid(name + ": the file is empty (0 bytes)");
  if (size < 12) invalid(name + ": " + std::to_string(size) + " bytes is too short for a RIFF/WAVE header");
  uint8_t h[12];
  src.read(0, 12, h);
  if (std::memcmp(h, "RIFF", 4) != 0) {
    if (std::memcmp(h, "RIFX", 4) == 0) invalid(name + ": big-endian WAV (RIFX) is not supported");
    if (std::memcmp(h, "RF64", 4) == 0) invalid(name + ": RF64 WAV is not supported (use soundfile)");
    invalid(name + ": not a WAV file (starts with '" + fourcc(h) + "', expected 'RIFF')");
  }
  if (std::memcmp(h + 8, "WAVE", 4) != 0) {
    invalid(name + ": RIFF file of type '" + fourcc(h + 8) + "', not WAVE");
  }

  Audio audio;
  Format fmt;
  bool have_fmt = false, have_data = false;
  uint64_t data_offset = 0, data_size = 0;
  uint64_t pos = 12;
  std::string cut;  // a chunk that runs past the end of the file, if any
  while (pos + 8 <= size) {
    uint8_t ch[8];
    src.read(pos, 8, ch);
    const uint32_t csize = le32(ch + 4);
    const uint64_t body = pos + 8;
    const uint64_t remain = size - body;
    if (std::memcmp(ch, "fmt ", 4) == 0) {
      if (have_fmt) invalid(name + ": more than one 'fmt ' chunk");
      if (csize > remain) {
        invalid(name + ": 'fmt ' chunk claims " + std::to_string(csize) + " bytes but the file ends after " +
                std::to_string(remain));
      }
      uint8_t fb[40] = {0};
      src.read(body, std::min<uint32_t>(csize, 40), fb);
      fmt = parse_fmt(fb, csize, name);
      have_fmt = true;
    } else if (std::memcmp(ch, "data", 4) == 0 && !have_data) {
      have_data = true;
      data_offset = body;
      data_size = csize;
      if (csize > remain) {
        audio.warnings.push_back(name + ": 'data' chunk claims " + std::to_string(csize) + " bytes but only " +
                                 std::to_string(remain) + " follow; the file is truncated (or its writer never "
                                 "set the size); reading the bytes present");
        data_size = remain;
      }
      if (csize == 0 && remain >= 8) {
        audio.warnings.push_back(name + ": 'data' chunk declares 0 bytes but " + std::to_string(remain) +
                                 " bytes follow it; reading no samples (a streaming writer may have left the "
                                 "size unset)");
      }
      if (have_fmt) break;  // everything needed; the size may not be trustworthy for seeking on
    }
    const uint64_t next = body + static_cast<uint64_t>(csize) + (csize & 1u);
    if (next > size) {
      cut = " (chunk '" + fourcc(ch) + "' at byte " + std::to_string(pos) + " claims " + std::to_string(csize) +
            " bytes, past the end of the file)";
      break;
    }
    pos = next;
  }
  if (!have_fmt) invalid(name + ": no 'fmt ' chunk (not a valid WAV file, or truncated header)" + cut);
  if (!have_data) invalid(name + ": no 'data' chunk (no audio, or the file is truncated)" + cut);

  audio.sample_rate = static_cast<int>(fmt.sample_rate);
  audio.channels = fmt.channels;
  audio.bits_per_sample = fmt.valid_bits;
  audio.is_float = fmt.tag == 3;
  const uint64_t frames = data_size / static_cast<uint64_t>(fmt.block_align);
  if (data_size % static_cast<uint64_t>(fmt.block_align) != 0) {
    audio.warnings.push_back(name + ": 'data' ends with a partial sample frame (" +
                             std::to_string(data_size % fmt.block_align) + " bytes); it was dropped");
  }
  try {
    audio.samples.resize(static_cast<size_t>(frames));
  } catch (const std::bad_alloc&) {
    fail(name + ": " + std::to_string(frames) + " samples do not fit in memory");
  }
  const int bytes_per_sample = fmt.container_bits / 8;
  const uint64_t chunk_frames = std::max<uint64_t>(1, (1u << 16) / static_cast<uint64_t>(fmt.block_align));
  std::vector<uint8_t> buf(static_cast<size_t>(chunk_frames * fmt.block_align));
  for (uint64_t f0 = 0; f0 < frames; f0 += chunk_frames) {
    const uint64_t nf = std::min(chunk_frames, frames - f0);
    src.read(data_offset + f0 * fmt.block_align, static_cast<size_t>(nf * fmt.block_align), buf.data());
    for (uint64_t i = 0; i < nf; ++i) {
      const uint8_t* p = buf.data() + i * fmt.block_align;
      if (fmt.channels == 1) {
        audio.samples[f0 + i] = decode_sample(p, fmt);
      } else {
        double sum = 0.0;
        for (int c = 0; c < fmt.channels; ++c) sum += decode_sample(p + c * bytes_per_sample, fmt);
        audio.samples[f0 + i] = static_cast<float>(sum / fmt.channels);
      }
    }
  }
  return audio;
}

}  // namespace

Audio read_wav(const std::string& path) {
  FileSource src(path);
  return parse(src, path);
}

Audio parse_wav(const uint8_t* data, size_t size, const std::string& name) {
  MemorySource src(data, size);
  return parse(src, name);
}

void validate_samples(const float* samples, size_t n, const std::string& what, int sample_rate) {
  for (size_t i = 0; i < n; ++i) {
    if (!std::isfinite(samples[i])) {
      std::string where = "sample " + std::to_string(i);
      if (sample_rate > 0) {
        char t[48];
        std::snprintf(t, sizeof t, " (at %.3f s)", static_cast<double>(i) / sample_rate);
        where += t;
      }
      const char* kind = std::isnan(samples[i]) ? "NaN" : (samples[i] > 0 ? "+Inf" : "-Inf");
      invalid(what + ": " + where + " is " + kind + "; audio samples must be finite");
    }
  }
}

}  // namespace qasr
