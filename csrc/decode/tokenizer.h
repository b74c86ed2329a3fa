// Token ids to text for CTC models whose vocabulary (a list of pieces) is
// stored in the model header.
//
// Usage:
//   qasr::Tokenizer tok(pieces, "sentencepiece");   // or "char"
//   std::string text = tok.decode(hyp.tokens);
//
// Kinds:
//  * "char": one piece per character (or short unit); the word boundary
//    piece (default "|", as in wav2vec2 vocabularies) and a literal " "
//    become spaces.
//  * "sentencepiece" (alias "spm"): pieces with U+2581 "▁" marking a word
//    start; "▁" becomes a space. Byte-fallback pieces "<0xHH>" contribute
//    the raw byte HH, so multi-byte characters split into bytes come back.
// Both: the blank id and control pieces written in angle brackets
// ("<unk>", "<s>", "</s>", "<sos/eos>", "<pad>", ...; anything of the form
// <...> longer than two characters that is not a byte piece) produce no
// text; whitespace runs collapse to one space and the ends are trimmed.
// Invalid UTF-8 (e.g. an incomplete byte-fallback sequence) is replaced by
// U+FFFD, so the result is always valid UTF-8.
#pragma once

#include <string>
#include <unordered_map>
#include <vector>

namespace qasr {

class Tokenizer {
 public:
  enum class Kind { Char, SentencePiece };

  Tokenizer(std::vector<std::string> pieces, const std::string& kind, int blank = 0,
            const std::string& word_boundary = "|");

  Kind kind() const { return kind_; }
  int blank() const { return blank_; }
  int size() const { return static_cast<int>(pieces_.size()); }
  const std::string& piece(int id) const;
  // The id of a piece, or -1 (the first one if a piece is listed twice).
  int id(const std::string& piece) const;
  std::string decode(const std::vector<int>& ids) const;
  // True when the token begins a new word (word boundary or "▁" prefix);
  // used to group token timestamps into words.
  bool starts_word(int id) const;

 private:
  // What a token contributes to the text ("" for blank and control pieces).
  std::vector<std::string> text_;
  std::vector<std::string> pieces_;
  std::vector<bool> starts_word_;
  std::unordered_map<std::string, int> ids_;
  Kind kind_;
  int blank_;
};

// Replaces invalid UTF-8 sequences with U+FFFD.
std::string sanitize_utf8(const std::string& s);

}  // namespace qasr
