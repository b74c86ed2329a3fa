#include "format/json.h"

#include <charconv>
#include <cmath>
#include <cstring>
#include <limits>
#include <system_error>

#include "common/error.h"

namespace qasr {

namespace {

constexpr int kMaxDepth = 64;
constexpr size_t kMaxValues = size_t{1} << 20;
constexpr size_t kMaxNumberChars = 100;
// Doubles represent every integer up to 2^53 exactly; beyond that an
// integer read through a double may have been rounded.
constexpr double kMaxExactDouble = 9007199254740992.0;

const char* type_name(Json::Type t) {
  switch (t) {
    case Json::Type::Null: return "null";
    case Json::Type::Bool: return "a boolean";
    case Json::Type::Number: return "a number";
    case Json::Type::String: return "a string";
    case Json::Type::Array: return "an array";
    case Json::Type::Object: return "an object";
  }
  return "?";
}

// Object keys in paths: plain identifiers as .key, anything else quoted.
std::string key_path(const std::string& parent, const std::string& key) {
  bool plain = !key.empty() && key.size() <= 64;
  for (char c : key) {
    const bool ascii_word = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                            c == '_' || c == '-';
    if (!ascii_word) plain = false;
  }
  if (plain) return parent + "." + key;
  std::string q = parent + "[\"";
  for (char c : key.substr(0, 64)) q += (static_cast<unsigned char>(c) < 0x20 || c == '"') ? '?' : c;
  if (key.size() > 64) q += "...";
  return q + "\"]";
}

}  // namespace

class JsonParser {
 public:
  JsonParser(const char* data, size_t size) : p_(data), begin_(data), end_(data + size) {}

  Json parse_document() {
    skip_ws();
    Json root;
    parse_value(root, "$", 0);
    skip_ws();
    if (p_ != end_) error("unexpected text after the JSON value");
    return root;
  }

 private:
  const char* p_;
  const char* begin_;
  const char* end_;
  size_t values_ = 0;

  [[noreturn]] void error(const std::string& what) const {
    invalid("JSON: " + what + " at byte " + std::to_string(p_ - begin_));
  }

  void skip_ws() {
    while (p_ < end_ && (*p_ == ' ' || *p_ == '\t' || *p_ == '\n' || *p_ == '\r')) ++p_;
  }

  void expect_literal(const char* lit) {
    const size_t n = std::strlen(lit);
    if (static_cast<size_t>(end_ - p_) < n || std::memcmp(p_, lit, n) != 0) error("invalid literal");
    p_ += n;
  }

  void parse_value(Json& out, const std::string& path, int depth) {
    if (depth >= kMaxDepth) error("nesting deeper than " + std::to_string(kMaxDepth) + " levels");
    if (++values_ > kMaxValues) error("more than " + std::to_string(kMaxValues) + " values");
    out.path_ = path;
    if (p_ >= end_) error("unexpected end of text");
    switch (*p_) {
      case '{': parse_object(out, path, depth); return;
      case '[': parse_array(out, path, depth); return;
      case '"':
        out.type_ = Json::Type::String;
        parse_string(out.string_);
        return;
      case 't':
        expect_literal("true");
        out.type_ = Json::Type::Bool;
        out.bool_ = true;
        return;
      case 'f':
        expect_literal("false");
        out.type_ = Json::Type::Bool;
        out.bool_ = false;
        return;
      case 'n':
        expect_literal("null");
        out.type_ = Json::Type::Null;
        return;
      default:
        if (*p_ == '-' || (*p_ >= '0' && *p_ <= '9')) {
          parse_number(out);
          return;
        }
        error(std::string("unexpected character '") + printable(*p_) + "'");
    }
  }

  static std::string printable(char c) {
    const unsigned char u = static_cast<unsigned char>(c);
    if (u >= 0x20 && u < 0x7f) return std::string(1, c);
    static const char* hex = "0123456789abcdef";
    return std::string("\\x") + hex[u >> 4] + hex[u & 15];
  }

