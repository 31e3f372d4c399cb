// Test helpers for the GCM emulator: a gtest fixture that starts a real Emulator in-process on
// 127.0.0.1:0 (gRPC and HTTP) and talks to it over a real channel with the generated stub, plus
// builders for valid TimeSeries and a reader for the CreateTimeSeriesSummary in a status' details.
//
// Each fixture owns its emulator, channel and stub. Thread-safety: the stub may be used from many
// test threads; the fixture itself from the test's main thread.
#ifndef PROM2GCM_INTEGRATION_GCM_EMULATOR_EMULATOR_TEST_ENV_H_
#define PROM2GCM_INTEGRATION_GCM_EMULATOR_EMULATOR_TEST_ENV_H_

#include <gmock/gmock.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "google/monitoring/v3/metric_service.grpc.pb.h"
#include "integration/gcm_emulator/emulator.h"

namespace prom2gcm::emulator::testing {

using Labels = std::map<std::string, std::string>;
using google::monitoring::v3::CreateTimeSeriesRequest;
using google::monitoring::v3::CreateTimeSeriesSummary;
using google::monitoring::v3::ListTimeSeriesRequest;
using google::monitoring::v3::ListTimeSeriesResponse;
using google::monitoring::v3::TimeSeries;

constexpr char kProject[] = "test-project";
constexpr char kGaugeType[] = "prometheus.googleapis.com/temperature/gauge";
constexpr char kCounterType[] = "prometheus.googleapis.com/requests_total/counter";

// A prometheus_target resource of kProject with every required label set.
google::api::MonitoredResource TargetResource(const std::string& job = "node");

// A DOUBLE GAUGE series with one point at `end`.
TimeSeries GaugeSeries(const Labels& labels, TimeNs end, double value, const std::string& type = kGaugeType);

// A DOUBLE CUMULATIVE series with one point over (start, end].
TimeSeries CumulativeSeries(const Labels& labels, TimeNs start, TimeNs end, double value,
                            const std::string& type = kCounterType);

CreateTimeSeriesRequest RequestOf(const std::vector<TimeSeries>& series, const std::string& project = kProject);

// The CreateTimeSeriesSummary in the status' binary details (google.rpc.Status), if any.
std::optional<CreateTimeSeriesSummary> SummaryOf(const grpc::Status& status);

// The number of points in the summary's errors whose message contains `text`.
int ErrorPointsContaining(const CreateTimeSeriesSummary& summary, const std::string& text);

// A wall-clock time a few minutes ago, on a whole second: a safe base for point timestamps.
TimeNs RecentBase();

class EmulatorTest : public ::testing::Test {
 protected:
  void SetUp() override;
  void TearDown() override;

  // Override to change the options; the addresses are set to 127.0.0.1:0 afterwards.
  virtual Emulator::Options EmulatorOptions() { return Emulator::Options(); }

  grpc::Status Create(const CreateTimeSeriesRequest& request);
  grpc::Status Create(const std::vector<TimeSeries>& series) { return Create(RequestOf(series)); }
  grpc::Status List(const ListTimeSeriesRequest& request, ListTimeSeriesResponse* response);

  // The points stored for the series of `type` with these metric labels (0 if none).
  size_t StoredPoints(const std::string& type, const Labels& labels);

  std::unique_ptr<Emulator> emulator_;
  std::unique_ptr<google::monitoring::v3::MetricService::Stub> stub_;
  TimeNs base_ = 0;
};

}  // namespace prom2gcm::emulator::testing

#endif  // PROM2GCM_INTEGRATION_GCM_EMULATOR_EMULATOR_TEST_ENV_H_
