#include "exporter/transform.h"

#include <gtest/gtest.h>

#include <cstring>
#include <limits>
#include <optional>

#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/io/zero_copy_stream_impl_lite.h>

#include "google/monitoring/v3/metric_service.pb.h"
#include "server/remote_write_decoder.h"
#include "server/testing/payloads.h"
#include "server/wire_writer.h"

namespace prom2gcm {
namespace {

using google::monitoring::v3::CreateTimeSeriesRequest;

class TransformTest : public ::testing::Test {
 protected:
  // Decodes one 1.0 series with the given labels and builds its entry with the given type.
  std::unique_ptr<SeriesEntry> Build(const testing::LabelPairs& labels, MetricType type,
                                     TransformOptions options = Defaults()) {
    ::prometheus::prompb::WriteRequest message;
    testing::AddSeriesV1(&message, labels, {{1000, 1}});
    request_.Clear();
    request_.body = message.SerializeAsString();
    EXPECT_EQ(DecodeRemoteWriteV1(&request_), nullptr);
    EXPECT_EQ(request_.series.size(), 1u);
    transform_ = std::make_unique<Transform>(options, &projects_);
    return transform_->BuildEntry(request_, request_.series[0], type);
  }

  static TransformOptions Defaults() {
    TransformOptions options;
    options.project_id = "flag-project";
    options.location = "europe-west1";
    options.cluster = "flag-cluster";
    return options;
  }

  // Decodes what AppendTimeSeries wrote for the entry's target, with the generated classes.
  static google::monitoring::v3::TimeSeries Encode(const SeriesEntry& entry, const PendingPoint& point) {
    std::string bytes;
    AppendTimeSeries(&bytes, entry.targets()[point.target], point);
    CreateTimeSeriesRequest request;
    EXPECT_TRUE(request.ParseFromString(bytes));
    EXPECT_EQ(request.time_series_size(), 1);
    return request.time_series(0);
  }

  // Applies (timestamp, value) and returns the points it produced.
  std::vector<PendingPoint> Apply(SeriesEntry* entry, int64_t ts, double value, int64_t start_ms = 0) {
    PendingPoint out[2];
    const int n = transform_->Apply(entry, Sample{ts, value, 0}, start_ms, out, &drops_);
    return std::vector<PendingPoint>(std::make_move_iterator(out), std::make_move_iterator(out + n));
  }

  // Builds the entry of a 1.0 native histogram series whose first histogram is `first`.
  std::unique_ptr<SeriesEntry> BuildHistogram(const ::prometheus::prompb::Histogram& first, MetricType type) {
    ::prometheus::prompb::WriteRequest message;
    testing::AddSeriesV1(&message, {{"__name__", "latency_seconds"}, {"instance", "i"}}, {})
        ->add_histograms()
        ->CopyFrom(first);
    request_.Clear();
    request_.body = message.SerializeAsString();
    EXPECT_EQ(DecodeRemoteWriteV1(&request_), nullptr);
    EXPECT_EQ(request_.series.size(), 1u);
    transform_ = std::make_unique<Transform>(Defaults(), &projects_);
    return transform_->BuildEntry(request_, request_.series[0], type);
  }

  // Applies one histogram; returns the distribution point as GCM would decode it (none: nullopt).
  std::optional<google::monitoring::v3::TimeSeries> ApplyHistogram(SeriesEntry* entry,
                                                                   const ::prometheus::prompb::Histogram& h,
                                                                   int64_t series_start_ms = 0) {
    encoded_.push_back(std::make_unique<std::string>(h.SerializeAsString()));
    PendingPoint point;
    NativeHistogram scratch;
    if (transform_->ApplyHistogram(entry, HistogramSample{h.timestamp(), *encoded_.back()}, series_start_ms,
                                   &scratch, &point, &drops_) == 0) {
      return std::nullopt;
    }
    return Encode(*entry, point);
  }

  // An integer exponential histogram at schema 0 with positive buckets 1..n holding `counts`.
  static ::prometheus::prompb::Histogram Exponential(int64_t ts, std::vector<int64_t> counts, double sum) {
    ::prometheus::prompb::Histogram h;
    h.set_timestamp(ts);
    h.set_schema(0);
    h.set_sum(sum);
    auto* span = h.add_positive_spans();
    span->set_offset(1);
    span->set_length(static_cast<uint32_t>(counts.size()));
    int64_t previous = 0, count = 0;
    for (int64_t c : counts) {
      h.add_positive_deltas(c - previous);
      previous = c;
      count += c;
    }
    h.set_count_int(static_cast<uint64_t>(count));
    return h;
  }

  uint64_t Dropped(PointDrop drop) const { return drops_.by_reason[static_cast<size_t>(drop)]; }

