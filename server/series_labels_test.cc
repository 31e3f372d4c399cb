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
