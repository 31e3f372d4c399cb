#include "integration/gcm_emulator/json_writer.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <limits>

namespace prom2gcm::emulator {
namespace {

TEST(JsonWriterTest, WritesNestedObjectsAndArraysWithCommas) {
  JsonWriter json;
  json.BeginObject();
  json.Member("a", int64_t{1});
  json.Key("b");
  json.BeginArray();
  json.Int(1);
  json.BeginObject();
  json.EndObject();
  json.BeginArray();
  json.EndArray();
  json.Null();
  json.EndArray();
  json.Member("c", true);
  json.EndObject();
  EXPECT_EQ(json.text(), "{\"a\":1,\"b\":[1,{},[],null],\"c\":true}");
}

TEST(JsonWriterTest, EscapesStrings) {
  JsonWriter json;
  json.String(std::string("q\"b\\n\n\t\x01\x1f é\0", 13));
  EXPECT_EQ(json.text(), "\"q\\\"b\\\\n\\n\\t\\u0001\\u001f é\\u0000\"");
}

TEST(JsonWriterTest, DoublesReadBackExactly) {
  for (double value : {0.1, 0.1 + 0.2, 1e300, -2.5e-310, 123456789.123456789, std::numeric_limits<double>::max(),
                       std::numeric_limits<double>::denorm_min(), 1.0, -0.0}) {
    JsonWriter json;
    json.Double(value);
    EXPECT_EQ(std::strtod(json.text().c_str(), nullptr), value) << json.text();
  }
  JsonWriter json;
  json.Double(1);
  EXPECT_EQ(json.text(), "1");
}

TEST(JsonWriterTest, WritesNonFiniteDoublesAsStrings) {
  JsonWriter json;
  json.BeginArray();
  json.Double(std::nan(""));
  json.Double(std::numeric_limits<double>::infinity());
  json.Double(-std::numeric_limits<double>::infinity());
  json.EndArray();
  EXPECT_EQ(json.text(), "[\"NaN\",\"+Inf\",\"-Inf\"]");
}

}  // namespace
}  // namespace prom2gcm::emulator
