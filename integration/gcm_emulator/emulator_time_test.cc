#include "integration/gcm_emulator/emulator_time.h"

#include <gtest/gtest.h>

namespace prom2gcm::emulator {
namespace {

TEST(EmulatorTimeTest, ParsesDurations) {
  TimeNs nanos = 0;
  ASSERT_TRUE(ParseDuration("5s", &nanos));
  EXPECT_EQ(nanos, 5 * kNanosPerSecond);
  ASSERT_TRUE(ParseDuration("100ms", &nanos));
  EXPECT_EQ(nanos, 100 * kNanosPerMilli);
  ASSERT_TRUE(ParseDuration("1.5m", &nanos));
  EXPECT_EQ(nanos, 90 * kNanosPerSecond);
  ASSERT_TRUE(ParseDuration("2h", &nanos));
  EXPECT_EQ(nanos, 2 * kNanosPerHour);
  ASSERT_TRUE(ParseDuration("0.25", &nanos));
  EXPECT_EQ(nanos, 250 * kNanosPerMilli);
  for (const char* bad : {"", "s", "5x", "-1s", "nan", "5 s"}) EXPECT_FALSE(ParseDuration(bad, &nanos)) << bad;
}

TEST(EmulatorTimeTest, ConvertsTimestampsBothWays) {
  for (TimeNs nanos : {TimeNs{0}, TimeNs{1}, TimeNs{-1}, TimeNs{1700000000123456789}, -kNanosPerSecond - 5}) {
    EXPECT_EQ(ToNanos(ToTimestamp(nanos)), nanos);
  }
  EXPECT_EQ(ToMillis(-1), -1);
  EXPECT_EQ(ToMillis(1999999), 1);
  EXPECT_EQ(FormatTime(1700000000250 * kNanosPerMilli), "2023-11-14T22:13:20.250Z");
  TimeNs parsed = 0;
  ASSERT_TRUE(ParseTime("2023-11-14T22:13:20.250Z", &parsed));
  EXPECT_EQ(parsed, 1700000000250 * kNanosPerMilli);
}

}  // namespace
}  // namespace prom2gcm::emulator
