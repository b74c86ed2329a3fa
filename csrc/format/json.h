// A small JSON reader for the .qasr header. It trusts nothing: depth, sizes
// and number ranges are bounded, and every accessor error names the path of
// the value ("model.blocks[3].heads") so a bad file gets a clear message.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace qasr {

class Json {
 public:
  enum class Type { Null, Bool, Number, String, Array, Object };

  // Parses UTF-8 JSON text; throws InvalidInput with the byte offset on error.
  static Json parse(const std::string& text);
  static Json parse(const char* data, size_t size);

  Type type() const { return type_; }
  bool is_null() const { return type_ == Type::Null; }
  bool is_object() const { return type_ == Type::Object; }
  bool is_array() const { return type_ == Type::Array; }
  // A number written as an integer literal that fits int64 (as_int is exact).
  bool is_int_literal() const { return type_ == Type::Number && is_int_; }
  const std::string& path() const { return path_; }

  // Typed access; each throws InvalidInput naming path() on a type mismatch
  // or (for integers) a non-integral or out-of-range value.
  bool as_bool() const;
  double as_double() const;
  int64_t as_int() const;
  const std::string& as_string() const;
  const std::vector<Json>& as_array() const;
  size_t size() const;  // array or object element count

  // Object members. operator[] throws when the key is missing;
  // get() returns null for a missing key.
  bool has(const std::string& key) const;
  const Json& operator[](const std::string& key) const;
  const Json* get(const std::string& key) const;
  const std::map<std::string, Json>& items() const;
  // Array element; throws on out-of-range.
  const Json& operator[](size_t i) const;

  // Convenience with defaults for optional members.
  int64_t int_or(const std::string& key, int64_t def) const;
  double double_or(const std::string& key, double def) const;
  bool bool_or(const std::string& key, bool def) const;
  std::string string_or(const std::string& key, const std::string& def) const;
  std::vector<int64_t> int_array() const;
  std::vector<float> float_array() const;
  std::vector<std::string> string_array() const;

 private:
  friend class JsonParser;
  [[noreturn]] void type_error(const char* expected) const;

  Type type_ = Type::Null;
  bool bool_ = false;
  double number_ = 0.0;
  // Integer literals that fit int64 are also kept exactly (a double holds
  // integers exactly only up to 2^53).
  bool is_int_ = false;
  int64_t int_ = 0;
  std::string string_;
  std::vector<Json> array_;
  std::map<std::string, Json> object_;
  std::string path_ = "$";
};

}  // namespace qasr
