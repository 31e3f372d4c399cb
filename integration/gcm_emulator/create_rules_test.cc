// CreateTimeSeries rules, one test per rule, each through a real gRPC channel to an in-process
// emulator: the status code, the message and the CreateTimeSeriesSummary in the status details.
#include <thread>

#include "integration/gcm_emulator/emulator_test_env.h"

namespace prom2gcm::emulator::testing {
namespace {

using google::api::MetricDescriptor;
using ::testing::HasSubstr;

class CreateRulesTest : public EmulatorTest {
 protected:
  // Expects INVALID_ARGUMENT for a one-series request, with `text` in the message and summary, and
  // nothing stored.
  void ExpectSeriesRejected(const TimeSeries& series, const std::string& text) {
    const grpc::Status status = Create({series});
    EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
    EXPECT_THAT(status.error_message(), HasSubstr("One or more TimeSeries could not be written: "));
    EXPECT_THAT(status.error_message(), HasSubstr(text));
    EXPECT_THAT(status.error_message(), HasSubstr(": timeSeries[0]"));
    const auto summary = SummaryOf(status);
    ASSERT_TRUE(summary.has_value());
    EXPECT_EQ(summary->total_point_count(), series.points_size());
    EXPECT_EQ(summary->success_point_count(), 0);
    ASSERT_EQ(summary->errors_size(), 1);
    EXPECT_EQ(summary->errors(0).status().code(), grpc::StatusCode::INVALID_ARGUMENT);
    EXPECT_THAT(summary->errors(0).status().message(), HasSubstr(text));
    EXPECT_EQ(summary->errors(0).point_count(), series.points_size());
  }