  DecodedRequest request_;
  ProjectTable projects_;
  std::unique_ptr<Transform> transform_;
  DropCounts drops_;
  std::vector<std::unique_ptr<std::string>> encoded_;  // histogram messages the request views point into
};

TEST_F(TransformTest, GaugeIdentityAndPoint) {
  auto entry = Build({{"__name__", "node_load1"}, {"instance", "host:9100"}, {"job", "node"}, {"mode", "x"}},
                     MetricType::kGauge);
  ASSERT_EQ(entry->drop_reason, SeriesDropReason::kNone);
  ASSERT_EQ(entry->target_count, 1);
  EXPECT_EQ(projects_.Name(entry->project), "projects/flag-project");
  auto points = Apply(entry.get(), 1'700'000'000'123, 0.5);
  ASSERT_EQ(points.size(), 1u);
  auto ts = Encode(*entry, points[0]);
  EXPECT_EQ(ts.metric().type(), "prometheus.googleapis.com/node_load1/gauge");
  EXPECT_EQ(ts.metric().labels().size(), 1u);
  EXPECT_EQ(ts.metric().labels().at("mode"), "x");
  EXPECT_EQ(ts.resource().type(), "prometheus_target");
  EXPECT_EQ(ts.resource().labels().at("project_id"), "flag-project");
  EXPECT_EQ(ts.resource().labels().at("location"), "europe-west1");
  EXPECT_EQ(ts.resource().labels().at("cluster"), "flag-cluster");
  EXPECT_EQ(ts.resource().labels().at("namespace"), "");
  EXPECT_EQ(ts.resource().labels().at("job"), "node");
  EXPECT_EQ(ts.resource().labels().at("instance"), "host:9100");
  EXPECT_EQ(ts.metric_kind(), google::api::MetricDescriptor::GAUGE);
  EXPECT_EQ(ts.value_type(), google::api::MetricDescriptor::DOUBLE);
  ASSERT_EQ(ts.points_size(), 1);
  EXPECT_EQ(ts.points(0).value().double_value(), 0.5);
  EXPECT_EQ(ts.points(0).interval().end_time().seconds(), 1'700'000'000);
  EXPECT_EQ(ts.points(0).interval().end_time().nanos(), 123'000'000);
  EXPECT_FALSE(ts.points(0).interval().has_start_time());
}

// The resource of a series without resource labels under Defaults(): the flags' project, location
// and cluster, the other labels empty.
void SetFlagResource(google::monitoring::v3::TimeSeries* series) {
  series->mutable_resource()->set_type("prometheus_target");
  auto& resource = *series->mutable_resource()->mutable_labels();
  resource["project_id"] = "flag-project";
  resource["location"] = "europe-west1";
  resource["cluster"] = "flag-cluster";
  for (const char* empty : {"namespace", "job", "instance"}) resource[empty] = "";
}

// The identity is kept in parts (GcmTarget): series of one family and one monitored target share all
// but their metric labels, and AppendTimeSeries writes the bytes a whole TimeSeries serializes to.
TEST_F(TransformTest, SeriesShareTheirFamilysTypeAndTheirTargetsResource) {
  ::prometheus::prompb::WriteRequest message;
  for (const char* cpu : {"0", "1"}) {
    testing::AddSeriesV1(&message, {{"__name__", "node_cpu"}, {"cpu", cpu}, {"instance", "h:1"}, {"job", "node"}},
                         {{1000, 1}});
  }
  testing::AddSeriesV1(&message, {{"__name__", "node_cpu"}, {"cpu", "0"}, {"instance", "h:2"}, {"job", "node"}},
                       {{1000, 1}});
  request_.body = message.SerializeAsString();
  ASSERT_EQ(DecodeRemoteWriteV1(&request_), nullptr);
  Transform transform(Defaults(), &projects_);
  auto a = transform.BuildEntry(request_, request_.series[0], MetricType::kGauge);
  auto b = transform.BuildEntry(request_, request_.series[1], MetricType::kGauge);
  auto other_instance = transform.BuildEntry(request_, request_.series[2], MetricType::kGauge);
  EXPECT_EQ(a->targets()[0].metric_type, b->targets()[0].metric_type);
  EXPECT_EQ(a->targets()[0].identity_tail, b->targets()[0].identity_tail);
  EXPECT_NE(a->targets()[0].metric_labels, b->targets()[0].metric_labels);
  EXPECT_EQ(a->targets()[0].metric_type, other_instance->targets()[0].metric_type);
  EXPECT_NE(a->targets()[0].identity_tail, other_instance->targets()[0].identity_tail);

  google::monitoring::v3::TimeSeries whole;
  whole.mutable_metric()->set_type("prometheus.googleapis.com/node_cpu/gauge");
  (*whole.mutable_metric()->mutable_labels())["cpu"] = "1";
  SetFlagResource(&whole);
  (*whole.mutable_resource()->mutable_labels())["job"] = "node";
  (*whole.mutable_resource()->mutable_labels())["instance"] = "h:1";
  whole.set_metric_kind(google::api::MetricDescriptor::GAUGE);
  whole.set_value_type(google::api::MetricDescriptor::DOUBLE);
  auto* point = whole.add_points();
  point->mutable_interval()->mutable_end_time()->set_seconds(1);
  point->mutable_value()->set_double_value(0.5);
  CreateTimeSeriesRequest expected;
  *expected.add_time_series() = whole;
  std::string expected_bytes;
  {
    google::protobuf::io::StringOutputStream stream(&expected_bytes);
    google::protobuf::io::CodedOutputStream coded(&stream);
    coded.SetSerializationDeterministic(true);
    expected.SerializeToCodedStream(&coded);
  }
  std::string bytes = "earlier";  // the range is within the whole string
  const IdentityRange range = AppendTimeSeries(&bytes, b->targets()[0], PendingPoint{0, 1000, 1000, 0.5, nullptr});
  EXPECT_EQ(bytes.substr(7), expected_bytes);

  // IdentityOf: the same series without its point, as one string (the send journal's key).
  whole.clear_points();
  std::string identity_bytes;
  {
    google::protobuf::io::StringOutputStream stream(&identity_bytes);
    google::protobuf::io::CodedOutputStream coded(&stream);
    coded.SetSerializationDeterministic(true);
    whole.SerializeToCodedStream(&coded);
  }
  EXPECT_EQ(IdentityOf(b->targets()[0]), identity_bytes);
  EXPECT_EQ(bytes.substr(range.offset, range.size), identity_bytes) << "AppendTimeSeries' range of the identity";
  EXPECT_NE(IdentityOf(a->targets()[0]), IdentityOf(b->targets()[0]));
}

// protobuf's deterministic serialization of a series' identity: what IdentityOf must return, byte for
// byte (the send journal, kept on disk, keys series by these bytes).
std::string DeterministicIdentity(const testing::LabelPairs& labels, std::string_view type_suffix,
                                  google::api::MetricDescriptor::MetricKind kind,
                                  google::api::MetricDescriptor::ValueType value_type) {
  google::monitoring::v3::TimeSeries whole;
  SetFlagResource(&whole);
  auto& resource = *whole.mutable_resource()->mutable_labels();
  for (const auto& [name, value] : labels) {
    if (name == "__name__") {
      whole.mutable_metric()->set_type("prometheus.googleapis.com/" + value + "/" + std::string(type_suffix));
    } else if (resource.contains(name)) {
      if (!value.empty()) resource[name] = value;
    } else {
      (*whole.mutable_metric()->mutable_labels())[name] = value;
    }
  }
  whole.set_metric_kind(kind);
  whole.set_value_type(value_type);
  std::string bytes;
  google::protobuf::io::StringOutputStream stream(&bytes);
  google::protobuf::io::CodedOutputStream coded(&stream);
  coded.SetSerializationDeterministic(true);
  whole.SerializeToCodedStream(&coded);
  return bytes;
}

// The identity is written by hand (BuildEntry); it must be the bytes protobuf writes, for label sets
// of every shape: empty values, two-byte lengths, UTF-8, resource labels set or not, two targets.
TEST_F(TransformTest, IdentityIsProtobufsDeterministicSerialization) {
  using google::api::MetricDescriptor;
  const std::string long_value(300, 'x');
  const std::vector<testing::LabelPairs> label_sets = {
      {{"__name__", "up"}},
      {{"__name__", "http_requests_total"}, {"code", "200"}, {"empty", ""}, {"instance", "h:1"}, {"job", "api"},
       {"long", long_value}, {"path", "/caf\xc3\xa9"}},
      {{"__name__", "m"}, {"a", "1"}, {"cluster", "c"}, {"location", "l"}, {"namespace", "n"}, {"project_id", "p"},
       {"zz", "2"}},
  };
  TransformOptions two_targets = Defaults();
  two_targets.untyped_as_counter = true;
  for (const testing::LabelPairs& labels : label_sets) {
    auto counter = Build(labels, MetricType::kCounter);
    EXPECT_EQ(IdentityOf(counter->targets()[0]),
              DeterministicIdentity(labels, "counter", MetricDescriptor::CUMULATIVE, MetricDescriptor::DOUBLE));
    auto untyped = Build(labels, MetricType::kUnspecified, two_targets);
    ASSERT_EQ(untyped->target_count, 2);
    EXPECT_EQ(IdentityOf(untyped->targets()[0]),
              DeterministicIdentity(labels, "unknown", MetricDescriptor::GAUGE, MetricDescriptor::DOUBLE));
    EXPECT_EQ(IdentityOf(untyped->targets()[1]), DeterministicIdentity(labels, "unknown:counter",
                                                                       MetricDescriptor::CUMULATIVE,
                                                                       MetricDescriptor::DOUBLE));
  }
  ::prometheus::prompb::Histogram first;
  first.set_count_int(1);
  first.set_timestamp(1000);
  auto histogram = BuildHistogram(first, MetricType::kHistogram);
  EXPECT_EQ(IdentityOf(histogram->targets()[0]),
            DeterministicIdentity({{"__name__", "latency_seconds"}, {"instance", "i"}}, "histogram",
                                  MetricDescriptor::CUMULATIVE, MetricDescriptor::DISTRIBUTION));
}

// Label sets that did not come from a decoded series (which CheckLabels keeps sorted) get their
// metric labels sorted, as protobuf would write them.
TEST_F(TransformTest, UnsortedLabelsAreWrittenSorted) {
  const testing::LabelPairs sorted = {{"__name__", "up"}, {"a", "1"}, {"b", "2"}, {"c", "3"}};
  request_.Clear();
  for (size_t i : {0, 3, 1, 2}) request_.labels.push_back({sorted[i].first, sorted[i].second});
  Series series;
  series.labels_count = 4;
  request_.series.push_back(series);
  Transform transform(Defaults(), &projects_);
  auto entry = transform.BuildEntry(request_, request_.series[0], MetricType::kGauge);
  using google::api::MetricDescriptor;
  EXPECT_EQ(IdentityOf(entry->targets()[0]),
            DeterministicIdentity(sorted, "gauge", MetricDescriptor::GAUGE, MetricDescriptor::DOUBLE));
}

TEST_F(TransformTest, SeriesLabelsWinOverFlags) {
  auto entry = Build({{"__name__", "up"}, {"cluster", "c1"}, {"location", "us-east1"}, {"project_id", "p1"}},
                     MetricType::kGauge);
  auto ts = Encode(*entry, Apply(entry.get(), 5000, 1)[0]);
  EXPECT_EQ(ts.resource().labels().at("project_id"), "p1");
  EXPECT_EQ(ts.resource().labels().at("location"), "us-east1");
  EXPECT_EQ(ts.resource().labels().at("cluster"), "c1");
  EXPECT_EQ(projects_.Name(entry->project), "projects/p1");
}

TEST_F(TransformTest, MissingProjectOrLocationDropsTheSeries) {
  TransformOptions options;
  options.project_id = "p";
  auto entry = Build({{"__name__", "up"}}, MetricType::kGauge, options);
  EXPECT_EQ(entry->drop_reason, SeriesDropReason::kMissingProjectOrLocation);
  EXPECT_TRUE(Apply(entry.get(), 1000, 1).empty());
  EXPECT_EQ(Dropped(PointDrop::kSeriesDropped), 1u);
}

TEST_F(TransformTest, LabelLimits) {
  EXPECT_EQ(Build({{"__name__", "up"}, {std::string(101, 'k'), "v"}}, MetricType::kGauge)->drop_reason,
            SeriesDropReason::kLabelLimits);
  EXPECT_EQ(Build({{"__name__", "up"}, {"k", std::string(1025, 'v')}}, MetricType::kGauge)->drop_reason,
            SeriesDropReason::kLabelLimits);
  testing::LabelPairs many = {{"__name__", "up"}};
  for (int i = 0; i < 101; ++i) many.emplace_back("l" + std::to_string(1000 + i), "v");
  EXPECT_EQ(Build(many, MetricType::kGauge)->drop_reason, SeriesDropReason::kLabelLimits);
  many.pop_back();
  EXPECT_EQ(Build(many, MetricType::kGauge)->drop_reason, SeriesDropReason::kNone);
  EXPECT_EQ(Build({{"__name__", "up"}, {std::string(100, 'k'), std::string(1024, 'v')}}, MetricType::kGauge)
                ->drop_reason,
            SeriesDropReason::kNone);
}

TEST_F(TransformTest, CounterBaselineThenDeltasThenReset) {
  auto entry = Build({{"__name__", "requests_total"}}, MetricType::kCounter);
  EXPECT_TRUE(Apply(entry.get(), 10'000, 100).empty());  // baseline
  EXPECT_EQ(Dropped(PointDrop::kCounterBaseline), 1u);
  auto p = Apply(entry.get(), 20'000, 130);
  ASSERT_EQ(p.size(), 1u);
  EXPECT_EQ(p[0].start_ms, 10'000);
  EXPECT_EQ(p[0].end_ms, 20'000);
  EXPECT_EQ(p[0].value, 30);
  auto ts = Encode(*entry, p[0]);
  EXPECT_EQ(ts.metric().type(), "prometheus.googleapis.com/requests_total/counter");
  EXPECT_EQ(ts.metric_kind(), google::api::MetricDescriptor::CUMULATIVE);
  EXPECT_EQ(ts.points(0).interval().start_time().seconds(), 10);
  EXPECT_EQ(ts.points(0).interval().end_time().seconds(), 20);
  // A decrease is a reset: the value counts from zero and starts 1 ms before the sample.
  p = Apply(entry.get(), 30'000, 5);
  ASSERT_EQ(p.size(), 1u);
  EXPECT_EQ(p[0].start_ms, 29'999);
  EXPECT_EQ(p[0].value, 5);
  p = Apply(entry.get(), 40'000, 8);
  EXPECT_EQ(p[0].start_ms, 29'999);
  EXPECT_EQ(p[0].value, 8);
}

TEST_F(TransformTest, SenderStartTimestampSendsEverySample) {
  auto entry = Build({{"__name__", "requests_total"}}, MetricType::kCounter);
  auto p = Apply(entry.get(), 10'000, 7, /*start_ms=*/4'000);
  ASSERT_EQ(p.size(), 1u);
  EXPECT_EQ(p[0].start_ms, 4'000);
  EXPECT_EQ(p[0].value, 7);
  EXPECT_TRUE(Apply(entry.get(), 20'000, 9, /*start_ms=*/20'000).empty());
  EXPECT_EQ(Dropped(PointDrop::kStartNotBeforeEnd), 1u);
}

TEST_F(TransformTest, DuplicatesAndOlderSamplesAreDropped) {
  auto entry = Build({{"__name__", "g"}}, MetricType::kGauge);
  EXPECT_EQ(Apply(entry.get(), 10'000, 1).size(), 1u);
  EXPECT_TRUE(Apply(entry.get(), 10'000, 1).empty());
  EXPECT_TRUE(Apply(entry.get(), 9'000, 1).empty());
  EXPECT_EQ(Dropped(PointDrop::kDuplicate), 2u);
}

constexpr int64_t kFixedNowMs = 1'800'000'000'000;

TEST_F(TransformTest, PointsGcmWouldRefuseForAgeAreDroppedWithoutTouchingTheSeries) {
  TransformOptions options = Defaults();
  options.max_point_age_ms = kGcmMaxPointAgeMs;
  options.max_point_future_ms = kGcmMaxPointFutureMs;
  options.now_ms = [] { return kFixedNowMs; };
  auto entry = Build({{"__name__", "c_total"}}, MetricType::kCounter, options);
  EXPECT_TRUE(Apply(entry.get(), kFixedNowMs - 26 * 3600 * 1000LL, 1).empty());
  EXPECT_TRUE(Apply(entry.get(), 0, 1).empty());  // 1970
  EXPECT_EQ(Dropped(PointDrop::kTooOld), 2u);
  EXPECT_TRUE(Apply(entry.get(), kFixedNowMs + 10 * 60 * 1000, 1).empty());
  EXPECT_TRUE(Apply(entry.get(), std::numeric_limits<int64_t>::max(), 1).empty());
  EXPECT_EQ(Dropped(PointDrop::kInFuture), 2u);
  // Neither moved the series' last sample time: samples inside the window still make points.
  EXPECT_TRUE(Apply(entry.get(), kFixedNowMs - 24 * 3600 * 1000LL, 10).empty());  // the baseline
  auto p = Apply(entry.get(), kFixedNowMs + 4 * 60 * 1000, 15);
  ASSERT_EQ(p.size(), 1u);
  EXPECT_EQ(p[0].value, 5);
  EXPECT_EQ(Dropped(PointDrop::kDuplicate), 0u);
  EXPECT_STREQ(PointDropName(PointDrop::kTooOld), "too_old");
  EXPECT_STREQ(PointDropName(PointDrop::kInFuture), "in_future");
}

TEST_F(TransformTest, NoAgeCheckUnlessConfigured) {
  auto entry = Build({{"__name__", "g"}}, MetricType::kGauge);
  EXPECT_EQ(Apply(entry.get(), 1000, 1).size(), 1u);
  EXPECT_EQ(Dropped(PointDrop::kTooOld), 0u);
}

TEST_F(TransformTest, SamplingPeriodThinsFastSeries) {
  auto entry = Build({{"__name__", "g"}}, MetricType::kGauge);
  int sent = 0;
  for (int64_t t = 1000; t <= 21'000; t += 1000) sent += static_cast<int>(Apply(entry.get(), t, 1).size());
  EXPECT_EQ(sent, 5);  // 1 s, 6 s, 11 s, 16 s, 21 s
  EXPECT_EQ(Dropped(PointDrop::kSamplingPeriod), 16u);
}

TEST_F(TransformTest, StaleMarkerEndsCounterState) {
  auto entry = Build({{"__name__", "c_total"}}, MetricType::kCounter);
  Apply(entry.get(), 10'000, 100);
  EXPECT_EQ(Apply(entry.get(), 20'000, 110).size(), 1u);
  EXPECT_TRUE(Apply(entry.get(), 25'000, testing::StaleMarker()).empty());
  EXPECT_EQ(Dropped(PointDrop::kStaleMarker), 1u);
  EXPECT_TRUE(Apply(entry.get(), 60'000, 3).empty());  // a new baseline
  auto p = Apply(entry.get(), 70'000, 4);
  ASSERT_EQ(p.size(), 1u);
  EXPECT_EQ(p[0].start_ms, 60'000);
  EXPECT_EQ(p[0].value, 1);
}

TEST_F(TransformTest, UntypedIsUnknownGaugeAndCounter) {
  auto entry = Build({{"__name__", "mystery"}}, MetricType::kUnspecified);
  ASSERT_EQ(entry->target_count, 2);
  auto p = Apply(entry.get(), 10'000, 5);
  ASSERT_EQ(p.size(), 1u);  // the counter half takes its baseline
  EXPECT_EQ(Encode(*entry, p[0]).metric().type(), "prometheus.googleapis.com/mystery/unknown");
  p = Apply(entry.get(), 20'000, 6);
  ASSERT_EQ(p.size(), 2u);
  auto counter = Encode(*entry, p[1]);
  EXPECT_EQ(counter.metric().type(), "prometheus.googleapis.com/mystery/unknown:counter");
  EXPECT_EQ(counter.metric_kind(), google::api::MetricDescriptor::CUMULATIVE);
  EXPECT_EQ(counter.points(0).value().double_value(), 1);

  TransformOptions no_counter = Defaults();
  no_counter.untyped_as_counter = false;
  EXPECT_EQ(Build({{"__name__", "mystery"}}, MetricType::kUnspecified, no_counter)->target_count, 1);
}

TEST_F(TransformTest, SummaryParts) {
  auto quantile = Build({{"__name__", "rpc_seconds"}, {"quantile", "0.9"}}, MetricType::kSummary);
  EXPECT_EQ(Encode(*quantile, Apply(quantile.get(), 1000, 0.2)[0]).metric().type(),
            "prometheus.googleapis.com/rpc_seconds/summary");
  EXPECT_EQ(quantile->targets()[0].kind, PointKind::kGauge);
  auto sum = Build({{"__name__", "rpc_seconds_sum"}}, MetricType::kSummary);
  EXPECT_EQ(sum->targets()[0].kind, PointKind::kCumulative);
  Apply(sum.get(), 1000, 1);
  EXPECT_EQ(Encode(*sum, Apply(sum.get(), 9000, 2)[0]).metric().type(),
            "prometheus.googleapis.com/rpc_seconds_sum/summary:counter");
  auto count = Build({{"__name__", "rpc_seconds_count"}}, MetricType::kSummary);
  Apply(count.get(), 1000, 1);
  EXPECT_EQ(Encode(*count, Apply(count.get(), 9000, 2)[0]).metric().type(),
            "prometheus.googleapis.com/rpc_seconds_count/summary");
}

TEST_F(TransformTest, MatchFilterDecidesOncePerSeries) {
  TransformOptions options = Defaults();
  std::string error;
  options.filter = SeriesFilter::Parse({"{job=\"node\", __name__=~\"node_cpu.*\"}", "up"}, &error);
  ASSERT_NE(options.filter, nullptr) << error;
  EXPECT_EQ(Build({{"__name__", "node_cpu_seconds_total"}, {"job", "node"}}, MetricType::kCounter, options)
                ->drop_reason,
            SeriesDropReason::kNone);
  auto other = Build({{"__name__", "node_load1"}, {"job", "node"}}, MetricType::kGauge, options);
  EXPECT_EQ(other->drop_reason, SeriesDropReason::kFiltered);
  EXPECT_TRUE(Apply(other.get(), 1000, 1).empty());
  EXPECT_EQ(Dropped(PointDrop::kSeriesDropped), 1u);
  EXPECT_EQ(Build({{"__name__", "up"}, {"job", "x"}}, MetricType::kGauge, options)->drop_reason,
            SeriesDropReason::kNone);
}

TEST_F(TransformTest, DropLabelRemovesMetricLabels) {
  TransformOptions options = Defaults();
  options.drop_labels = {"pod_template_hash", "instance"};
  auto entry = Build({{"__name__", "up"}, {"instance", "i"}, {"mode", "m"}, {"pod_template_hash", "abc"}},
                     MetricType::kGauge, options);
  auto ts = Encode(*entry, Apply(entry.get(), 1000, 1)[0]);
  EXPECT_EQ(ts.metric().labels().size(), 1u);
  EXPECT_EQ(ts.metric().labels().at("mode"), "m");
  EXPECT_EQ(ts.resource().labels().at("instance"), "i");  // resource labels are not affected
}

TEST_F(TransformTest, ClassicHistogramSeriesArePartsForTheAssembler) {
  auto bucket = Build({{"__name__", "lat_bucket"}, {"job", "j"}, {"le", "0.1"}}, MetricType::kHistogram);
  EXPECT_EQ(bucket->drop_reason, SeriesDropReason::kNone);
  EXPECT_EQ(bucket->target_count, 0);
  ASSERT_NE(bucket->histogram_part, nullptr);
  EXPECT_EQ(bucket->histogram_part->part, HistogramPart::kBucket);
  EXPECT_DOUBLE_EQ(bucket->histogram_part->le, 0.1);
  auto sum = Build({{"__name__", "lat_sum"}, {"job", "j"}}, MetricType::kHistogram);
  ASSERT_NE(sum->histogram_part, nullptr);
  EXPECT_EQ(sum->histogram_part->part, HistogramPart::kSum);
  EXPECT_EQ(sum->histogram_part->histogram_hash, bucket->histogram_part->histogram_hash);
  EXPECT_EQ(Build({{"__name__", "lat_bucket"}, {"le", "x"}}, MetricType::kHistogram)->drop_reason,
            SeriesDropReason::kHistogramPartUnrecognised);
  EXPECT_EQ(Build({{"__name__", "lat_created"}}, MetricType::kHistogram)->drop_reason,
            SeriesDropReason::kHistogramPartUnrecognised);
}

std::vector<int64_t> BucketCounts(const google::monitoring::v3::TimeSeries& ts) {
  const auto& counts = ts.points(0).value().distribution_value().bucket_counts();
  return {counts.begin(), counts.end()};
}

TEST_F(TransformTest, NativeHistogramIsCumulativeDistributionFromBaseline) {
  auto entry = BuildHistogram(Exponential(10'000, {1, 2}, 5), MetricType::kHistogram);
  ASSERT_EQ(entry->drop_reason, SeriesDropReason::kNone);
  EXPECT_FALSE(ApplyHistogram(entry.get(), Exponential(10'000, {1, 2}, 5)).has_value());  // the baseline
  EXPECT_EQ(Dropped(PointDrop::kCounterBaseline), 1u);

  auto ts = ApplyHistogram(entry.get(), Exponential(20'000, {4, 2, 3}, 20));
  ASSERT_TRUE(ts.has_value());
  EXPECT_EQ(ts->metric().type(), "prometheus.googleapis.com/latency_seconds/histogram");
  EXPECT_EQ(ts->metric_kind(), google::api::MetricDescriptor::CUMULATIVE);
  EXPECT_EQ(ts->value_type(), google::api::MetricDescriptor::DISTRIBUTION);
  EXPECT_EQ(ts->points(0).interval().start_time().seconds(), 10);
  EXPECT_EQ(ts->points(0).interval().end_time().seconds(), 20);
  const auto& d = ts->points(0).value().distribution_value();
  // Delta since the baseline: bucket 1 (1,2] +3, bucket 2 (2,4] +0, bucket 3 (4,8] +3; sum +15.
  EXPECT_EQ(d.count(), 6);
  EXPECT_DOUBLE_EQ(d.mean(), 15.0 / 6);
  EXPECT_DOUBLE_EQ(d.bucket_options().exponential_buckets().growth_factor(), 2);
  EXPECT_DOUBLE_EQ(d.bucket_options().exponential_buckets().scale(), 1);
  EXPECT_EQ(BucketCounts(*ts), (std::vector<int64_t>{0, 3, 0, 3}));

  // Fewer observations than before: a reset, counted whole from 1 ms before the sample.
  ts = ApplyHistogram(entry.get(), Exponential(30'000, {1}, 1.5));
  ASSERT_TRUE(ts.has_value());
  EXPECT_EQ(ts->points(0).interval().start_time().seconds(), 29);
  EXPECT_EQ(ts->points(0).interval().start_time().nanos(), 999'000'000);
  EXPECT_EQ(ts->points(0).value().distribution_value().count(), 1);
  EXPECT_EQ(BucketCounts(*ts), (std::vector<int64_t>{0, 1}));
}

TEST_F(TransformTest, NativeHistogramWithSenderStartIsSentWhole) {
  auto entry = BuildHistogram(Exponential(10'000, {1, 2}, 5), MetricType::kHistogram);
  auto ts = ApplyHistogram(entry.get(), Exponential(10'000, {1, 2}, 5), /*series_start_ms=*/4'000);
  ASSERT_TRUE(ts.has_value());
  EXPECT_EQ(ts->points(0).interval().start_time().seconds(), 4);
  EXPECT_EQ(ts->points(0).value().distribution_value().count(), 3);
}

TEST_F(TransformTest, GaugeHistogramIsGaugeDistribution) {
  ::prometheus::prompb::Histogram h = Exponential(10'000, {3, 1}, 7);
  h.set_reset_hint(::prometheus::prompb::Histogram::GAUGE);
  auto entry = BuildHistogram(h, MetricType::kGaugeHistogram);
  auto ts = ApplyHistogram(entry.get(), h);
  ASSERT_TRUE(ts.has_value());
  EXPECT_EQ(ts->metric_kind(), google::api::MetricDescriptor::GAUGE);
  EXPECT_FALSE(ts->points(0).interval().has_start_time());
  EXPECT_EQ(BucketCounts(*ts), (std::vector<int64_t>{0, 3, 1}));
}

TEST_F(TransformTest, NativeHistogramStaleMarkerEndsBaselineAndFloatSamplesMismatch) {
  auto entry = BuildHistogram(Exponential(10'000, {1}, 1), MetricType::kHistogram);
  EXPECT_FALSE(ApplyHistogram(entry.get(), Exponential(10'000, {1}, 1)).has_value());
  ::prometheus::prompb::Histogram stale = Exponential(20'000, {}, 0);
  const uint64_t stale_bits = kStaleMarkerBits;
  double stale_nan;
  std::memcpy(&stale_nan, &stale_bits, sizeof stale_nan);
  stale.set_sum(stale_nan);
  EXPECT_FALSE(ApplyHistogram(entry.get(), stale).has_value());
  EXPECT_EQ(Dropped(PointDrop::kStaleMarker), 1u);
  EXPECT_FALSE(ApplyHistogram(entry.get(), Exponential(30'000, {5}, 9)).has_value());  // a new baseline
  EXPECT_EQ(Dropped(PointDrop::kCounterBaseline), 2u);
  EXPECT_TRUE(Apply(entry.get(), 40'000, 1).empty());
  EXPECT_EQ(Dropped(PointDrop::kValueTypeMismatch), 1u);
  EXPECT_TRUE(ApplyHistogram(entry.get(), Exponential(50'000, {6}, 10)).has_value());
}

TEST_F(TransformTest, ExemplarsGoWithTheNextDistributionPoint) {
  ::prometheus::prompb::Histogram first = Exponential(10'000, {1}, 1);
  ::prometheus::prompb::WriteRequest message;
  auto* series = testing::AddSeriesV1(&message, {{"__name__", "latency_seconds"}, {"instance", "i"}}, {});
  series->add_histograms()->CopyFrom(first);
  auto* exemplar = series->add_exemplars();
  exemplar->set_value(1.5);
  exemplar->set_timestamp(9'000);
  auto* label = exemplar->add_labels();
  label->set_name("trace_id");
  label->set_value("abc");
  label = exemplar->add_labels();
  label->set_name("span_id");
  label->set_value("def");
  request_.Clear();
  request_.body = message.SerializeAsString();
  ASSERT_EQ(DecodeRemoteWriteV1(&request_), nullptr);
  transform_ = std::make_unique<Transform>(Defaults(), &projects_);
  auto entry = transform_->BuildEntry(request_, request_.series[0], MetricType::kHistogram);
  transform_->BufferExemplars(entry.get(), request_, request_.series[0]);
  EXPECT_FALSE(ApplyHistogram(entry.get(), first).has_value());  // the baseline keeps the exemplar waiting
  auto ts = ApplyHistogram(entry.get(), Exponential(20'000, {3}, 4));
  ASSERT_TRUE(ts.has_value());
  const auto& exemplars = ts->points(0).value().distribution_value().exemplars();
  ASSERT_EQ(exemplars.size(), 1);
  EXPECT_DOUBLE_EQ(exemplars[0].value(), 1.5);
  EXPECT_EQ(exemplars[0].attachments(0).type_url(), "type.googleapis.com/google.monitoring.v3.SpanContext");
  ts = ApplyHistogram(entry.get(), Exponential(30'000, {4}, 5));
  ASSERT_TRUE(ts.has_value());
  EXPECT_EQ(ts->points(0).value().distribution_value().exemplars_size(), 0);  // each exemplar once
}

// A classic histogram as the assembler hands it over: custom buckets (bounds, per-bucket counts).
AssembledHistogram Classic(int64_t ts, std::vector<double> bounds, std::vector<double> counts, double sum) {
  AssembledHistogram a;
  a.histogram.schema = kCustomBucketsSchema;
  a.histogram.float_counts = true;
  a.histogram.timestamp_ms = ts;
  a.histogram.custom_values = std::move(bounds);
  a.histogram.positive_spans = {HistogramSpan{0, static_cast<uint32_t>(counts.size())}};
  for (double c : counts) a.histogram.count += c;
  a.histogram.positive_counts = std::move(counts);
  a.histogram.sum = sum;
  return a;
}

TEST_F(TransformTest, AssembledHistogramLayoutChangeIsANewBaselineAndADecreaseAReset) {
  auto entry = Build({{"__name__", "lat"}}, MetricType::kHistogram);
  transform_ = std::make_unique<Transform>(Defaults(), &projects_);
  entry = transform_->BuildEntry(request_, request_.series[0], MetricType::kHistogram, /*distribution=*/true);
  auto apply = [&](AssembledHistogram a) -> std::optional<google::monitoring::v3::TimeSeries> {
    PendingPoint point;
    if (transform_->ApplyAssembledHistogram(entry.get(), &a, &point, &drops_) == 0) return std::nullopt;
    return Encode(*entry, point);
  };
  EXPECT_FALSE(apply(Classic(10'000, {1}, {1, 1}, 2)).has_value());  // baseline
  auto ts = apply(Classic(20'000, {1}, {3, 2}, 6));
  ASSERT_TRUE(ts.has_value());
  EXPECT_EQ(BucketCounts(*ts), (std::vector<int64_t>{2, 1}));
  EXPECT_EQ(ts->points(0).interval().start_time().seconds(), 10);
  // A bucket appears (a late first set, a relabelled layout): a new baseline, no point.
  EXPECT_FALSE(apply(Classic(30'000, {0.5, 1}, {2, 1, 2}, 7)).has_value());
  EXPECT_EQ(Dropped(PointDrop::kHistogramLayoutChange), 1u);
  ts = apply(Classic(40'000, {0.5, 1}, {3, 1, 2}, 8));
  ASSERT_TRUE(ts.has_value());
  EXPECT_EQ(ts->points(0).interval().start_time().seconds(), 30);  // never before the previous end
  EXPECT_EQ(BucketCounts(*ts), (std::vector<int64_t>{1}));
  // One bucket going down is a reset even when the total does not: whole values, start just before.
  ts = apply(Classic(50'000, {0.5, 1}, {1, 5, 0}, 8));
  ASSERT_TRUE(ts.has_value());
  EXPECT_EQ(ts->points(0).interval().start_time().seconds(), 49);
  EXPECT_EQ(BucketCounts(*ts), (std::vector<int64_t>{1, 5}));
  // A stale marker ends the series' counter state.
  AssembledHistogram stale;
  stale.stale = true;
  stale.histogram.timestamp_ms = 60'000;
  EXPECT_FALSE(apply(std::move(stale)).has_value());
  EXPECT_FALSE(apply(Classic(70'000, {0.5, 1}, {1, 5, 1}, 9)).has_value());  // a new baseline
}

TEST_F(TransformTest, InvalidNativeHistogramIsCounted) {
  auto entry = BuildHistogram(Exponential(10'000, {1}, 1), MetricType::kHistogram);
  ::prometheus::prompb::Histogram bad = Exponential(20'000, {1, 2}, 1);
  bad.set_count_int(99);  // disagrees with its buckets
  EXPECT_FALSE(ApplyHistogram(entry.get(), bad).has_value());
  EXPECT_EQ(Dropped(PointDrop::kInvalidHistogram), 1u);
}

TEST(WireWriterTest, VarintSizeAgreesWithProtobufAtEveryLengthBoundary) {
  for (int bits = 0; bits <= 64; ++bits) {
    const uint64_t top = bits == 64 ? ~uint64_t{0} : (uint64_t{1} << bits) - 1;
    for (uint64_t value : {top, top + 1, top / 2 + 1}) {
      EXPECT_EQ(VarintSize(value), google::protobuf::io::CodedOutputStream::VarintSize64(value)) << value;
    }
  }
}

}  // namespace
}  // namespace prom2gcm
