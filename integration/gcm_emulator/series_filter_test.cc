#include "integration/gcm_emulator/series_filter.h"

#include <gtest/gtest.h>
namespace prom2gcm::emulator {
namespace {

StoredSeries Series(const std::string& type, const std::string& job, const std::string& room) {
  StoredSeries series;
  series.metric.set_type(type);
  (*series.metric.mutable_labels())["room"] = room;
  series.resource.set_type("prometheus_target");
  (*series.resource.mutable_labels())["job"] = job;
  (*series.resource.mutable_labels())["project_id"] = "p";
  return series;
}

TEST(SeriesFilterTest, ParsesTermsJoinedByAnd) {
  SeriesFilter filter;
  std::string error;
  ASSERT_TRUE(
      ParseSeriesFilter(" metric.type=\"t\" AND resource.labels.job = 'node' AND metric.label.room=\"a\\\"b\" "
                        "AND resource.type = \"prometheus_target\" AND project=\"p\"",
                        &filter, &error))
      << error;
  EXPECT_EQ(filter.metric_type, "t");
  EXPECT_EQ(filter.resource_labels.at("job"), "node");
  EXPECT_EQ(filter.metric_labels.at("room"), "a\"b");
  EXPECT_TRUE(filter.Matches(Series("t", "node", "a\"b")));
  EXPECT_FALSE(filter.Matches(Series("t", "other", "a\"b")));
  EXPECT_FALSE(filter.Matches(Series("u", "node", "a\"b")));
  EXPECT_FALSE(filter.Matches(Series("t", "node", "c")));
}

TEST(SeriesFilterTest, EmptyFilterMatchesEverything) {
  SeriesFilter filter;
  std::string error;
  ASSERT_TRUE(ParseSeriesFilter("", &filter, &error)) << error;
  EXPECT_TRUE(filter.Matches(Series("t", "node", "a")));
}

TEST(SeriesFilterTest, RejectsWhatItDoesNotUnderstand) {
  for (const char* text : {"metric.type", "metric.type = t", "metric.type = \"t", "metric.type != \"t\"",
                           "metric.type = \"t\" OR metric.type = \"u\"", "metric.type = \"t\" AND",
                           "metric.type = \"t\" metric.type = \"u\"", "metric.type = \"t\" AND metric.type = \"u\"",
                           "metric.labels. = \"x\"", "resource.zone = \"x\"", "metric.type = \"t\" ANDx"}) {
    SeriesFilter filter;
    std::string error;
    EXPECT_FALSE(ParseSeriesFilter(text, &filter, &error)) << text;
    EXPECT_FALSE(error.empty()) << text;
  }
}

}  // namespace
}  // namespace prom2gcm::emulator