  void ExpectOk(const grpc::Status& status) { EXPECT_TRUE(status.ok()) << status.error_message(); }
};

TEST_F(CreateRulesTest, AcceptsValidGaugeAndCumulativeSeries) {
  ExpectOk(Create(
      {GaugeSeries({{"room", "a"}}, base_, 21.5), CumulativeSeries({}, base_ - 60 * kNanosPerSecond, base_, 7)}));
  EXPECT_EQ(StoredPoints(kGaugeType, {{"room", "a"}}), 1u);
  EXPECT_EQ(StoredPoints(kCounterType, {}), 1u);
  ExpectOk(Create({GaugeSeries({{"room", "a"}}, base_ + 5 * kNanosPerSecond, 22)}));
  EXPECT_EQ(StoredPoints(kGaugeType, {{"room", "a"}}), 2u);
}

TEST_F(CreateRulesTest, RejectsNameThatIsNotProjectsSlashId) {
  for (const std::string name : {"", "projects/", "test-project", "projects/a/b", "folders/x"}) {
    CreateTimeSeriesRequest request = RequestOf({GaugeSeries({}, base_, 1)});
    request.set_name(name);
    const grpc::Status status = Create(request);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << name;
    EXPECT_THAT(status.error_message(), HasSubstr("projects/{project_id}"));
    EXPECT_FALSE(SummaryOf(status).has_value());
  }
  EXPECT_EQ(emulator_->store().series_count(), 0u);
}

TEST_F(CreateRulesTest, RejectsRequestWithoutSeries) {
  const grpc::Status status = Create(std::vector<TimeSeries>{});
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(status.error_message(), HasSubstr("Request was missing field timeSeries"));
}

TEST_F(CreateRulesTest, RejectsMoreThan200SeriesAndStoresNone) {
  std::vector<TimeSeries> series;
  for (int i = 0; i < 201; ++i) series.push_back(GaugeSeries({{"i", std::to_string(i)}}, base_, i));
  const grpc::Status status = Create(series);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(status.error_message(), HasSubstr("at most 200 TimeSeries; it contains 201"));
  EXPECT_EQ(emulator_->store().series_count(), 0u);
  series.pop_back();
  ExpectOk(Create(series));
  EXPECT_EQ(emulator_->store().series_count(), 200u);
}

TEST_F(CreateRulesTest, RejectsSeriesWithoutExactlyOnePoint) {
  TimeSeries two_points = GaugeSeries({}, base_, 1);
  *two_points.add_points() = two_points.points(0);
  ExpectSeriesRejected(two_points, "Only one point can be written per TimeSeries per request.");
  TimeSeries no_point = GaugeSeries({}, base_, 1);
  no_point.clear_points();
  ExpectSeriesRejected(no_point, "Only one point can be written per TimeSeries per request.");
}

TEST_F(CreateRulesTest, RejectsTheSameSeriesTwiceInOneRequest) {
  TimeSeries first = GaugeSeries({{"a", "1"}, {"b", "2"}}, base_, 1);
  TimeSeries again = GaugeSeries({{"b", "2"}, {"a", "1"}}, base_ + 10 * kNanosPerSecond, 2);
  TimeSeries other = GaugeSeries({{"a", "1"}, {"b", "3"}}, base_, 3);
  const grpc::Status status = Create({first, again, other});
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(status.error_message(), HasSubstr("Duplicate TimeSeries encountered"));
  EXPECT_THAT(status.error_message(), HasSubstr("timeSeries[1]"));
  const auto summary = SummaryOf(status);
  ASSERT_TRUE(summary.has_value());
  EXPECT_EQ(summary->total_point_count(), 3);
  EXPECT_EQ(summary->success_point_count(), 2);
  EXPECT_EQ(ErrorPointsContaining(*summary, "Duplicate TimeSeries encountered"), 1);
  EXPECT_EQ(StoredPoints(kGaugeType, {{"a", "1"}, {"b", "2"}}), 1u);
}

TEST_F(CreateRulesTest, RejectsValueThatDoesNotMatchTheValueType) {
  TimeSeries int_in_double = GaugeSeries({}, base_, 1);
  int_in_double.mutable_points(0)->mutable_value()->set_int64_value(1);
  ExpectSeriesRejected(int_in_double,
                       "the value type of the point (INT64) does not match the value type of the "
                       "time series (DOUBLE)");
  TimeSeries double_in_distribution = GaugeSeries({}, base_, 1);
  double_in_distribution.set_value_type(MetricDescriptor::DISTRIBUTION);
  ExpectSeriesRejected(double_in_distribution,
                       "(DOUBLE) does not match the value type of the time series (DISTRIBUTION)");
  TimeSeries unspecified = GaugeSeries({}, base_, 1);
  unspecified.set_value_type(MetricDescriptor::VALUE_TYPE_UNSPECIFIED);
  ExpectSeriesRejected(unspecified, "Field valueType had an invalid value of \"VALUE_TYPE_UNSPECIFIED\"");
}

TEST_F(CreateRulesTest, AcceptsInt64AndDistributionValues) {
  TimeSeries int_series = GaugeSeries({}, base_, 0, "prometheus.googleapis.com/int/gauge");
  int_series.set_value_type(MetricDescriptor::INT64);
  int_series.mutable_points(0)->mutable_value()->set_int64_value(42);
  TimeSeries histogram =
      CumulativeSeries({}, base_ - kNanosPerMinute, base_, 0, "prometheus.googleapis.com/h/histogram");
  histogram.set_value_type(MetricDescriptor::DISTRIBUTION);
  auto* distribution = histogram.mutable_points(0)->mutable_value()->mutable_distribution_value();
  distribution->set_count(3);
  distribution->set_mean(2);
  distribution->mutable_bucket_options()->mutable_explicit_buckets()->add_bounds(1);
  distribution->mutable_bucket_options()->mutable_explicit_buckets()->add_bounds(5);
  for (int64_t count : {1, 1, 1}) distribution->add_bucket_counts(count);
  ExpectOk(Create({int_series, histogram}));
  distribution->add_bucket_counts(1);
  histogram.mutable_metric()->mutable_labels()->insert({"le", "x"});
  ExpectSeriesRejected(histogram, "bucket counts, more than the 3 buckets");
  distribution->mutable_bucket_counts()->RemoveLast();
  distribution->set_count(5);
  ExpectSeriesRejected(histogram, "The sum of the bucket counts of a distribution (3) does not equal its count (5)");
  distribution->set_count(3);
  distribution->add_exemplars()->set_value(4);
  distribution->add_exemplars()->set_value(0.5);
  ExpectSeriesRejected(histogram, "exemplars of a distribution must be in increasing order of value");
}

TEST_F(CreateRulesTest, RejectsMetricKindOtherThanGaugeOrCumulative) {
  TimeSeries delta = CumulativeSeries({}, base_ - kNanosPerMinute, base_, 1);
  delta.set_metric_kind(MetricDescriptor::DELTA);
  ExpectSeriesRejected(delta,
                       "Field metricKind had an invalid value of \"DELTA\": the metric kind must be GAUGE or "
                       "CUMULATIVE.");
  TimeSeries unspecified = GaugeSeries({}, base_, 1);
  unspecified.set_metric_kind(MetricDescriptor::METRIC_KIND_UNSPECIFIED);
  ExpectSeriesRejected(unspecified, "\"METRIC_KIND_UNSPECIFIED\"");
}

TEST_F(CreateRulesTest, RejectsGaugeWhoseStartTimeIsNotItsEndTime) {
  TimeSeries gauge = GaugeSeries({}, base_, 1);
  *gauge.mutable_points(0)->mutable_interval()->mutable_start_time() = ToTimestamp(base_ - kNanosPerSecond);
  ExpectSeriesRejected(gauge, "The start time must be equal to the end time (" + FormatTime(base_) +
                                  ") for the gauge metric \"" + kGaugeType + "\".");
  *gauge.mutable_points(0)->mutable_interval()->mutable_start_time() = ToTimestamp(base_);
  ExpectOk(Create({gauge}));
}

TEST_F(CreateRulesTest, RejectsCumulativeWhoseStartIsNotBeforeItsEnd) {
  ExpectSeriesRejected(CumulativeSeries({}, base_, base_, 1), "The start time must be before the end time (" +
                                                                  FormatTime(base_) + ") for the non-gauge metric \"" +
                                                                  kCounterType + "\".");
  ExpectSeriesRejected(CumulativeSeries({}, base_ + 1, base_, 1), "The start time must be before the end time");
  TimeSeries no_start = CumulativeSeries({}, base_ - 1, base_, 1);
  no_start.mutable_points(0)->mutable_interval()->clear_start_time();
  ExpectSeriesRejected(no_start, "A start time is required for the non-gauge metric");
}

TEST_F(CreateRulesTest, CumulativeKeepsItsStartUntilAResetThatStartsAfterThePreviousPoint) {
  const TimeNs start = base_ - kNanosPerMinute;
  const TimeNs step = 10 * kNanosPerSecond;
  ExpectOk(Create({CumulativeSeries({}, start, base_, 1)}));
  ExpectOk(Create({CumulativeSeries({}, start, base_ + step, 2)}));
  // A new start before the previous point's end is neither the same series run nor a valid reset.
  ExpectSeriesRejected(CumulativeSeries({}, start + kNanosPerSecond, base_ + 2 * step, 3),
                       "of a cumulative point that resets the series must not be before the end time (" +
                           FormatTime(base_ + step) + ") of the most recent point.");
  ExpectSeriesRejected(CumulativeSeries({}, start - kNanosPerSecond, base_ + 2 * step, 3), "resets the series");
  // A reset starting at (or after) the previous end is fine.
  ExpectOk(Create({CumulativeSeries({}, base_ + step, base_ + 2 * step, 0)}));
  ExpectOk(Create({CumulativeSeries({}, base_ + step, base_ + 3 * step, 1)}));
  EXPECT_EQ(StoredPoints(kCounterType, {}), 4u);
}

TEST_F(CreateRulesTest, RejectsPointNotNewerThanTheLatestStoredPoint) {
  ExpectOk(Create({GaugeSeries({}, base_, 1)}));
  const std::string message =
      "Points must be written in order. One or more of the points specified had an older "
      "start time than the most recent point.";
  ExpectSeriesRejected(GaugeSeries({}, base_ - 10 * kNanosPerSecond, 2), message);
  ExpectSeriesRejected(GaugeSeries({}, base_, 2), message);
  EXPECT_EQ(StoredPoints(kGaugeType, {}), 1u);
}

TEST_F(CreateRulesTest, RejectsPointSoonerThanTheSamplingPeriodAfterTheLatest) {
  ExpectOk(Create({GaugeSeries({}, base_, 1)}));
  ExpectSeriesRejected(GaugeSeries({}, base_ + 4999 * kNanosPerMilli, 2),
                       "One or more points were written more frequently than the maximum sampling period "
                       "configured for the metric.");
  ExpectOk(Create({GaugeSeries({}, base_ + 5 * kNanosPerSecond, 2)}));
}

class ShortSamplingPeriodTest : public CreateRulesTest {
 protected:
  Emulator::Options EmulatorOptions() override {
    Emulator::Options options;
    options.sampling_period = 10 * kNanosPerMilli;
    return options;
  }
};

TEST_F(ShortSamplingPeriodTest, SamplingPeriodIsConfigurable) {
  ExpectOk(Create({GaugeSeries({}, base_, 1)}));
  ExpectSeriesRejected(GaugeSeries({}, base_ + 5 * kNanosPerMilli, 2), "maximum sampling period");
  ExpectOk(Create({GaugeSeries({}, base_ + 10 * kNanosPerMilli, 2)}));
}

TEST_F(CreateRulesTest, RejectsMetricTypeOutsidePrometheusDomain) {
  ExpectSeriesRejected(GaugeSeries({}, base_, 1, "custom.googleapis.com/temperature"),
                       "The metric type \"custom.googleapis.com/temperature\" is not allowed for the monitored "
                       "resource type \"prometheus_target\": it must start with \"prometheus.googleapis.com/\".");
  ExpectSeriesRejected(GaugeSeries({}, base_, 1, "prometheus.googleapis.com/"), "is not allowed");
}

TEST_F(CreateRulesTest, RejectsResourceTypeOtherThanPrometheusTarget) {
  TimeSeries series = GaugeSeries({}, base_, 1);
  series.mutable_resource()->set_type("gce_instance");
  ExpectSeriesRejected(series, "The monitored resource type \"gce_instance\" is not supported");
}

TEST_F(CreateRulesTest, RejectsMissingResourceLabels) {
  TimeSeries series = GaugeSeries({}, base_, 1);
  series.mutable_resource()->mutable_labels()->erase("job");
  series.mutable_resource()->mutable_labels()->erase("cluster");
  ExpectSeriesRejected(series, "The set of resource labels is incomplete. Missing labels: (cluster, job).");
}

TEST_F(CreateRulesTest, RejectsUnknownResourceLabel) {
  TimeSeries series = GaugeSeries({}, base_, 1);
  (*series.mutable_resource()->mutable_labels())["zone"] = "a";
  ExpectSeriesRejected(series, "Unrecognized resource label: zone");
}

TEST_F(CreateRulesTest, RejectsProjectIdOtherThanTheRequestsProject) {
  TimeSeries series = GaugeSeries({}, base_, 1);
  (*series.mutable_resource()->mutable_labels())["project_id"] = "other-project";
  ExpectSeriesRejected(series,
                       "The resource label project_id \"other-project\" does not match the project of the "
                       "request \"test-project\".");
}

TEST_F(CreateRulesTest, RejectsEmptyLocation) {
  TimeSeries series = GaugeSeries({}, base_, 1);
  (*series.mutable_resource()->mutable_labels())["location"] = "";
  ExpectSeriesRejected(series, "The resource label location must not be empty.");
}

TEST_F(CreateRulesTest, RejectsKindOrValueTypeOtherThanTheMetricWasCreatedWith) {
  ExpectOk(Create({GaugeSeries({{"room", "a"}}, base_, 1)}));
  TimeSeries as_cumulative = CumulativeSeries({{"room", "b"}}, base_ - kNanosPerMinute, base_, 1, kGaugeType);
  ExpectSeriesRejected(as_cumulative,
                       std::string("Metric kind for metric ") + kGaugeType + " must be GAUGE, but is CUMULATIVE.");
  TimeSeries as_int = GaugeSeries({{"room", "c"}}, base_, 1);
  as_int.set_value_type(MetricDescriptor::INT64);
  as_int.mutable_points(0)->mutable_value()->set_int64_value(1);
  ExpectSeriesRejected(as_int, std::string("Value type for metric ") + kGaugeType + " must be DOUBLE, but is INT64.");
}

TEST_F(CreateRulesTest, RejectsMoreThan100MetricLabels) {
  Labels labels;
  for (int i = 0; i < 101; ++i) labels["l" + std::to_string(i)] = "v";
  ExpectSeriesRejected(GaugeSeries(labels, base_, 1), "The metric has 101 labels, more than the limit of 100.");
  labels.erase("l0");
  ExpectOk(Create({GaugeSeries(labels, base_, 1)}));
}

TEST_F(CreateRulesTest, RejectsMetricLabelKeyLongerThan100Characters) {
  ExpectSeriesRejected(GaugeSeries({{std::string(101, 'k'), "v"}}, base_, 1), "must be 1 to 100 characters long");
  // A huge key is abbreviated in the message, which must fit in the gRPC trailers.
  ExpectSeriesRejected(GaugeSeries({{std::string(100000, 'k'), "v"}}, base_, 1),
                       "The metric label key \"" + std::string(128, 'k') + "...\" must be 1 to 100 characters long");
  ExpectOk(Create({GaugeSeries({{std::string(100, 'k'), "v"}}, base_, 1)}));
}

TEST_F(CreateRulesTest, RejectsMetricLabelValueLongerThan1024Characters) {
  ExpectSeriesRejected(GaugeSeries({{"k", std::string(1025, 'v')}}, base_, 1),
                       "The value of metric label \"k\" is longer than 1024 characters.");
  ExpectOk(Create({GaugeSeries({{"k", std::string(1024, 'v')}}, base_, 1)}));
}

TEST_F(CreateRulesTest, RejectsPointsOlderThan25Hours) {
  const TimeNs now = WallClockNow();
  ExpectSeriesRejected(GaugeSeries({}, now - 25 * kNanosPerHour - kNanosPerMinute, 1),
                       "Points cannot be written more than 25h in the past.");
  ExpectOk(Create({GaugeSeries({}, now - 24 * kNanosPerHour, 1)}));
}

TEST_F(CreateRulesTest, RejectsPointsMoreThan5MinutesInTheFuture) {
  const TimeNs now = WallClockNow();
  ExpectSeriesRejected(GaugeSeries({}, now + 6 * kNanosPerMinute, 1),
                       "Points cannot be written more than 5m in the future.");
  ExpectOk(Create({GaugeSeries({}, now + 4 * kNanosPerMinute, 1)}));
}

TEST_F(CreateRulesTest, PartlyBadRequestStoresGoodPointsAndSummarizesErrors) {
  ExpectOk(Create({GaugeSeries({{"s", "old"}}, base_, 1)}));
  TimeSeries wrong_resource = GaugeSeries({{"s", "4"}}, base_, 1);
  wrong_resource.mutable_resource()->set_type("k8s_container");
  const grpc::Status status = Create({
      GaugeSeries({{"s", "0"}}, base_, 1),
      GaugeSeries({{"s", "old"}}, base_ - 20 * kNanosPerSecond, 1),  // out of order
      GaugeSeries({{"s", "old"}, {"t", "x"}}, base_, 1),
      GaugeSeries({{"s", "3"}}, base_, 1, "custom.googleapis.com/x"),
      wrong_resource,
      GaugeSeries({{"s", "5"}}, base_, 1, "custom.googleapis.com/x"),
      GaugeSeries({{"s", "6"}}, base_, 1, "custom.googleapis.com/x"),
  });
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(status.error_message(), HasSubstr("older start time than the most recent point.: timeSeries[1]"));
  EXPECT_THAT(status.error_message(), HasSubstr("must start with \"prometheus.googleapis.com/\".: timeSeries[3,5-6]"));
  EXPECT_THAT(status.error_message(),
              HasSubstr("\"k8s_container\" is not supported: it must be \"prometheus_target\".: "
                        "timeSeries[4]"));
  const auto summary = SummaryOf(status);
  ASSERT_TRUE(summary.has_value());
  EXPECT_EQ(summary->total_point_count(), 7);
  EXPECT_EQ(summary->success_point_count(), 2);
  ASSERT_EQ(summary->errors_size(), 3);
  EXPECT_THAT(summary->errors(0).status().message(), HasSubstr("Points must be written in order"));
  EXPECT_EQ(summary->errors(0).point_count(), 1);
  EXPECT_THAT(summary->errors(1).status().message(), HasSubstr("custom.googleapis.com/x"));
  EXPECT_EQ(summary->errors(1).point_count(), 3);
  EXPECT_EQ(summary->errors(2).point_count(), 1);
  for (const auto& error : summary->errors()) EXPECT_EQ(error.status().code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(StoredPoints(kGaugeType, {{"s", "0"}}), 1u);
  EXPECT_EQ(StoredPoints(kGaugeType, {{"s", "old"}, {"t", "x"}}), 1u);
  EXPECT_EQ(StoredPoints(kGaugeType, {{"s", "old"}}), 1u);
  const StatsSnapshot stats = emulator_->stats().Snapshot();
  EXPECT_EQ(stats.points_accepted, 3);
  EXPECT_EQ(stats.points_rejected.at("metric_type"), 3);
  EXPECT_EQ(stats.points_rejected.at("out_of_order"), 1);
  EXPECT_EQ(stats.points_rejected.at("resource_type"), 1);
}

TEST_F(CreateRulesTest, ManyDistinctErrorsFitInTheStatusTrailers) {
  std::vector<TimeSeries> batch;
  for (int i = 0; i < 200; ++i) {
    TimeSeries gauge = GaugeSeries({{"i", std::to_string(i)}}, base_ + i * kNanosPerSecond, 1);
    *gauge.mutable_points(0)->mutable_interval()->mutable_start_time() = ToTimestamp(base_ - kNanosPerHour);
    batch.push_back(gauge);
  }
  const grpc::Status status = Create(batch);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << status.error_message();
  EXPECT_THAT(status.error_message(), HasSubstr("more errors."));
  const auto summary = SummaryOf(status);
  ASSERT_TRUE(summary.has_value());
  EXPECT_EQ(summary->success_point_count(), 0);
  EXPECT_EQ(ErrorPointsContaining(*summary, "The start time must be equal to the end time") +
                ErrorPointsContaining(*summary, "Further errors omitted by the emulator."),
            200);
}

TEST_F(CreateRulesTest, ServesConcurrentWritersOnManyThreads) {
  constexpr int kThreads = 4;
  constexpr int kRequestsPerThread = 20;
  std::vector<std::thread> writers;
  std::atomic<int> failures{0};
  for (int t = 0; t < kThreads; ++t) {
    writers.emplace_back([this, t, &failures] {
      for (int r = 0; r < kRequestsPerThread; ++r) {
        std::vector<TimeSeries> batch;
        for (int s = 0; s < 10; ++s) {
          batch.push_back(GaugeSeries({{"thread", std::to_string(t)}, {"s", std::to_string(s)}},
                                      base_ + r * 5 * kNanosPerSecond, r));
        }
        if (!Create(batch).ok()) failures++;
      }
    });
  }
  for (auto& writer : writers) writer.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(emulator_->store().series_count(), static_cast<size_t>(kThreads * 10));
  EXPECT_EQ(StoredPoints(kGaugeType, {{"thread", "3"}, {"s", "9"}}), static_cast<size_t>(kRequestsPerThread));
  EXPECT_EQ(emulator_->stats().Snapshot().points_accepted, kThreads * kRequestsPerThread * 10);
}

}  // namespace
}  // namespace prom2gcm::emulator::testing
