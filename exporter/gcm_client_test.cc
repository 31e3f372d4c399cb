// GcmClient against a real in-process gRPC server of MetricService.
#include "exporter/gcm_client.h"

#include <gtest/gtest.h>
#include <grpcpp/server.h>
#include <grpcpp/server_builder.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <future>
#include <set>
#include <thread>
#include <vector>

#include "exporter/transform.h"
#include "google/monitoring/v3/metric_service.grpc.pb.h"
#include "google/rpc/status.pb.h"

namespace prom2gcm {
namespace {

using google::monitoring::v3::CreateTimeSeriesRequest;

// Answers with a preset status and keeps the last request.
class ScriptedService : public google::monitoring::v3::MetricService::Service {
 public:
  grpc::Status CreateTimeSeries(grpc::ServerContext* context, const CreateTimeSeriesRequest* request,
                                google::protobuf::Empty*) override {
    std::unique_lock lock(mutex);
    ++calls;
    released.wait(lock, [this] { return !hold; });
    last = *request;
    peers.insert(context->peer());
    user_agent = std::string(context->client_metadata().find("user-agent")->second.data(),
                             context->client_metadata().find("user-agent")->second.size());
    return answer;
  }
  void Release() {
    std::lock_guard lock(mutex);
    hold = false;
    released.notify_all();
  }
  std::mutex mutex;
  std::condition_variable released;
  bool hold = false;  // while set, calls wait for Release
  int calls = 0;
  grpc::Status answer = grpc::Status::OK;
  CreateTimeSeriesRequest last;
  std::string user_agent;
  std::set<std::string> peers;  // the client's address and port: one per connection
};

// A request body of one gauge point.
std::shared_ptr<const std::string> OnePoint() {
  GcmTarget target;
  google::monitoring::v3::TimeSeries identity;
  identity.mutable_metric()->set_type("prometheus.googleapis.com/up/gauge");
  identity.set_metric_kind(google::api::MetricDescriptor::GAUGE);
  target.identity_tail = std::make_shared<const std::string>(identity.SerializeAsString());
  std::string bytes;
  AppendTimeSeries(&bytes, target, PendingPoint{0, 5000, 5000, 1.0, nullptr});
  return std::make_shared<const std::string>(bytes);
}

// Serves `service` on a free port of 127.0.0.1, written to *port. With max_streams > 0, the server
// serves at most that many calls at once on one connection.
std::unique_ptr<grpc::Server> StartServer(ScriptedService* service, int* port, int max_streams = 0) {
  grpc::ServerBuilder builder;
  builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), port);
  builder.RegisterService(service);
  if (max_streams > 0) builder.AddChannelArgument(GRPC_ARG_MAX_CONCURRENT_STREAMS, max_streams);
  return builder.BuildAndStart();
}

// A plaintext client's options for the server on `port`.
GcmClient::Options LocalClientOptions(int port) {
  GcmClient::Options options;
  options.endpoint = "127.0.0.1:" + std::to_string(port);
  options.insecure = true;
  return options;
}

class GcmClientTest : public ::testing::Test {
 protected:
  void SetUp() override {
    int port = 0;
    server_ = StartServer(&service_, &port);
    ASSERT_GT(port, 0);
    GcmClient::Options options = LocalClientOptions(port);
    options.timeout_ms = 5000;
    std::string error;
    client_ = GcmClient::Create(options, &error);
    ASSERT_NE(client_, nullptr) << error;
  }
  void TearDown() override {
    service_.Release();  // a test that stopped early may have left a call held
    server_->Shutdown();
  }

  SendResult SendOne() {
    std::promise<SendResult> promise;
    client_->Send("projects/p", OnePoint(), 1, [&promise](SendResult r) { promise.set_value(std::move(r)); });
    return promise.get_future().get();
  }

  ScriptedService service_;
  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<GcmClient> client_;
};

TEST_F(GcmClientTest, SendsTheAssembledRequest) {
  SendResult result = SendOne();
  EXPECT_EQ(result.outcome, SendResult::Outcome::kOk);
  EXPECT_EQ(result.succeeded, 1);
  std::lock_guard lock(service_.mutex);
  EXPECT_EQ(service_.last.name(), "projects/p");
  ASSERT_EQ(service_.last.time_series_size(), 1);
  EXPECT_EQ(service_.last.time_series(0).metric().type(), "prometheus.googleapis.com/up/gauge");
  EXPECT_EQ(service_.last.time_series(0).points(0).interval().end_time().seconds(), 5);
  EXPECT_NE(service_.user_agent.find("prom2gcm/"), std::string::npos) << service_.user_agent;
}

TEST_F(GcmClientTest, RetryableCodes) {
  for (auto code : {grpc::StatusCode::UNAVAILABLE, grpc::StatusCode::DEADLINE_EXCEEDED,
                    grpc::StatusCode::RESOURCE_EXHAUSTED, grpc::StatusCode::INTERNAL}) {
    service_.answer = grpc::Status(code, "try again");
    EXPECT_EQ(SendOne().outcome, SendResult::Outcome::kRetryable) << code;
  }
}

