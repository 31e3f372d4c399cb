// ListTimeSeries through a real gRPC channel: filters, intervals, point order, views and paging.
#include "integration/gcm_emulator/emulator_test_env.h"

namespace prom2gcm::emulator::testing {
namespace {

using ::testing::HasSubstr;

class ListTimeSeriesTest : public EmulatorTest {
 protected:
  void SetUp() override {
    EmulatorTest::SetUp();
    step_ = 10 * kNanosPerSecond;
    for (int i = 0; i < 3; ++i) {
      TimeSeries other_job = GaugeSeries({{"room", "b"}}, base_ + i * step_, 10 + i);
      *other_job.mutable_resource() = TargetResource("other");
      ASSERT_TRUE(Create({GaugeSeries({{"room", "a"}}, base_ + i * step_, i), other_job,
                          CumulativeSeries({}, base_ - step_, base_ + i * step_, i)})
                      .ok());
    }
  }

  ListTimeSeriesRequest Query(const std::string& filter, TimeNs start, TimeNs end) {
    ListTimeSeriesRequest request;
    request.set_name(std::string("projects/") + kProject);
    request.set_filter(filter);
    *request.mutable_interval()->mutable_start_time() = ToTimestamp(start);
    *request.mutable_interval()->mutable_end_time() = ToTimestamp(end);
    return request;
  }

  std::string GaugeFilter() const { return std::string("metric.type = \"") + kGaugeType + "\""; }

