#include "decode/byte_bpe.h"

#include "common/error.h"

namespace qasr {

ByteBpeDecoder::ByteBpeDecoder(std::vector<uint8_t> bytes, const std::vector<int32_t>& offsets, int special_begin)
    : bytes_(std::move(bytes)), special_begin_(special_begin) {
  if (offsets.size() < 2) invalid("byte BPE: the vocabulary is empty");
  if (offsets.front() != 0) invalid("byte BPE: offsets must start at 0");
  offsets_.reserve(offsets.size());
  for (size_t i = 0; i < offsets.size(); ++i) {
    if (i > 0 && offsets[i] < offsets[i - 1]) {
      invalid("byte BPE: offsets decrease at token " + std::to_string(i - 1));
    }
    offsets_.push_back(offsets[i]);
  }
  if (static_cast<size_t>(offsets_.back()) != bytes_.size()) {
    invalid("byte BPE: offsets end at " + std::to_string(offsets_.back()) + " but there are " +
            std::to_string(bytes_.size()) + " bytes");
  }
  if (special_begin < 0 || special_begin > size()) {
    invalid("byte BPE: special_begin " + std::to_string(special_begin) + " is outside the vocabulary of " +
            std::to_string(size()));
  }
}

std::string ByteBpeDecoder::token_bytes(int id) const {
  if (id < 0 || id >= size()) {
    invalid("byte BPE: token id " + std::to_string(id) + " is outside the vocabulary of " + std::to_string(size()));
  }
  return std::string(reinterpret_cast<const char*>(bytes_.data()) + offsets_[id],
                     static_cast<size_t>(offsets_[id + 1] - offsets_[id]));
}

std::string ByteBpeDecoder::bytes_of(const std::vector<int>& ids) const {
  std::string out;
  for (int id : ids) {
    if (id >= special_begin_ && id < size()) continue;
    out += token_bytes(id);
  }
  return out;
}

std::string ByteBpeDecoder::decode(const std::vector<int>& ids) const { return utf8_replace_invalid(bytes_of(ids)); }

std::string utf8_replace_invalid(const std::string& s) {
  static const char kReplacement[] = "\xEF\xBF\xBD";
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  const size_t n = s.size();
  std::string out;
  out.reserve(n);
  size_t i = 0;
  while (i < n) {
    const unsigned char c = p[i];
    if (c < 0x80) {
      out += static_cast<char>(c);
      ++i;
      continue;
    }
    int need;                          // continuation bytes
    unsigned char lo = 0x80, hi = 0xBF;  // allowed range of the first one
    if (c >= 0xC2 && c <= 0xDF) {
      need = 1;
    } else if (c >= 0xE0 && c <= 0xEF) {
      need = 2;
      if (c == 0xE0) lo = 0xA0;  // no overlong forms
      if (c == 0xED) hi = 0x9F;  // no surrogates
    } else if (c >= 0xF0 && c <= 0xF4) {
      need = 3;
      if (c == 0xF0) lo = 0x90;
      if (c == 0xF4) hi = 0x8F;  // <= U+10FFFF
    } else {  // 0x80..0xC1, 0xF5..0xFF never start a character
      out += kReplacement;
      ++i;
      continue;
    }
    size_t j = i + 1;
    int got = 0;
    while (got < need && j < n) {
      const unsigned char d = p[j];
      const bool ok = got == 0 ? (d >= lo && d <= hi) : (d >= 0x80 && d <= 0xBF);
      if (!ok) break;
      ++got;
      ++j;
    }
    if (got == need) {
      out.append(s, i, j - i);
    } else {
      out += kReplacement;  // the maximal subpart [i, j) is one error
    }
    i = j;
  }
  return out;
}

}  // namespace qasr