TEST_F(GcmClientTest, InvalidArgumentSummaryIsRead) {
  google::monitoring::v3::CreateTimeSeriesSummary summary;
  summary.set_total_point_count(5);
  summary.set_success_point_count(3);
  auto* error = summary.add_errors();
  error->mutable_status()->set_code(3);
  error->mutable_status()->set_message(
      "Points must be written in order. One or more of the points specified had an older start time than the most "
      "recent point.");
  error->set_point_count(2);
  google::rpc::Status details;
  details.set_code(3);
  details.add_details()->PackFrom(summary);
  service_.answer = grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "One or more TimeSeries could not be written",
                                 details.SerializeAsString());
  SendResult result = SendOne();
  EXPECT_EQ(result.outcome, SendResult::Outcome::kRejected);
  EXPECT_EQ(result.succeeded, 3);
  ASSERT_EQ(result.failed.size(), 1u);
  EXPECT_EQ(result.failed[0], (std::pair<std::string, int>("out_of_order", 2)));
}

TEST_F(GcmClientTest, OtherErrorsRejectEveryPoint) {
  service_.answer = grpc::Status(grpc::StatusCode::PERMISSION_DENIED, "no");
  SendResult result = SendOne();
  EXPECT_EQ(result.outcome, SendResult::Outcome::kRejected);
  EXPECT_EQ(result.succeeded, 0);
  EXPECT_EQ(result.failed[0], (std::pair<std::string, int>("permission_denied", 1)));
  service_.answer = grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "Field timeSeries[0].metric.labels had too many");
  result = SendOne();
  EXPECT_EQ(result.failed[0], (std::pair<std::string, int>("labels", 1)));
}

TEST_F(GcmClientTest, ConcurrentSendsEachGetTheirAnswer) {
  constexpr int kThreads = 4, kCallsEach = 50;
  std::atomic<int> ok{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      std::vector<std::promise<void>> answered(kCallsEach);
      for (auto& promise : answered) {
        client_->Send("projects/p", OnePoint(), 1, [&ok, &promise](SendResult r) {
          if (r.outcome == SendResult::Outcome::kOk) ++ok;
          promise.set_value();
        });
      }
      for (auto& promise : answered) promise.get_future().wait();
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(ok.load(), kThreads * kCallsEach);
}

TEST_F(GcmClientTest, DestroyingTheClientCancelsCallsInFlight) {
  service_.hold = true;
  std::promise<SendResult> promise;
  client_->Send("projects/p", OnePoint(), 1, [&promise](SendResult r) { promise.set_value(std::move(r)); });
  auto held = [this] {
    std::lock_guard lock(service_.mutex);
    return service_.calls == 1;
  };
  while (!held()) std::this_thread::sleep_for(std::chrono::milliseconds(1));  // until the server holds it
  const auto start = std::chrono::steady_clock::now();
  client_.reset();  // returns once the call's callback has run, well before its 5 s deadline
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(4));
  auto answered = promise.get_future();
  ASSERT_EQ(answered.wait_for(std::chrono::seconds(0)), std::future_status::ready);
  SendResult result = answered.get();
  EXPECT_EQ(result.outcome, SendResult::Outcome::kRejected);
  EXPECT_EQ(result.failed[0], (std::pair<std::string, int>("cancelled", 1)));
}

// Held calls against a server that serves one call at a time per connection, as Google's front ends
// serve at most 100: with four channels, four calls are served at once, on four connections.
TEST(GcmClientChannelsTest, CallsAreSpreadOverConnectionsOfTheirOwn) {
  for (int channels : {1, 4}) {
    ScriptedService service;
    service.hold = true;
    int port = 0;
    std::unique_ptr<grpc::Server> server = StartServer(&service, &port, /*max_streams=*/1);
    ASSERT_GT(port, 0);
    GcmClient::Options options = LocalClientOptions(port);
    options.channels = channels;
    std::string error;
    std::unique_ptr<GcmClient> client = GcmClient::Create(options, &error);
    ASSERT_NE(client, nullptr) << error;
    std::atomic<int> ok{0};
    for (int i = 0; i < 4; ++i) {
      client->Send("projects/p", OnePoint(), 1, [&ok](SendResult r) {
        if (r.outcome == SendResult::Outcome::kOk) ++ok;
      });
    }
    {
      // Held calls do not return: the server sees as many at once as it serves at once.
      std::unique_lock lock(service.mutex);
      service.released.wait_for(lock, std::chrono::seconds(1), [&] { return service.calls == 4; });
      EXPECT_EQ(service.calls, channels) << channels << " channels";
    }
    service.Release();
    const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    while (ok.load() < 4 && std::chrono::steady_clock::now() < give_up) {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    EXPECT_EQ(ok.load(), 4);
    std::lock_guard lock(service.mutex);
    EXPECT_EQ(service.peers.size(), static_cast<size_t>(channels));
    client.reset();
    server->Shutdown();
  }
}

TEST(GcmClientOptionsTest, RejectsAChannelCountOutOfRange) {
  GcmClient::Options options;
  options.insecure = true;
  std::string error;
  for (int channels : {0, 65}) {
    options.channels = channels;
    EXPECT_EQ(GcmClient::Create(options, &error), nullptr);
    EXPECT_NE(error.find("--export.channels"), std::string::npos);
  }
}

TEST(GcmClientOptionsTest, RejectsUnknownCompression) {
  GcmClient::Options options;
  options.insecure = true;
  options.compression = "zstd";
  std::string error;
  EXPECT_EQ(GcmClient::Create(options, &error), nullptr);
  EXPECT_NE(error.find("gzip or none"), std::string::npos);
}

}  // namespace
}  // namespace prom2gcm
