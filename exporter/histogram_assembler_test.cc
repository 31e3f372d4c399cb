#include "exporter/histogram_assembler.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <string>

namespace prom2gcm {
namespace {

constexpr int64_t kWaitMs = 15'000;

double StaleMarker() {
  double value;
  std::memcpy(&value, &kStaleMarkerBits, sizeof value);
  return value;
}

class HistogramAssemblerTest : public ::testing::Test {
 protected:
  // One part of histogram lat{job="j"}: name is "bucket" (with le), "sum" or "count".
  void Add(const std::string& part, int64_t ts, double value, const std::string& le = "",
           const std::string& family = "lat") {
    std::vector<Label> labels;
    const std::string name = family + "_" + part;
    labels.push_back({"__name__", name});
    labels.push_back({"job", "j"});
    if (!le.empty()) labels.push_back({"le", le});
    HistogramAssembler::PartInfo info;
    const char* reason = nullptr;
    ASSERT_TRUE(HistogramAssembler::Identify(labels, false, &info, &reason)) << reason;
    assembler_.Add(info, labels, Sample{ts, value, 0}, /*seq=*/0, now_, &done_, &counts_);
  }
  // A scrape at ts of a histogram with bounds 0.1 and 1: cumulative counts a, b, c; sum s.
  void AddBuckets(int64_t ts, double a, double b, double c) {
    Add("bucket", ts, a, "0.1");
    Add("bucket", ts, b, "1");
    Add("bucket", ts, c, "+Inf");
  }
  void AddSet(int64_t ts, double a, double b, double c, double sum) {
    AddBuckets(ts, a, b, c);
    Add("sum", ts, sum);
    Add("count", ts, c);
  }
  void Expire(bool all = false) { assembler_.Expire(now_, all, &done_, &counts_); }
  uint64_t Dropped(AssemblyDrop drop) const { return counts_.by_reason[static_cast<size_t>(drop)]; }

