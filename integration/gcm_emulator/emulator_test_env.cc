#include "integration/gcm_emulator/emulator_test_env.h"

#include "google/rpc/status.pb.h"

namespace prom2gcm::emulator::testing {

using google::api::MetricDescriptor;

google::api::MonitoredResource TargetResource(const std::string& job) {
  google::api::MonitoredResource resource;
  resource.set_type("prometheus_target");
  auto& labels = *resource.mutable_labels();
  labels["project_id"] = kProject;
  labels["location"] = "europe-west1-b";
  labels["cluster"] = "test-cluster";
  labels["namespace"] = "default";
  labels["job"] = job;
  labels["instance"] = "host-1:9100";
  return resource;
}

namespace {

TimeSeries DoubleSeries(const Labels& labels, const std::string& type, MetricDescriptor::MetricKind kind,
                        double value) {
  TimeSeries series;
  series.mutable_metric()->set_type(type);
  series.mutable_metric()->mutable_labels()->insert(labels.begin(), labels.end());
  *series.mutable_resource() = TargetResource();
  series.set_metric_kind(kind);
  series.set_value_type(MetricDescriptor::DOUBLE);
  series.add_points()->mutable_value()->set_double_value(value);
  return series;
}

}  // namespace

TimeSeries GaugeSeries(const Labels& labels, TimeNs end, double value, const std::string& type) {
  TimeSeries series = DoubleSeries(labels, type, MetricDescriptor::GAUGE, value);
  *series.mutable_points(0)->mutable_interval()->mutable_end_time() = ToTimestamp(end);
  return series;
}

TimeSeries CumulativeSeries(const Labels& labels, TimeNs start, TimeNs end, double value, const std::string& type) {
  TimeSeries series = DoubleSeries(labels, type, MetricDescriptor::CUMULATIVE, value);
  *series.mutable_points(0)->mutable_interval()->mutable_start_time() = ToTimestamp(start);
  *series.mutable_points(0)->mutable_interval()->mutable_end_time() = ToTimestamp(end);
  return series;
}

CreateTimeSeriesRequest RequestOf(const std::vector<TimeSeries>& series, const std::string& project) {
  CreateTimeSeriesRequest request;
  request.set_name("projects/" + project);
  for (const TimeSeries& one : series) *request.add_time_series() = one;
  return request;
}

std::optional<CreateTimeSeriesSummary> SummaryOf(const grpc::Status& status) {
  google::rpc::Status details;
  if (status.error_details().empty() || !details.ParseFromString(status.error_details())) return std::nullopt;
  for (const auto& any : details.details()) {
    CreateTimeSeriesSummary summary;
    if (any.UnpackTo(&summary)) return summary;
  }
  return std::nullopt;
}

int ErrorPointsContaining(const CreateTimeSeriesSummary& summary, const std::string& text) {
  int points = 0;
  for (const auto& error : summary.errors()) {
    if (error.status().message().find(text) != std::string::npos) points += error.point_count();
  }
  return points;
}

TimeNs RecentBase() {
  const TimeNs ten_minutes_ago = WallClockNow() - 10 * kNanosPerMinute;
  return ten_minutes_ago - ten_minutes_ago % kNanosPerSecond;
}

void EmulatorTest::SetUp() {
  Emulator::Options options = EmulatorOptions();
  options.grpc_address = "127.0.0.1:0";
  options.http_address = "127.0.0.1:0";
  emulator_ = std::make_unique<Emulator>(options);
  std::string error;
  ASSERT_TRUE(emulator_->Start(&error)) << error;
  auto channel = grpc::CreateChannel(emulator_->grpc_endpoint(), grpc::InsecureChannelCredentials());
  stub_ = google::monitoring::v3::MetricService::NewStub(channel);
  base_ = RecentBase();
}

void EmulatorTest::TearDown() {
  stub_.reset();
  if (emulator_) emulator_->Stop();
}

grpc::Status EmulatorTest::Create(const CreateTimeSeriesRequest& request) {
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  google::protobuf::Empty response;
  return stub_->CreateTimeSeries(&context, request, &response);
}

grpc::Status EmulatorTest::List(const ListTimeSeriesRequest& request, ListTimeSeriesResponse* response) {
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  return stub_->ListTimeSeries(&context, request, response);
}

size_t EmulatorTest::StoredPoints(const std::string& type, const Labels& labels) {
  const auto found = emulator_->store().Find([&](const StoredSeries& series) {
    return series.metric.type() == type &&
           Labels(series.metric.labels().begin(), series.metric.labels().end()) == labels;
  });
  return found.empty() ? 0 : found.front().points.size();
}

}  // namespace prom2gcm::emulator::testing