  void parse_object(Json& out, const std::string& path, int depth) {
    out.type_ = Json::Type::Object;
    ++p_;  // '{'
    skip_ws();
    if (p_ < end_ && *p_ == '}') {
      ++p_;
      return;
    }
    for (;;) {
      skip_ws();
      if (p_ >= end_ || *p_ != '"') error("expected a string key");
      const char* key_start = p_;
      std::string key;
      parse_string(key);
      if (out.object_.count(key)) {
        p_ = key_start;
        error("duplicate key " + key_path(path, key).substr(path.size()));
      }
      skip_ws();
      if (p_ >= end_ || *p_ != ':') error("expected ':'");
      ++p_;
      skip_ws();
      Json& member = out.object_[key];
      parse_value(member, key_path(path, key), depth + 1);
      skip_ws();
      if (p_ < end_ && *p_ == ',') {
        ++p_;
        continue;
      }
      if (p_ < end_ && *p_ == '}') {
        ++p_;
        return;
      }
      error("expected ',' or '}'");
    }
  }

  void parse_array(Json& out, const std::string& path, int depth) {
    out.type_ = Json::Type::Array;
    ++p_;  // '['
    skip_ws();
    if (p_ < end_ && *p_ == ']') {
      ++p_;
      return;
    }
    for (;;) {
      skip_ws();
      out.array_.emplace_back();
      parse_value(out.array_.back(), path + "[" + std::to_string(out.array_.size() - 1) + "]", depth + 1);
      skip_ws();
      if (p_ < end_ && *p_ == ',') {
        ++p_;
        continue;
      }
      if (p_ < end_ && *p_ == ']') {
        ++p_;
        return;
      }
      error("expected ',' or ']'");
    }
  }

  int hex_digit(char c) const {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  }

  uint32_t parse_hex4() {
    if (end_ - p_ < 4) error("truncated \\u escape");
    uint32_t v = 0;
    for (int i = 0; i < 4; ++i) {
      const int d = hex_digit(p_[i]);
      if (d < 0) error("invalid \\u escape");
      v = v << 4 | static_cast<uint32_t>(d);
    }
    p_ += 4;
    return v;
  }