  HistogramAssembler assembler_{{kWaitMs, 600'000}};
  std::vector<AssembledHistogram> done_;
  AssemblyCounts counts_;
  int64_t now_ = 1'000'000;
};

TEST_F(HistogramAssemblerTest, IdentifyStripsSuffixAndLe) {
  std::vector<Label> bucket = {{"__name__", "lat_bucket"}, {"job", "j"}, {"le", "1e+06"}};
  std::vector<Label> count = {{"__name__", "lat_count"}, {"job", "j"}};
  std::vector<Label> native = {{"__name__", "lat"}, {"job", "j"}};
  HistogramAssembler::PartInfo a, b;
  const char* reason = nullptr;
  ASSERT_TRUE(HistogramAssembler::Identify(bucket, false, &a, &reason));
  ASSERT_TRUE(HistogramAssembler::Identify(count, false, &b, &reason));
  EXPECT_DOUBLE_EQ(a.le, 1e6);
  EXPECT_EQ(a.histogram_hash, b.histogram_hash);
  EXPECT_FALSE(HistogramAssembler::Identify(native, false, &a, &reason));
  std::vector<Label> no_le = {{"__name__", "lat_bucket"}, {"job", "j"}};
  EXPECT_FALSE(HistogramAssembler::Identify(no_le, false, &a, &reason));
  EXPECT_STREQ(reason, "histogram bucket without a numeric le label");
}

TEST_F(HistogramAssemblerTest, FirstSetWaitsForTheTimeoutAsItsLayoutIsUnknown) {
  AddSet(10'000, 1, 3, 4, 2.5);
  EXPECT_TRUE(done_.empty());
  now_ += kWaitMs - 1;
  Expire();
  EXPECT_TRUE(done_.empty());
  now_ += 1;
  Expire();
  ASSERT_EQ(done_.size(), 1u);
  const AssembledHistogram& h = done_[0];
  EXPECT_EQ(h.histogram.timestamp_ms, 10'000);
  EXPECT_EQ(h.histogram.schema, kCustomBucketsSchema);
  EXPECT_EQ(h.histogram.custom_values, (std::vector<double>{0.1, 1}));
  EXPECT_EQ(h.histogram.positive_counts, (std::vector<double>{1, 2, 1}));  // per bucket
  EXPECT_DOUBLE_EQ(h.histogram.count, 4);
  EXPECT_DOUBLE_EQ(h.histogram.sum, 2.5);
  EXPECT_EQ((*h.labels), (OwnedLabels{{"__name__", "lat"}, {"job", "j"}}));
  EXPECT_EQ(assembler_.pending_sets(), 0u);
}

// Prometheus shards by series, so buckets, _sum and _count come in separate requests in any order.
TEST_F(HistogramAssemblerTest, SetSplitAcrossThreeRequestsFinishesOnItsLastPartInEveryOrder) {
  std::vector<int> order = {0, 1, 2};
  int64_t ts = 10'000;
  AddSet(ts, 0, 0, 0, 0);
  now_ += kWaitMs;
  Expire();
  ASSERT_EQ(done_.size(), 1u);  // the first set, which taught the layout
  do {
    done_.clear();
    ts += 5'000;
    const double n = static_cast<double>(ts / 1000);
    for (size_t step = 0; step < order.size(); ++step) {
      EXPECT_TRUE(done_.empty()) << "finished before its last part, step " << step;
      switch (order[step]) {
        case 0: AddBuckets(ts, 1, 2, n); break;
        case 1: Add("sum", ts, n * 2); break;
        case 2: Add("count", ts, n); break;
      }
    }
    ASSERT_EQ(done_.size(), 1u);
    EXPECT_EQ(done_[0].histogram.timestamp_ms, ts);
    EXPECT_EQ(done_[0].histogram.positive_counts, (std::vector<double>{1, 1, n - 2}));
    EXPECT_DOUBLE_EQ(done_[0].histogram.sum, n * 2);
  } while (std::next_permutation(order.begin(), order.end()));
}

TEST_F(HistogramAssemblerTest, LaterSetWaitsForAnEarlierOne) {
  AddSet(10'000, 1, 1, 1, 1);
  now_ += kWaitMs;
  Expire();
  done_.clear();
  AddBuckets(15'000, 1, 1, 2);  // its _sum and _count are late
  AddSet(20'000, 1, 2, 3, 3);
  EXPECT_TRUE(done_.empty());
  Add("sum", 15'000, 2);
  Add("count", 15'000, 2);
  ASSERT_EQ(done_.size(), 2u);
  EXPECT_EQ(done_[0].histogram.timestamp_ms, 15'000);
  EXPECT_EQ(done_[1].histogram.timestamp_ms, 20'000);
}

// A later scrape's parts can come before an earlier one's. The sets still finish in timestamp order,
// each with only its own buckets, though a finished set's storage is reused for the next.
TEST_F(HistogramAssemblerTest, SetsStartedOutOfOrderFinishInOrderWithTheirOwnBuckets) {
  AddSet(10'000, 1, 1, 1, 1);
  now_ += kWaitMs;
  Expire();  // the first set finishes: the layout is known from here on
  ASSERT_EQ(done_.size(), 1u);
  done_.clear();
  AddBuckets(30'000, 3, 4, 5);
  AddBuckets(20'000, 1, 2, 3);
  Add("sum", 30'000, 9);
  Add("count", 30'000, 5);
  EXPECT_TRUE(done_.empty());  // complete, but waits for the set at 20'000
  Add("sum", 20'000, 4);
  Add("count", 20'000, 3);
  ASSERT_EQ(done_.size(), 2u);
  EXPECT_EQ(done_[0].histogram.timestamp_ms, 20'000);
  EXPECT_EQ(done_[0].histogram.positive_counts, (std::vector<double>{1, 1, 1}));
  EXPECT_DOUBLE_EQ(done_[0].histogram.sum, 4);
  EXPECT_EQ(done_[1].histogram.timestamp_ms, 30'000);
  EXPECT_EQ(done_[1].histogram.positive_counts, (std::vector<double>{3, 1, 1}));
  EXPECT_DOUBLE_EQ(done_[1].histogram.sum, 9);
  done_.clear();
  // On the storage the sets above left, a set without the 0.1 bucket: none of theirs may stand in.
  Add("bucket", 40'000, 6, "1");
  Add("bucket", 40'000, 7, "+Inf");
  Add("sum", 40'000, 7);
  Add("count", 40'000, 7);
  EXPECT_TRUE(done_.empty());
  now_ += kWaitMs;
  Expire();
  ASSERT_EQ(done_.size(), 1u);
  EXPECT_EQ(done_[0].histogram.custom_values, (std::vector<double>{1}));
  EXPECT_EQ(done_[0].histogram.positive_counts, (std::vector<double>{6, 1}));
  EXPECT_EQ(assembler_.pending_sets(), 0u);
}

TEST_F(HistogramAssemblerTest, LatePartsAndIncompleteSetsAreCounted) {
  AddSet(10'000, 1, 1, 1, 1);
  now_ += kWaitMs;
  Expire();
  Add("sum", 10'000, 1);  // its set has finished
  EXPECT_EQ(Dropped(AssemblyDrop::kLatePart), 1u);
  AddBuckets(15'000, 1, 1, 1);  // no _sum, no _count ever
  now_ += kWaitMs;
  Expire();
  EXPECT_EQ(Dropped(AssemblyDrop::kIncomplete), 1u);
  EXPECT_EQ(done_.size(), 1u);
  EXPECT_EQ(assembler_.pending_sets(), 0u);
}

TEST_F(HistogramAssemblerTest, LayoutThatLostABoundGoesOnAfterTheWait) {
  AddSet(10'000, 1, 1, 1, 1);
  now_ += kWaitMs;
  Expire();
  Add("bucket", 15'000, 2, "0.1");
  Add("bucket", 15'000, 2, "+Inf");
  Add("sum", 15'000, 2);
  Add("count", 15'000, 2);
  EXPECT_EQ(done_.size(), 1u);  // the bound 1 may still come
  now_ += kWaitMs;
  Expire();
  ASSERT_EQ(done_.size(), 2u);
  EXPECT_EQ(done_[1].histogram.custom_values, (std::vector<double>{0.1}));
}

TEST_F(HistogramAssemblerTest, StaleMarkerFinishesAtOnce) {
  AddSet(10'000, 1, 1, 1, 1);
  now_ += kWaitMs;
  Expire();
  Add("count", 15'000, StaleMarker());
  ASSERT_EQ(done_.size(), 2u);
  EXPECT_TRUE(done_[1].stale);
  Add("sum", 15'000, StaleMarker());  // the rest of the stale parts
  EXPECT_EQ(Dropped(AssemblyDrop::kLatePart), 1u);
}

TEST_F(HistogramAssemblerTest, DecreasingCumulativeCountsAreClampedAndInfOnlyIsDropped) {
  AddSet(10'000, 5, 3, 6, 1);  // the le=1 bucket says fewer than le=0.1
  now_ += kWaitMs;
  Expire();
  ASSERT_EQ(done_.size(), 1u);
  EXPECT_EQ(done_[0].histogram.positive_counts, (std::vector<double>{5, 0, 1}));
  EXPECT_DOUBLE_EQ(done_[0].histogram.count, 6);

  Add("bucket", 10'000, 1, "+Inf", "only");
  Add("sum", 10'000, 1, "", "only");
  Add("count", 10'000, 1, "", "only");
  Expire(/*all=*/true);
  EXPECT_EQ(Dropped(AssemblyDrop::kNoBounds), 1u);
  EXPECT_EQ(done_.size(), 1u);
}

TEST_F(HistogramAssemblerTest, ExpireAllFinishesEverythingAtShutdown) {
  AddSet(10'000, 1, 2, 3, 4);
  EXPECT_EQ(assembler_.pending_sets(), 1u);
  Expire(/*all=*/true);
  EXPECT_EQ(done_.size(), 1u);
  EXPECT_EQ(assembler_.pending_sets(), 0u);
}

}  // namespace
}  // namespace prom2gcm
