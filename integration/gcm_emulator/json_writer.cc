#include "integration/gcm_emulator/json_writer.h"

#include <charconv>
#include <cmath>

namespace prom2gcm::emulator {

void JsonWriter::BeforeValue() {
  if (after_key_) {
    after_key_ = false;
    return;
  }
  if (scope_has_values_.empty()) return;
  if (scope_has_values_.back()) text_.push_back(',');
  scope_has_values_.back() = true;
}

void JsonWriter::BeginObject() {
  BeforeValue();
  text_.push_back('{');
  scope_has_values_.push_back(false);
}

void JsonWriter::EndObject() {
  text_.push_back('}');
  scope_has_values_.pop_back();
}

void JsonWriter::BeginArray() {
  BeforeValue();
  text_.push_back('[');
  scope_has_values_.push_back(false);
}

void JsonWriter::EndArray() {
  text_.push_back(']');
  scope_has_values_.pop_back();
}

void JsonWriter::Key(std::string_view key) {
  BeforeValue();
  AppendEscaped(key);
  text_.push_back(':');
  after_key_ = true;
}

void JsonWriter::String(std::string_view value) {
  BeforeValue();
  AppendEscaped(value);
}

void JsonWriter::Int(int64_t value) {
  BeforeValue();
  text_ += std::to_string(value);
}

void JsonWriter::Double(double value) {
  if (std::isnan(value)) return String("NaN");
  if (std::isinf(value)) return String(value > 0 ? "+Inf" : "-Inf");
  BeforeValue();
  char buffer[32];
  const auto result = std::to_chars(buffer, buffer + sizeof(buffer), value);
  text_.append(buffer, result.ptr);
}

void JsonWriter::Bool(bool value) {
  BeforeValue();
  text_ += value ? "true" : "false";
}

void JsonWriter::Null() {
  BeforeValue();
  text_ += "null";
}

void JsonWriter::Member(std::string_view key, std::string_view value) {
  Key(key);
  String(value);
}

void JsonWriter::Member(std::string_view key, int64_t value) {
  Key(key);
  Int(value);
}

void JsonWriter::Member(std::string_view key, double value) {
  Key(key);
  Double(value);
}

void JsonWriter::Member(std::string_view key, bool value) {
  Key(key);
  Bool(value);
}

void JsonWriter::AppendEscaped(std::string_view value) {
  static constexpr char kHex[] = "0123456789abcdef";
  text_.push_back('"');
  for (char c : value) {
    switch (c) {
      case '"': text_ += "\\\""; break;
      case '\\': text_ += "\\\\"; break;
      case '\n': text_ += "\\n"; break;
      case '\r': text_ += "\\r"; break;
      case '\t': text_ += "\\t"; break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          text_ += "\\u00";
          text_.push_back(kHex[(c >> 4) & 0xf]);
          text_.push_back(kHex[c & 0xf]);
        } else {
          text_.push_back(c);
        }
    }
  }
  text_.push_back('"');
}

}  // namespace prom2gcm::emulator
