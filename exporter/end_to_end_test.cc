// Every recorded payload of testdata/v1 goes through the real path — WriteHandler, Exporter with its
// loop thread, GcmClient over gRPC — into an in-process MetricService that keeps what it receives.
// Each gauge sample must come out once with its exact value and time, under the right metric type
// and resource; each counter point must equal the stored value minus the first (baseline) value,
// with the baseline's time as start.
#include <gtest/gtest.h>
#include <grpcpp/server.h>
#include <grpcpp/server_builder.h>

#include <snappy.h>

#include <chrono>
#include <cmath>
#include <filesystem>
#include <map>
#include <thread>

#include "exporter/exporter.h"
#include "exporter/gcm_client.h"
#include "google/monitoring/v3/metric_service.grpc.pb.h"
#include "server/testing/payloads.h"
#include "server/write_handler.h"

namespace prom2gcm {
namespace {

using google::monitoring::v3::CreateTimeSeriesRequest;

struct StoredPoint {
  int64_t start_ms, end_ms;
  double value;
};

int64_t Ms(const google::protobuf::Timestamp& t) { return t.seconds() * 1000 + t.nanos() / 1000000; }

// Keeps every point, keyed by metric type and instance/job/series labels.
class RecordingService : public google::monitoring::v3::MetricService::Service {
 public:
  grpc::Status CreateTimeSeries(grpc::ServerContext*, const CreateTimeSeriesRequest* request,
                                google::protobuf::Empty*) override {
    std::lock_guard lock(mutex);
    if (request->time_series_size() > 200) return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "over 200");
    for (const auto& ts : request->time_series()) {
      EXPECT_EQ(ts.points_size(), 1);
      EXPECT_EQ(ts.resource().type(), "prometheus_target");
      EXPECT_EQ(ts.resource().labels().at("project_id"), "e2e-project");
      EXPECT_EQ(request->name(), "projects/e2e-project");
      const auto& p = ts.points(0);
      points[Key(ts)].push_back({p.interval().has_start_time() ? Ms(p.interval().start_time()) : Ms(p.interval().end_time()),
                                 Ms(p.interval().end_time()), p.value().double_value()});
      ++total;
    }
    return grpc::Status::OK;
  }
  static std::string Key(const google::monitoring::v3::TimeSeries& ts) {
    std::map<std::string, std::string> labels(ts.metric().labels().begin(), ts.metric().labels().end());
    labels["job"] = ts.resource().labels().at("job");
    labels["instance"] = ts.resource().labels().at("instance");
    std::string key = ts.metric().type();
    for (const auto& [k, v] : labels) key += "," + k + "=" + v;
    return key;
  }
  std::mutex mutex;
  std::map<std::string, std::vector<StoredPoint>> points;
  size_t total = 0;
};

// The expected key for a recorded series written as metric type `type`.
std::string KeyOf(const ::prometheus::prompb::TimeSeries& series, const std::string& type) {
  std::map<std::string, std::string> labels;
  std::string name;
  for (const auto& l : series.labels()) {
    if (l.name() == "__name__") name = l.value();
    else labels[l.name()] = l.value();
  }
  std::string key = "prometheus.googleapis.com/" + name + "/" + type;
  for (const auto& [k, v] : labels) key += "," + k + "=" + v;
  return key;
}

TEST(EndToEndTest, RecordedPayloadsArriveExactly) {
  RecordingService service;
  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
  builder.RegisterService(&service);
  auto server = builder.BuildAndStart();

  GcmClient::Options client_options;
  client_options.endpoint = "127.0.0.1:" + std::to_string(port);
  client_options.insecure = true;
  std::string error;
  auto client = GcmClient::Create(client_options, &error);
  ASSERT_NE(client, nullptr) << error;

  prometheus::Registry registry;
  MetadataCache metadata;
  Exporter::Options options;
  options.shards = 64;
  options.metadata_wait_ms = 0;
  options.transform.project_id = "e2e-project";
  options.transform.location = "test-location";
  auto now = [] {
    return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
        .count();
  };
  Exporter exporter(options, client.get(), &metadata, now, registry);
  exporter.Start();
  WriteHandler handler(WriteHandler::Options{}, &exporter, &metadata, registry);

  // Metadata first (Prometheus sends it on its own schedule; the test wants every type known).
  std::vector<std::string> names;
  for (const auto& entry : std::filesystem::directory_iterator(std::string(PROM2GCM_SOURCE_DIR) + "/testdata/v1")) {
    if (entry.path().extension() == ".snappy") names.push_back(entry.path().filename().string());
  }
  std::sort(names.begin(), names.end());  // recording order
  std::vector<std::pair<std::string, ::prometheus::prompb::WriteRequest>> files;
  for (const std::string& name : names) {
    std::string body = testing::ReadSourceFile("testdata/v1/" + name);
    std::string raw;
    ASSERT_TRUE(snappy::Uncompress(body.data(), body.size(), &raw));
    ::prometheus::prompb::WriteRequest request;
    ASSERT_TRUE(request.ParseFromString(raw));
    files.emplace_back(body, request);
  }
  std::stable_sort(files.begin(), files.end(), [](const auto& a, const auto& b) {
    return a.second.metadata_size() > b.second.metadata_size();
  });
  std::map<std::string, ::prometheus::prompb::MetricMetadata::MetricType> types;
  for (const auto& [body, request] : files) {
    for (const auto& m : request.metadata()) types[m.metric_family_name()] = m.type();
    WriteHttpResponse response = handler.Handle({"application/x-protobuf", "snappy", body});
    ASSERT_EQ(response.status, 204) << response.body;
  }
  ASSERT_TRUE(exporter.Shutdown(now() + 20000));

  // Expected points, from the recorded requests decoded with the generated classes.
  std::map<std::string, std::vector<StoredPoint>> expected;
  std::map<std::string, StoredPoint> baselines;
  size_t gauges = 0, counters = 0;
  for (const auto& [body, request] : files) {
    for (const auto& series : request.timeseries()) {
      std::string name;
      for (const auto& l : series.labels()) if (l.name() == "__name__") name = l.value();
      auto type = types.find(name);
      if (type == types.end()) continue;  // untyped: unknown + unknown:counter, checked by unit tests
      for (const auto& sample : series.samples()) {
        if (testing::StaleMarker() == sample.value() || std::isnan(sample.value())) continue;
        if (type->second == ::prometheus::prompb::MetricMetadata::GAUGE) {
          expected[KeyOf(series, "gauge")].push_back({sample.timestamp(), sample.timestamp(), sample.value()});
          ++gauges;
        } else if (type->second == ::prometheus::prompb::MetricMetadata::COUNTER) {
          const std::string key = KeyOf(series, "counter");
          auto base = baselines.find(key);
          if (base == baselines.end()) {
            baselines[key] = {sample.timestamp(), sample.timestamp(), sample.value()};
          } else {
            expected[key].push_back({base->second.start_ms, sample.timestamp(), sample.value() - base->second.value});
            ++counters;
          }
        }
      }
    }
  }
  ASSERT_GT(gauges, 1000u);
  ASSERT_GT(counters, 500u);
  std::lock_guard lock(service.mutex);
  for (auto& [key, points] : expected) {
    SCOPED_TRACE(key);
    std::sort(points.begin(), points.end(), [](auto& a, auto& b) { return a.end_ms < b.end_ms; });
    const auto& got = service.points[key];
    ASSERT_EQ(got.size(), points.size());
    for (size_t i = 0; i < points.size(); ++i) {
      EXPECT_EQ(got[i].end_ms, points[i].end_ms);
      EXPECT_EQ(got[i].start_ms, points[i].start_ms);
      EXPECT_EQ(got[i].value, points[i].value);
    }
  }
  server->Shutdown();
}

}  // namespace
}  // namespace prom2gcm
