#include "integration/loadgen/latency_stats.h"

#include <gtest/gtest.h>

namespace prom2gcm::loadgen {
namespace {

using namespace std::chrono_literals;

TEST(LatencyStatsTest, EmptyReportsZero) {
  LatencyStats stats;
  EXPECT_EQ(stats.count(), 0);
  EXPECT_EQ(stats.QuantileMs(0.5), 0);
  EXPECT_EQ(stats.MaxMs(), 0);
}

TEST(LatencyStatsTest, QuantilesAreWithinThreePercent) {
  LatencyStats stats;
  for (int ms = 1; ms <= 1000; ++ms) stats.Record(std::chrono::milliseconds(ms));
  EXPECT_EQ(stats.count(), 1000);
  EXPECT_NEAR(stats.QuantileMs(0.50), 500, 15);
  EXPECT_NEAR(stats.QuantileMs(0.90), 900, 27);
  EXPECT_NEAR(stats.QuantileMs(0.99), 990, 30);
  EXPECT_LE(stats.QuantileMs(1.0), 1000);
  EXPECT_EQ(stats.MaxMs(), 1000);
}

TEST(LatencyStatsTest, SmallLatenciesAreExact) {
  LatencyStats stats;
  stats.Record(10us);
  stats.Record(20us);
  stats.Record(30us);
  EXPECT_DOUBLE_EQ(stats.QuantileMs(0.5), 0.020);
  EXPECT_DOUBLE_EQ(stats.QuantileMs(1.0), 0.030);
}

TEST(LatencyStatsTest, OneOutlierOnlyMovesTheTop) {
  LatencyStats stats;
  for (int i = 0; i < 999; ++i) stats.Record(2ms);
  stats.Record(5s);
  EXPECT_NEAR(stats.QuantileMs(0.99), 2, 0.06);
  EXPECT_EQ(stats.MaxMs(), 5000);
}

}  // namespace
}  // namespace prom2gcm::loadgen
