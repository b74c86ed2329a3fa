#include "decode/tokenizer.h"

#include "common/error.h"

namespace qasr {
namespace {

const std::string kWordStart = "\xE2\x96\x81";  // U+2581

bool is_byte_piece(const std::string& p, int* value) {
  if (p.size() != 6 || p.compare(0, 3, "<0x") != 0 || p[5] != '>') return false;
  int v = 0;
  for (int i = 3; i < 5; ++i) {
    const char c = p[i];
    int d;
    if (c >= '0' && c <= '9') d = c - '0';
    else if (c >= 'A' && c <= 'F') d = c - 'A' + 10;
    else if (c >= 'a' && c <= 'f') d = c - 'a' + 10;
    else return false;
    v = v * 16 + d;
  }
  *value = v;
  return true;
}

bool is_control_piece(const std::string& p) { return p.size() > 2 && p.front() == '<' && p.back() == '>'; }

std::string replace_all(std::string s, const std::string& from, const std::string& to) {
  size_t pos = 0;
  while ((pos = s.find(from, pos)) != std::string::npos) {
    s.replace(pos, from.size(), to);
    pos += to.size();
  }
  return s;
}

}  // namespace

Tokenizer::Tokenizer(std::vector<std::string> pieces, const std::string& kind, int blank,
                     const std::string& word_boundary)
    : pieces_(std::move(pieces)), blank_(blank) {
  if (kind == "char") {
    kind_ = Kind::Char;
  } else if (kind == "sentencepiece" || kind == "spm") {
    kind_ = Kind::SentencePiece;
  } else {
    invalid("tokenizer: unknown kind '" + kind + "' (char or sentencepiece)");
  }
  if (pieces_.empty()) invalid("tokenizer: the vocabulary is empty");
  if (pieces_.size() > (1u << 24)) invalid("tokenizer: vocabulary of " + std::to_string(pieces_.size()) + " pieces");
  if (blank < 0 || blank >= size()) {
    invalid("tokenizer: blank id " + std::to_string(blank) + " outside the vocabulary of " + std::to_string(size()));
  }
  text_.resize(pieces_.size());
  starts_word_.assign(pieces_.size(), false);
  for (int i = 0; i < size(); ++i) {
    const std::string& p = pieces_[i];
    ids_.emplace(p, i);
    if (i == blank_) continue;
    int byte;
    if (kind_ == Kind::SentencePiece && is_byte_piece(p, &byte)) {
      text_[i] = std::string(1, static_cast<char>(byte));
    } else if (is_control_piece(p)) {
      // no text
    } else if (kind_ == Kind::Char) {
      const bool boundary = p == " " || (!word_boundary.empty() && p == word_boundary);
      text_[i] = boundary ? " " : p;
      starts_word_[i] = boundary;
    } else {
      text_[i] = replace_all(p, kWordStart, " ");
      starts_word_[i] = p.compare(0, kWordStart.size(), kWordStart) == 0;
    }
  }
}

const std::string& Tokenizer::piece(int id) const {
  if (id < 0 || id >= size()) {
    invalid("tokenizer: token id " + std::to_string(id) + " outside [0, " + std::to_string(size()) + ")");
  }
  return pieces_[id];
}

int Tokenizer::id(const std::string& p) const {
  auto it = ids_.find(p);
  return it == ids_.end() ? -1 : it->second;
}

bool Tokenizer::starts_word(int id) const {
  piece(id);  // range check
  return starts_word_[id];
}

std::string Tokenizer::decode(const std::vector<int>& ids) const {
  std::string raw;
  for (int id : ids) {
    piece(id);  // range check
    raw += text_[id];
  }
  raw = sanitize_utf8(raw);
  // Collapse whitespace runs and trim.
  std::string out;
  out.reserve(raw.size());
  bool space = false;
  for (char c : raw) {
    if (c == ' ' || c == '\t' || c == '\n' || c == '\r') {
      space = !out.empty();
      continue;
    }
    if (space) out += ' ';
    space = false;
    out += c;
  }
  return out;
}

std::string sanitize_utf8(const std::string& s) {
  static const char* kReplacement = "\xEF\xBF\xBD";
  std::string out;
  out.reserve(s.size());
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  const size_t n = s.size();
  size_t i = 0;
  while (i < n) {
    const unsigned char c = p[i];
    int len = 0;
    uint32_t cp = 0;
    if (c < 0x80) {
      len = 1;
      cp = c;
    } else if ((c & 0xE0) == 0xC0) {
      len = 2;
      cp = c & 0x1F;
    } else if ((c & 0xF0) == 0xE0) {
      len = 3;
      cp = c & 0x0F;
    } else if ((c & 0xF8) == 0xF0) {
      len = 4;
      cp = c & 0x07;
    }
    bool ok = len > 0 && i + len <= n;
    for (int k = 1; ok && k < len; ++k) {
      if ((p[i + k] & 0xC0) != 0x80) ok = false;
      else cp = (cp << 6) | (p[i + k] & 0x3F);
    }
    // Reject overlong forms, surrogates and values past U+10FFFF.
    if (ok && ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
               (cp >= 0xD800 && cp <= 0xDFFF) || cp > 0x10FFFF)) {
      ok = false;
    }
    if (ok) {
      out.append(s, i, len);
      i += len;
    } else {
      out += kReplacement;
      ++i;
    }
  }
  return out;
}

}  // namespace qasr