  TimeNs step_ = 0;
};

TEST_F(ListTimeSeriesTest, ReturnsMatchingSeriesWithPointsInTheIntervalNewestFirst) {
  ListTimeSeriesResponse response;
  ASSERT_TRUE(List(Query(GaugeFilter(), base_, base_ + 2 * step_), &response).ok());
  ASSERT_EQ(response.time_series_size(), 2);
  for (const TimeSeries& series : response.time_series()) {
    EXPECT_EQ(series.metric().type(), kGaugeType);
    EXPECT_EQ(series.resource().type(), "prometheus_target");
    EXPECT_EQ(series.metric_kind(), google::api::MetricDescriptor::GAUGE);
    EXPECT_EQ(series.value_type(), google::api::MetricDescriptor::DOUBLE);
    // (start, end]: the point at base_ is excluded.
    ASSERT_EQ(series.points_size(), 2);
    EXPECT_EQ(ToNanos(series.points(0).interval().end_time()), base_ + 2 * step_);
    EXPECT_EQ(ToNanos(series.points(1).interval().end_time()), base_ + step_);
    EXPECT_EQ(ToNanos(series.points(0).interval().start_time()), base_ + 2 * step_);
  }
}

TEST_F(ListTimeSeriesTest, FiltersOnResourceAndMetricLabels) {
  ListTimeSeriesResponse response;
  ASSERT_TRUE(
      List(Query(GaugeFilter() + " AND resource.labels.job = \"other\"", base_ - 1, base_ + 2 * step_), &response)
          .ok());
  ASSERT_EQ(response.time_series_size(), 1);
  EXPECT_EQ(response.time_series(0).metric().labels().at("room"), "b");
  ASSERT_EQ(response.time_series(0).points_size(), 3);
  EXPECT_EQ(response.time_series(0).points(0).value().double_value(), 12);
  response.Clear();
  ASSERT_TRUE(List(Query(GaugeFilter() + " AND metric.labels.room = 'a'", base_ - 1, base_), &response).ok());
  ASSERT_EQ(response.time_series_size(), 1);
  EXPECT_EQ(response.time_series(0).points(0).value().double_value(), 0);
}

TEST_F(ListTimeSeriesTest, ReturnsCumulativePointsWithTheirStartTime) {
  ListTimeSeriesResponse response;
  ASSERT_TRUE(
      List(Query(std::string("metric.type=\"") + kCounterType + "\"", base_ - 1, base_ + step_), &response).ok());
  ASSERT_EQ(response.time_series_size(), 1);
  ASSERT_EQ(response.time_series(0).points_size(), 2);
  EXPECT_EQ(ToNanos(response.time_series(0).points(0).interval().start_time()), base_ - step_);
  EXPECT_EQ(response.time_series(0).points(0).value().double_value(), 1);
}

TEST_F(ListTimeSeriesTest, WithoutStartTimeReturnsOnlyThePointAtTheEndTime) {
  ListTimeSeriesRequest request = Query(GaugeFilter(), 0, base_ + step_);
  request.mutable_interval()->clear_start_time();
  ListTimeSeriesResponse response;
  ASSERT_TRUE(List(request, &response).ok());
  ASSERT_EQ(response.time_series_size(), 2);
  ASSERT_EQ(response.time_series(0).points_size(), 1);
  EXPECT_EQ(ToNanos(response.time_series(0).points(0).interval().end_time()), base_ + step_);
}

TEST_F(ListTimeSeriesTest, OmitsSeriesWithoutPointsInTheIntervalAndOtherProjects) {
  ListTimeSeriesResponse response;
  ASSERT_TRUE(List(Query(GaugeFilter(), base_ + 5 * step_, base_ + 6 * step_), &response).ok());
  EXPECT_EQ(response.time_series_size(), 0);
  ListTimeSeriesRequest other_project = Query(GaugeFilter(), base_ - 1, base_ + 2 * step_);
  other_project.set_name("projects/other-project");
  ASSERT_TRUE(List(other_project, &response).ok());
  EXPECT_EQ(response.time_series_size(), 0);
}

TEST_F(ListTimeSeriesTest, HeadersViewOmitsPoints) {
  ListTimeSeriesRequest request = Query(GaugeFilter(), base_ - 1, base_ + 2 * step_);
  request.set_view(ListTimeSeriesRequest::HEADERS);
  ListTimeSeriesResponse response;
  ASSERT_TRUE(List(request, &response).ok());
  ASSERT_EQ(response.time_series_size(), 2);
  EXPECT_EQ(response.time_series(0).points_size(), 0);
}

TEST_F(ListTimeSeriesTest, PagesBySeries) {
  ListTimeSeriesRequest request = Query(GaugeFilter(), base_ - 1, base_ + 2 * step_);
  request.set_page_size(1);
  ListTimeSeriesResponse first;
  ASSERT_TRUE(List(request, &first).ok());
  ASSERT_EQ(first.time_series_size(), 1);
  ASSERT_FALSE(first.next_page_token().empty());
  request.set_page_token(first.next_page_token());
  ListTimeSeriesResponse second;
  ASSERT_TRUE(List(request, &second).ok());
  ASSERT_EQ(second.time_series_size(), 1);
  EXPECT_TRUE(second.next_page_token().empty());
  EXPECT_NE(first.time_series(0).metric().labels().at("room"), second.time_series(0).metric().labels().at("room"));
}

TEST_F(ListTimeSeriesTest, RejectsBadRequests) {
  ListTimeSeriesResponse response;
  ListTimeSeriesRequest bad_name = Query(GaugeFilter(), base_ - 1, base_);
  bad_name.set_name("test-project");
  EXPECT_EQ(List(bad_name, &response).error_code(), grpc::StatusCode::INVALID_ARGUMENT);

  grpc::Status status = List(Query("resource.labels.job = \"node\"", base_ - 1, base_), &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(status.error_message(), HasSubstr("The filter must select a metric type"));

  status = List(Query("metric.type = unquoted", base_ - 1, base_), &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(status.error_message(), HasSubstr("expected a quoted value"));

  ListTimeSeriesRequest no_end = Query(GaugeFilter(), base_ - 1, base_);
  no_end.mutable_interval()->clear_end_time();
  status = List(no_end, &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(status.error_message(), HasSubstr("An end time is required"));

  status = List(Query(GaugeFilter(), base_ + 1, base_), &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(status.error_message(), HasSubstr("must not be later than the end time"));
}

}  // namespace
}  // namespace prom2gcm::emulator::testing
