#include "exporter/exemplars.h"

#include <gtest/gtest.h>

#include "google/api/distribution.pb.h"
#include "google/monitoring/v3/span_context.pb.h"

namespace prom2gcm {
namespace {

DistributionValue Explicit(std::vector<double> bounds) {
  DistributionValue d;
  d.layout = BucketLayout::kExplicit;
  d.bounds = std::move(bounds);
  return d;
}

// Decodes d's exemplars as GCM would.
google::api::Distribution Decode(const DistributionValue& d) {
  google::api::Distribution out;
  EXPECT_TRUE(out.ParseFromString(d.encoded_exemplars));
  return out;
}

TEST(ExemplarsTest, TraceAndSpanBecomeSpanContextOtherLabelsAreDropped) {
  std::vector<Label> labels = {{"pod", "a"}, {"span_id", "00f067aa0ba902b7"},
                               {"trace_id", "4bf92f3577b34da6a3ce929d0e0e4736"}};
  GcmExemplar e = MakeGcmExemplar("projects/p1", labels, 0.25, 12'345);
  EXPECT_EQ(e.span_name, "projects/p1/traces/4bf92f3577b34da6a3ce929d0e0e4736/spans/00f067aa0ba902b7");
  ASSERT_EQ(e.dropped_labels.size(), 1u);
  EXPECT_EQ(e.dropped_labels[0], (std::pair<std::string, std::string>{"pod", "a"}));

  DistributionValue d = Explicit({1});
  AttachExemplars({&e, 1}, &d);
  google::api::Distribution decoded = Decode(d);
  ASSERT_EQ(decoded.exemplars_size(), 1);
  const auto& x = decoded.exemplars(0);
  EXPECT_DOUBLE_EQ(x.value(), 0.25);
  EXPECT_EQ(x.timestamp().seconds(), 12);
  EXPECT_EQ(x.timestamp().nanos(), 345'000'000);
  ASSERT_EQ(x.attachments_size(), 2);
  EXPECT_EQ(x.attachments(0).type_url(), "type.googleapis.com/google.monitoring.v3.SpanContext");
  google::monitoring::v3::SpanContext span;
  ASSERT_TRUE(span.ParseFromString(x.attachments(0).value()));
  EXPECT_EQ(span.span_name(), e.span_name);
  EXPECT_EQ(x.attachments(1).type_url(), "type.googleapis.com/google.monitoring.v3.DroppedLabels");
  google::monitoring::v3::DroppedLabels dropped;
  ASSERT_TRUE(dropped.ParseFromString(x.attachments(1).value()));
  EXPECT_EQ(dropped.label().at("pod"), "a");
}

TEST(ExemplarsTest, WithoutBothIdsEveryLabelIsDropped) {
  std::vector<Label> labels = {{"trace_id", "t"}};
  GcmExemplar e = MakeGcmExemplar("projects/p1", labels, 1, 0);
  EXPECT_TRUE(e.span_name.empty());
  EXPECT_EQ(e.dropped_labels.size(), 1u);
}

TEST(ExemplarsTest, BucketIndexExplicitAndExponential) {
  DistributionValue d = Explicit({1, 5});
  EXPECT_EQ(BucketIndex(d, 0.5), 0u);
  EXPECT_EQ(BucketIndex(d, 1), 1u);  // GCM buckets include their lower bound
  EXPECT_EQ(BucketIndex(d, 4.9), 1u);
  EXPECT_EQ(BucketIndex(d, 5), 2u);
  EXPECT_EQ(BucketIndex(d, 1e9), 2u);
  DistributionValue x;
  x.layout = BucketLayout::kExponential;
  x.num_finite_buckets = 3;
  x.growth_factor = 2;
  x.scale = 1;  // finite buckets [1,2) [2,4) [4,8)
  EXPECT_EQ(BucketIndex(x, 0.5), 0u);
  EXPECT_EQ(BucketIndex(x, 1.5), 1u);
  EXPECT_EQ(BucketIndex(x, 5), 3u);
  EXPECT_EQ(BucketIndex(x, 100), 4u);  // overflow
}

TEST(ExemplarsTest, NewestPerBucketSortedByValue) {
  std::vector<GcmExemplar> exemplars = {
      {3, 1000, "", {}}, {0.5, 1000, "", {}}, {2, 3000, "", {}}, {7, 500, "", {}}, {0.7, 900, "", {}}};
  DistributionValue d = Explicit({1, 5});
  AttachExemplars(exemplars, &d);
  google::api::Distribution decoded = Decode(d);
  ASSERT_EQ(decoded.exemplars_size(), 3);
  EXPECT_DOUBLE_EQ(decoded.exemplars(0).value(), 0.5);  // bucket 0: 0.5 (t=1000) beats 0.7 (t=900)
  EXPECT_DOUBLE_EQ(decoded.exemplars(1).value(), 2);    // bucket 1: 2 (t=3000) beats 3 (t=1000)
  EXPECT_DOUBLE_EQ(decoded.exemplars(2).value(), 7);
}

}  // namespace
}  // namespace prom2gcm
