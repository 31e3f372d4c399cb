// JsonWriter builds compact JSON text by hand (the build has no JSON library): objects, arrays,
// strings (escaped), integers, booleans and doubles. Finite doubles are printed in the shortest
// form that reads back to the same value; NaN and infinities, which JSON cannot hold, as the
// strings "NaN", "+Inf" and "-Inf" (as Prometheus' JSON API does).
//
// Owns the text being built. Thread-safety: none; use one writer per thread.
#ifndef PROM2GCM_INTEGRATION_GCM_EMULATOR_JSON_WRITER_H_
#define PROM2GCM_INTEGRATION_GCM_EMULATOR_JSON_WRITER_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace prom2gcm::emulator {

class JsonWriter {
 public:
  void BeginObject();
  void EndObject();
  void BeginArray();
  void EndArray();
  void Key(std::string_view key);  // the next value is this member's

  void String(std::string_view value);
  void Int(int64_t value);
  void Double(double value);
  void Bool(bool value);
  void Null();

  // Key() followed by the value.
  void Member(std::string_view key, std::string_view value);
  void Member(std::string_view key, const char* value) { Member(key, std::string_view(value)); }
  void Member(std::string_view key, int64_t value);
  void Member(std::string_view key, double value);
  void Member(std::string_view key, bool value);

  const std::string& text() const { return text_; }

 private:
  void BeforeValue();  // writes the comma between values, unless after a key
  void AppendEscaped(std::string_view value);

  std::string text_;
  std::vector<bool> scope_has_values_;  // one entry per open object or array
  bool after_key_ = false;
};

}  // namespace prom2gcm::emulator

#endif  // PROM2GCM_INTEGRATION_GCM_EMULATOR_JSON_WRITER_H_