  static void append_utf8(std::string& s, uint32_t cp) {
    if (cp < 0x80) {
      s += static_cast<char>(cp);
    } else if (cp < 0x800) {
      s += static_cast<char>(0xC0 | cp >> 6);
      s += static_cast<char>(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
      s += static_cast<char>(0xE0 | cp >> 12);
      s += static_cast<char>(0x80 | (cp >> 6 & 0x3F));
      s += static_cast<char>(0x80 | (cp & 0x3F));
    } else {
      s += static_cast<char>(0xF0 | cp >> 18);
      s += static_cast<char>(0x80 | (cp >> 12 & 0x3F));
      s += static_cast<char>(0x80 | (cp >> 6 & 0x3F));
      s += static_cast<char>(0x80 | (cp & 0x3F));
    }
  }

  // One UTF-8 sequence starting at p_ (a byte >= 0x80), validated per
  // RFC 3629: no overlong forms, no surrogates, nothing above U+10FFFF.
  void copy_utf8(std::string& s) {
    const unsigned char c = static_cast<unsigned char>(*p_);
    int n;
    uint32_t cp, min;
    if (c >= 0xC2 && c <= 0xDF) {
      n = 1, cp = c & 0x1F, min = 0x80;
    } else if (c >= 0xE0 && c <= 0xEF) {
      n = 2, cp = c & 0x0F, min = 0x800;
    } else if (c >= 0xF0 && c <= 0xF4) {
      n = 3, cp = c & 0x07, min = 0x10000;
    } else {
      error("invalid UTF-8 lead byte");
    }
    if (end_ - p_ <= n) error("truncated UTF-8 sequence");
    for (int i = 1; i <= n; ++i) {
      const unsigned char t = static_cast<unsigned char>(p_[i]);
      if ((t & 0xC0) != 0x80) error("invalid UTF-8 continuation byte");
      cp = cp << 6 | (t & 0x3F);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) error("invalid UTF-8 sequence");
    s.append(p_, n + 1);
    p_ += n + 1;
  }

  void parse_string(std::string& s) {
    ++p_;  // opening quote
    for (;;) {
      if (p_ >= end_) error("unterminated string");
      const unsigned char c = static_cast<unsigned char>(*p_);
      if (c == '"') {
        ++p_;
        return;
      }
      if (c < 0x20) error("control character in string");
      if (c >= 0x80) {
        copy_utf8(s);
        continue;
      }
      if (c != '\\') {
        // Copy a run of plain ASCII at once.
        const char* run = p_;
        while (p_ < end_ && static_cast<unsigned char>(*p_) >= 0x20 && static_cast<unsigned char>(*p_) < 0x80 &&
               *p_ != '"' && *p_ != '\\') {
          ++p_;
        }
        s.append(run, p_ - run);
        continue;
      }
      ++p_;
      if (p_ >= end_) error("unterminated escape");
      const char e = *p_++;
      switch (e) {
        case '"': s += '"'; break;
        case '\\': s += '\\'; break;
        case '/': s += '/'; break;
        case 'b': s += '\b'; break;
        case 'f': s += '\f'; break;
        case 'n': s += '\n'; break;
        case 'r': s += '\r'; break;
        case 't': s += '\t'; break;
        case 'u': {
          uint32_t cp = parse_hex4();
          if (cp >= 0xDC00 && cp <= 0xDFFF) error("lone low surrogate in \\u escape");
          if (cp >= 0xD800 && cp <= 0xDBFF) {
            if (end_ - p_ < 2 || p_[0] != '\\' || p_[1] != 'u') error("high surrogate not followed by a low surrogate");
            p_ += 2;
            const uint32_t lo = parse_hex4();
            if (lo < 0xDC00 || lo > 0xDFFF) error("high surrogate not followed by a low surrogate");
            cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
          }
          append_utf8(s, cp);
          break;
        }
        default: --p_; error("invalid escape");
      }
    }
  }

  // Validates the JSON number grammar, then converts with std::from_chars,
  // which (unlike strtod) never depends on the C locale's decimal point.
  void parse_number(Json& out) {
    const char* start = p_;
    bool integral = true;
    if (p_ < end_ && *p_ == '-') ++p_;
    if (p_ >= end_) error("truncated number");
    if (*p_ == '0') {
      ++p_;
    } else if (*p_ >= '1' && *p_ <= '9') {
      while (p_ < end_ && *p_ >= '0' && *p_ <= '9') ++p_;
    } else {
      error("invalid number");
    }
    if (p_ < end_ && *p_ == '.') {
      integral = false;
      ++p_;
      if (p_ >= end_ || !(*p_ >= '0' && *p_ <= '9')) error("invalid number: digit expected after '.'");
      while (p_ < end_ && *p_ >= '0' && *p_ <= '9') ++p_;
    }
    if (p_ < end_ && (*p_ == 'e' || *p_ == 'E')) {
      integral = false;
      ++p_;
      if (p_ < end_ && (*p_ == '+' || *p_ == '-')) ++p_;
      if (p_ >= end_ || !(*p_ >= '0' && *p_ <= '9')) error("invalid number: digit expected in exponent");
      while (p_ < end_ && *p_ >= '0' && *p_ <= '9') ++p_;
    }
    if (static_cast<size_t>(p_ - start) > kMaxNumberChars) {
      p_ = start;
      error("number longer than " + std::to_string(kMaxNumberChars) + " characters");
    }
    double v = 0.0;
    const auto r = std::from_chars(start, p_, v);
    if (r.ec != std::errc() || r.ptr != p_ || !std::isfinite(v)) {
      p_ = start;
      error("number out of range");
    }
    out.type_ = Json::Type::Number;
    out.number_ = v;
    if (integral) {
      int64_t i = 0;
      const auto ri = std::from_chars(start, p_, i);
      if (ri.ec == std::errc() && ri.ptr == p_) {
        out.is_int_ = true;
        out.int_ = i;
      }
    }
  }
};

Json Json::parse(const std::string& text) { return parse(text.data(), text.size()); }

Json Json::parse(const char* data, size_t size) {
  JsonParser parser(data, size);
  return parser.parse_document();
}

void Json::type_error(const char* expected) const {
  invalid(path_ + " must be " + expected + ", got " + type_name(type_));
}

bool Json::as_bool() const {
  if (type_ != Type::Bool) type_error("a boolean");
  return bool_;
}

double Json::as_double() const {
  if (type_ != Type::Number) type_error("a number");
  return number_;
}

int64_t Json::as_int() const {
  if (type_ != Type::Number) type_error("an integer");
  if (is_int_) return int_;
  if (std::floor(number_) != number_) invalid(path_ + " must be an integer, got " + std::to_string(number_));
  if (std::fabs(number_) > kMaxExactDouble) invalid(path_ + " is out of the integer range");
  return static_cast<int64_t>(number_);
}

const std::string& Json::as_string() const {
  if (type_ != Type::String) type_error("a string");
  return string_;
}

const std::vector<Json>& Json::as_array() const {
  if (type_ != Type::Array) type_error("an array");
  return array_;
}

size_t Json::size() const {
  if (type_ == Type::Array) return array_.size();
  if (type_ == Type::Object) return object_.size();
  type_error("an array or an object");
  return 0;
}

bool Json::has(const std::string& key) const { return get(key) != nullptr; }

const Json* Json::get(const std::string& key) const {
  if (type_ != Type::Object) type_error("an object");
  const auto it = object_.find(key);
  return it == object_.end() ? nullptr : &it->second;
}

const Json& Json::operator[](const std::string& key) const {
  const Json* v = get(key);
  if (!v) invalid(key_path(path_, key) + " is missing");
  return *v;
}

const std::map<std::string, Json>& Json::items() const {
  if (type_ != Type::Object) type_error("an object");
  return object_;
}

const Json& Json::operator[](size_t i) const {
  const std::vector<Json>& a = as_array();
  if (i >= a.size()) {
    invalid(path_ + " has " + std::to_string(a.size()) + " elements, element " + std::to_string(i) +
            " was requested");
  }
  return a[i];
}

namespace {
// A member that is missing or null takes the default.
const Json* present(const Json& obj, const std::string& key) {
  const Json* v = obj.get(key);
  return (v && !v->is_null()) ? v : nullptr;
}
}  // namespace

int64_t Json::int_or(const std::string& key, int64_t def) const {
  const Json* v = present(*this, key);
  return v ? v->as_int() : def;
}

double Json::double_or(const std::string& key, double def) const {
  const Json* v = present(*this, key);
  return v ? v->as_double() : def;
}

bool Json::bool_or(const std::string& key, bool def) const {
  const Json* v = present(*this, key);
  return v ? v->as_bool() : def;
}

std::string Json::string_or(const std::string& key, const std::string& def) const {
  const Json* v = present(*this, key);
  return v ? v->as_string() : def;
}

std::vector<int64_t> Json::int_array() const {
  std::vector<int64_t> out;
  for (const Json& v : as_array()) out.push_back(v.as_int());
  return out;
}

std::vector<float> Json::float_array() const {
  std::vector<float> out;
  for (const Json& v : as_array()) {
    const double d = v.as_double();
    if (std::fabs(d) > static_cast<double>(std::numeric_limits<float>::max())) {
      invalid(v.path() + " is out of the float32 range");
    }
    out.push_back(static_cast<float>(d));
  }
  return out;
}

std::vector<std::string> Json::string_array() const {
  std::vector<std::string> out;
  for (const Json& v : as_array()) out.push_back(v.as_string());
  return out;
}

}  // namespace qasr
