#include "server/metadata_cache.h"

#include <gtest/gtest.h>

#include <vector>

namespace prom2gcm {
namespace {

TEST(MetadataCacheTest, LooksUpByFamilyNameAndSuffixes) {
  MetadataCache cache;
  std::vector<FamilyMetadata> families = {
      {"http_requests", MetricType::kCounter, "Requests.", ""},
      {"latency_seconds", MetricType::kHistogram, "Latency.", "seconds"},
      {"node_load1", MetricType::kGauge, "Load.", ""},
  };
  EXPECT_EQ(cache.Update(families), 0u);
  EXPECT_EQ(cache.size(), 3u);
  EXPECT_EQ(cache.Lookup("node_load1")->type, MetricType::kGauge);
  EXPECT_EQ(cache.Lookup("http_requests_total")->type, MetricType::kCounter);
  auto bucket = cache.Lookup("latency_seconds_bucket");
  ASSERT_TRUE(bucket.has_value());
  EXPECT_EQ(bucket->type, MetricType::kHistogram);
  EXPECT_EQ(bucket->unit, "seconds");
  EXPECT_EQ(cache.Lookup("latency_seconds_sum")->help, "Latency.");
  EXPECT_FALSE(cache.Lookup("unknown_metric").has_value());
  EXPECT_FALSE(cache.Lookup("_total").has_value());
}

TEST(MetadataCacheTest, ExactNameWinsOverStrippedSuffix) {
  MetadataCache cache;
  std::vector<FamilyMetadata> families = {{"jobs_total", MetricType::kCounter, "", ""},
                                          {"jobs", MetricType::kGauge, "", ""}};
  cache.Update(families);
  EXPECT_EQ(cache.Lookup("jobs_total")->type, MetricType::kCounter);
}

TEST(MetadataCacheTest, UpdatesReplaceAndBoundHolds) {
  MetadataCache cache(2);
  std::vector<FamilyMetadata> first = {{"a", MetricType::kGauge, "", ""}, {"b", MetricType::kGauge, "", ""}};
  EXPECT_EQ(cache.Update(first), 0u);
  std::vector<FamilyMetadata> second = {{"a", MetricType::kCounter, "now a counter", ""},
                                        {"c", MetricType::kGauge, "", ""}};
  EXPECT_EQ(cache.Update(second), 1u);
  EXPECT_EQ(cache.size(), 2u);
  EXPECT_EQ(cache.Lookup("a")->type, MetricType::kCounter);
  EXPECT_EQ(cache.Lookup("a")->help, "now a counter");
  EXPECT_FALSE(cache.Lookup("c").has_value());
}

}  // namespace
}  // namespace prom2gcm

namespace prom2gcm {
namespace {

TEST(MetadataCacheSnapshotTest, RestoreGivesBackEveryFamilyAndVersionMovesOnlyOnChange) {
  MetadataCache cache;
  const std::vector<FamilyMetadata> families = {{"http_requests", MetricType::kCounter, "Requests.", ""},
                                                {"latency_seconds", MetricType::kHistogram, "", "seconds"}};
  cache.Update(families);
  const uint64_t version = cache.version();
  EXPECT_GT(version, 0u);
  cache.Update(families);  // the same again, as Prometheus resends it every minute
  EXPECT_EQ(cache.version(), version);

  MetadataCache restored;
  ASSERT_TRUE(restored.Restore(cache.Snapshot()));
  EXPECT_EQ(restored.size(), 2u);
  auto entry = restored.Lookup("latency_seconds_bucket");
  ASSERT_TRUE(entry.has_value());
  EXPECT_EQ(entry->type, MetricType::kHistogram);
  EXPECT_EQ(entry->unit, "seconds");
  EXPECT_EQ(restored.Lookup("http_requests")->help, "Requests.");
  EXPECT_FALSE(restored.Restore("\\xff\\xff not a request"));
}

}  // namespace
}  // namespace prom2gcm
