#include "server/wire_reader.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace prom2gcm {
namespace {

TEST(WireReaderTest, ReadsEachWireType) {
  // field 1 varint 300, field 2 fixed64 1.5, field 3 bytes "ab", field 4 fixed32.
  std::string buffer = {0x08, static_cast<char>(0xac), 0x02, 0x11};
  const double d = 1.5;
  buffer.append(reinterpret_cast<const char*>(&d), 8);
  buffer += std::string{0x1a, 0x02, 'a', 'b', 0x25, 1, 0, 0, 0};
  WireReader r(buffer);
  ASSERT_TRUE(r.Next());
  EXPECT_EQ(r.field(), 1u);
  EXPECT_EQ(r.varint(), 300u);
  ASSERT_TRUE(r.Next());
  EXPECT_EQ(r.type(), WireType::kFixed64);
  EXPECT_EQ(r.as_double(), 1.5);
  ASSERT_TRUE(r.Next());
  EXPECT_EQ(r.bytes(), "ab");
  ASSERT_TRUE(r.Next());
  EXPECT_EQ(r.type(), WireType::kFixed32);
  EXPECT_FALSE(r.Next());
  EXPECT_FALSE(r.failed());
}

TEST(WireReaderTest, ZigZag) {
  const std::string r_buffer = std::string{0x08, 0x03};
  WireReader r(r_buffer);
  ASSERT_TRUE(r.Next());
  EXPECT_EQ(r.zigzag(), -2);
}

TEST(WireReaderTest, LengthPastTheEndFails) {
  const std::string r_buffer = std::string{0x0a, 0x05, 'a'};
  WireReader r(r_buffer);
  EXPECT_FALSE(r.Next());
  EXPECT_TRUE(r.failed());
  EXPECT_STREQ(r.error(), "length past the end of the message");
}

TEST(WireReaderTest, TruncatedVarintFails) {
  const std::string r_buffer = std::string{0x08, static_cast<char>(0x80)};
  WireReader r(r_buffer);
  EXPECT_FALSE(r.Next());
  EXPECT_STREQ(r.error(), "truncated varint");
}

TEST(WireReaderTest, OverlongVarintFails) {
  const std::string r_buffer = std::string(1, 0x08) + std::string(11, static_cast<char>(0xff));
  WireReader r(r_buffer);
  EXPECT_FALSE(r.Next());
  EXPECT_STREQ(r.error(), "varint longer than 10 bytes");
}

TEST(WireReaderTest, GroupsAndFieldZeroFail) {
  const std::string group = {0x0b};  // start group
  EXPECT_FALSE(WireReader(group).Next());
  const std::string zero_buffer = std::string{0x00, 0x01};
  WireReader zero(zero_buffer);
  EXPECT_FALSE(zero.Next());
  EXPECT_STREQ(zero.error(), "invalid field number");
}

TEST(WireReaderTest, TruncatedFixedFails) {
  const std::string r_buffer = std::string{0x09, 1, 2, 3};
  WireReader r(r_buffer);
  EXPECT_FALSE(r.Next());
  EXPECT_STREQ(r.error(), "truncated fixed-width field");
}

TEST(WireReaderTest, ExpectFailsOnWrongType) {
  const std::string r_buffer = std::string{0x08, 0x01};
  WireReader r(r_buffer);
  ASSERT_TRUE(r.Next());
  EXPECT_FALSE(r.Expect(WireType::kLengthDelimited));
  EXPECT_TRUE(r.failed());
  EXPECT_FALSE(r.Next());
}

TEST(WireReaderTest, ForEachVarintHandlesPackedAndUnpacked) {
  const std::string r_buffer = std::string{0x0a, 0x03, 0x01, static_cast<char>(0x80), 0x01, 0x08, 0x05};
  WireReader r(r_buffer);
  std::vector<uint64_t> values;
  while (r.Next()) ASSERT_TRUE(ForEachVarint(r, [&](uint64_t v) { values.push_back(v); }));
  EXPECT_FALSE(r.failed());
  EXPECT_EQ(values, (std::vector<uint64_t>{1, 128, 5}));
}

TEST(WireReaderTest, ForEachVarintRejectsTruncatedPackedRun) {
  const std::string r_buffer = std::string{0x0a, 0x01, static_cast<char>(0x80)};
  WireReader r(r_buffer);
  ASSERT_TRUE(r.Next());
  EXPECT_FALSE(ForEachVarint(r, [](uint64_t) {}));
  EXPECT_STREQ(r.error(), "malformed packed varint");
}

}  // namespace
}  // namespace prom2gcm
