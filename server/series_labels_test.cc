#include "server/series_labels.h"

#include <gtest/gtest.h>

#include <vector>

namespace prom2gcm {
namespace {

const char* Check(const std::vector<Label>& labels, uint64_t* hash = nullptr) {
  uint64_t ignored;
  return CheckLabelsAndHash(labels, hash ? hash : &ignored);
}

TEST(SeriesLabelsTest, AcceptsSortedLabelsWithName) {
  EXPECT_EQ(Check({{"__name__", "up"}, {"instance", "a"}, {"job", "j"}}), nullptr);
}

TEST(SeriesLabelsTest, RejectsEachBrokenRule) {
  EXPECT_STREQ(Check({{"__name__", "up"}, {"job", "j"}, {"instance", "a"}}), "labels not sorted by name");
  EXPECT_STREQ(Check({{"__name__", "up"}, {"job", "a"}, {"job", "b"}}), "duplicate label name");
  EXPECT_STREQ(Check({{"", "x"}, {"__name__", "up"}}), "empty label name");
  EXPECT_STREQ(Check({{"job", "j"}}), "missing metric name (__name__)");
  EXPECT_STREQ(Check({{"__name__", ""}, {"job", "j"}}), "missing metric name (__name__)");
  EXPECT_STREQ(Check({}), "missing metric name (__name__)");
}

TEST(SeriesLabelLimitsTest, EachLimitAtItsBoundary) {
  const WriteLimits limits{.max_series_per_request = 10, .max_labels_per_series = 3, .max_label_name_bytes = 4,
                           .max_label_value_bytes = 5};
  Limit broken = Limit::kInFlightWrites;
  EXPECT_EQ(CheckLabelLimits(std::vector<Label>{{"abcd", "12345"}, {"b", ""}, {"c", "x"}}, limits, &broken), nullptr);
  EXPECT_EQ(broken, Limit::kInFlightWrites);  // untouched when within the limits

  EXPECT_STREQ(CheckLabelLimits(std::vector<Label>{{"a", "1"}, {"b", "2"}, {"c", "3"}, {"d", "4"}}, limits, &broken),
               "more labels than --web.max-labels-per-series");
  EXPECT_EQ(broken, Limit::kLabelsPerSeries);
  EXPECT_STREQ(CheckLabelLimits(std::vector<Label>{{"a", "1"}, {"abcde", "2"}}, limits, &broken),
               "label name longer than --web.max-label-name-length");
  EXPECT_EQ(broken, Limit::kLabelNameLength);
  EXPECT_STREQ(CheckLabelLimits(std::vector<Label>{{"a", "123456"}}, limits, &broken),
               "label value longer than --web.max-label-value-length");
  EXPECT_EQ(broken, Limit::kLabelValueLength);
}

TEST(SeriesLabelLimitsTest, NamesOfTheLimits) {
  EXPECT_STREQ(LimitName(Limit::kSeriesPerRequest), "series_per_request");
  EXPECT_STREQ(LimitName(Limit::kLabelsPerSeries), "labels_per_series");
  EXPECT_STREQ(LimitName(Limit::kLabelNameLength), "label_name_length");
  EXPECT_STREQ(LimitName(Limit::kLabelValueLength), "label_value_length");
  EXPECT_STREQ(LimitName(Limit::kInFlightWrites), "in_flight_writes");
}

TEST(SeriesLabelsTest, HashSeparatesNamesFromValues) {
  uint64_t a, b, c;
  ASSERT_EQ(Check({{"__name__", "up"}, {"ab", "c"}}, &a), nullptr);
  ASSERT_EQ(Check({{"__name__", "up"}, {"a", "bc"}}, &b), nullptr);
  ASSERT_EQ(Check({{"__name__", "up"}, {"ab", "c"}}, &c), nullptr);
  EXPECT_NE(a, b);
  EXPECT_EQ(a, c);
}

}  // namespace
}  // namespace prom2gcm
