// Detokenization for byte-level BPE vocabularies (Whisper, GPT-2): every
// token id maps to the raw bytes it stands for; a sequence's text is the
// concatenation of its tokens' bytes, decoded as UTF-8.
//
// Usage:
//   qasr::ByteBpeDecoder dec(bytes, offsets, special_begin);  // from the .qasr tokenizer tensors
//   std::string raw = dec.bytes_of(ids);   // may end inside a character
//   std::string text = dec.decode(ids);    // valid UTF-8
//
// Ids >= special_begin (Whisper: <|endoftext|> and everything after it:
// control, language and timestamp tokens) produce nothing, as
// transformers' decode(skip_special_tokens=True) does for Whisper's output.
// Invalid UTF-8 becomes U+FFFD exactly as Python's
// bytes.decode("utf-8", errors="replace") does (one replacement per maximal
// invalid subsequence), so the text equals transformers' decode.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace qasr {

class ByteBpeDecoder {
 public:
  // `bytes`: all tokens' bytes end to end; `offsets`: vocab_size + 1
  // non-decreasing offsets into it, starting at 0 and ending at bytes.size().
  ByteBpeDecoder(std::vector<uint8_t> bytes, const std::vector<int32_t>& offsets, int special_begin);
  int size() const { return static_cast<int>(offsets_.size()) - 1; }
  int special_begin() const { return special_begin_; }
  // The bytes of one token (control tokens too); throws on an out-of-range id.
  std::string token_bytes(int id) const;
  std::string bytes_of(const std::vector<int>& ids) const;
  std::string decode(const std::vector<int>& ids) const;

 private:
  std::vector<uint8_t> bytes_;
  std::vector<int64_t> offsets_;
  int special_begin_;
};

// UTF-8 decoding with U+FFFD for each maximal invalid subsequence (Unicode's
// "substitution of maximal subparts", what Python's errors="replace" does).
std::string utf8_replace_invalid(const std::string& s);

}  // namespace qasr
