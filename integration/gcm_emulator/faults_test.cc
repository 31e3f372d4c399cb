// Injected faults (set at start and over HTTP at run time) and sink mode, against a real
// in-process emulator.
#include <httplib.h>

#include <grpcpp/create_channel.h>
#include <grpcpp/generic/generic_stub.h>

#include <chrono>
#include <future>

#include "integration/gcm_emulator/emulator_test_env.h"

namespace prom2gcm::emulator::testing {
namespace {

using ::testing::HasSubstr;

class FaultsTest : public EmulatorTest {
 protected:
  httplib::Result PostFaults(const std::string& query) {
    httplib::Client client("127.0.0.1", emulator_->http_port());
    return client.Post(("/v1/faults?" + query).c_str(), "", "application/x-www-form-urlencoded");
  }

  httplib::Result DeleteFaults() {
    httplib::Client client("127.0.0.1", emulator_->http_port());
    return client.Delete("/v1/faults");
  }

  std::string Stats() {
    httplib::Client client("127.0.0.1", emulator_->http_port());
    auto result = client.Get("/v1/stats");
    return result ? result->body : "";
  }
};

TEST_F(FaultsTest, LatencyDelaysEveryCall) {
  auto result = PostFaults("latency_ms=300");
  ASSERT_TRUE(result);
  EXPECT_EQ(result->status, 200);
  EXPECT_THAT(result->body, HasSubstr("\"latency_ms\":300"));
  const auto start = std::chrono::steady_clock::now();
  EXPECT_TRUE(Create({GaugeSeries({}, base_, 1)}).ok());
  EXPECT_GE(std::chrono::steady_clock::now() - start, std::chrono::milliseconds(300));
  ASSERT_EQ(DeleteFaults()->status, 200);
  const auto again = std::chrono::steady_clock::now();
  EXPECT_TRUE(Create({GaugeSeries({}, base_ + 5 * kNanosPerSecond, 1)}).ok());
  EXPECT_LT(std::chrono::steady_clock::now() - again, std::chrono::milliseconds(300));
}

TEST_F(FaultsTest, UnavailableRatioOneFailsEveryCall) {
  ASSERT_EQ(PostFaults("unavailable_ratio=1")->status, 200);
  const grpc::Status status = Create({GaugeSeries({}, base_, 1)});
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_EQ(status.error_message(), "The service is currently unavailable.");
  ListTimeSeriesResponse response;
  EXPECT_EQ(List(ListTimeSeriesRequest(), &response).error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_EQ(emulator_->store().series_count(), 0u);
  EXPECT_THAT(Stats(), HasSubstr("\"requests_failed_by_fault\":2"));
}

TEST_F(FaultsTest, UnavailableRatioFailsAShareOfCalls) {
  ASSERT_EQ(PostFaults("unavailable_ratio=0.5")->status, 200);
  int unavailable = 0;
  for (int i = 0; i < 40; ++i) {
    const grpc::Status status = Create({GaugeSeries({}, base_ + i * 5 * kNanosPerSecond, 1)});
    if (status.error_code() == grpc::StatusCode::UNAVAILABLE) ++unavailable;
  }
  EXPECT_GT(unavailable, 5);
  EXPECT_LT(unavailable, 35);
  EXPECT_EQ(emulator_->stats().Snapshot().requests_failed_by_fault, unavailable);
}

TEST_F(FaultsTest, OutageFailsEveryCallUntilItEnds) {
  auto result = PostFaults("outage_seconds=60");
  ASSERT_EQ(result->status, 200);
  EXPECT_THAT(result->body, HasSubstr("\"outage_until\":\"20"));
  grpc::Status status = Create({GaugeSeries({}, base_, 1)});
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_THAT(status.error_message(), HasSubstr("emulated outage until"));
  ASSERT_EQ(PostFaults("outage_until=2000-01-01T00:00:00Z")->status, 200);
  EXPECT_TRUE(Create({GaugeSeries({}, base_, 1)}).ok());
  ASSERT_EQ(PostFaults("outage_seconds=0.3")->status, 200);
  EXPECT_EQ(Create({GaugeSeries({}, base_ + 5 * kNanosPerSecond, 1)}).error_code(), grpc::StatusCode::UNAVAILABLE);
  std::this_thread::sleep_for(std::chrono::milliseconds(400));
  EXPECT_TRUE(Create({GaugeSeries({}, base_ + 5 * kNanosPerSecond, 1)}).ok());
}

TEST_F(FaultsTest, RejectPointRatioRejectsPointsWithASummaryAndStoresNone) {
  ASSERT_EQ(PostFaults("reject_point_ratio=1")->status, 200);
  const grpc::Status status = Create({GaugeSeries({{"a", "1"}}, base_, 1), GaugeSeries({{"a", "2"}}, base_, 1)});
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(status.error_message(), HasSubstr("rejected by an injected fault"));
  const auto summary = SummaryOf(status);
  ASSERT_TRUE(summary.has_value());
  EXPECT_EQ(summary->total_point_count(), 2);
  EXPECT_EQ(summary->success_point_count(), 0);
  EXPECT_EQ(ErrorPointsContaining(*summary, "injected fault"), 2);
  EXPECT_EQ(emulator_->store().series_count(), 0u);
  EXPECT_THAT(Stats(), HasSubstr("\"points_rejected\":{\"injected_fault\":2}"));
}

TEST_F(FaultsTest, RejectPointRatioRejectsAShareOfPoints) {
  ASSERT_EQ(PostFaults("reject_point_ratio=0.5")->status, 200);
  std::vector<TimeSeries> batch;
  for (int i = 0; i < 200; ++i) batch.push_back(GaugeSeries({{"i", std::to_string(i)}}, base_, i));
  const auto summary = SummaryOf(Create(batch));
  ASSERT_TRUE(summary.has_value());
  EXPECT_GT(summary->success_point_count(), 50);
  EXPECT_LT(summary->success_point_count(), 150);
  EXPECT_EQ(ErrorPointsContaining(*summary, "injected fault"), 200 - summary->success_point_count());
  EXPECT_EQ(emulator_->store().series_count(), static_cast<size_t>(summary->success_point_count()));
}

TEST_F(FaultsTest, RejectsBadFaultParameters) {
  for (const std::string query : {"unavailable_ratio=2", "reject_point_ratio=x", "latency_ms=-1", "outage_seconds=soon",
                                  "outage_until=tomorrow", "bogus=1"}) {
    auto result = PostFaults(query);
    ASSERT_TRUE(result) << query;
    EXPECT_EQ(result->status, 400) << query;
    EXPECT_THAT(result->body, HasSubstr("\"error\":")) << query;
  }
  httplib::Client client("127.0.0.1", emulator_->http_port());
  auto faults = client.Get("/v1/faults");
  EXPECT_EQ(faults->body, "{\"latency_ms\":0,\"unavailable_ratio\":0,\"outage_until\":null,\"reject_point_ratio\":0}");
}

class FaultsFromOptionsTest : public EmulatorTest {
 protected:
  Emulator::Options EmulatorOptions() override {
    Emulator::Options options;
    options.faults.unavailable_ratio = 1;
    return options;
  }
};

TEST_F(FaultsFromOptionsTest, StartsWithTheGivenFaults) {
  EXPECT_EQ(Create({GaugeSeries({}, base_, 1)}).error_code(), grpc::StatusCode::UNAVAILABLE);
}

class SinkModeTest : public FaultsTest {
 protected:
  Emulator::Options EmulatorOptions() override {
    Emulator::Options options;
    options.sink = true;
    return options;
  }

  // A CreateTimeSeries call whose request is `bytes` as they are, over the generic (byte) path.
  struct RawCall {
    grpc::ClientContext context;
    grpc::ByteBuffer request, response;
    std::promise<grpc::Status> done;
  };

  // Starts `call` on `stub`; call->done is set with its status.
  static void StartRaw(grpc::GenericStub& stub, const std::string& bytes, RawCall* call) {
    grpc::Slice slice(bytes);
    call->request = grpc::ByteBuffer(&slice, 1);
    stub.UnaryCall(&call->context, "/google.monitoring.v3.MetricService/CreateTimeSeries", grpc::StubOptions(),
                   &call->request, &call->response, [call](grpc::Status status) { call->done.set_value(status); });
  }

  grpc::GenericStub NewStub() {
    return grpc::GenericStub(grpc::CreateChannel(emulator_->grpc_endpoint(), grpc::InsecureChannelCredentials()));
  }

  // Sends `bytes` as a CreateTimeSeries request and waits for its status.
  grpc::Status CreateRaw(const std::string& bytes) {
    grpc::GenericStub stub = NewStub();
    RawCall call;
    StartRaw(stub, bytes, &call);
    return call.done.get_future().get();
  }
};

TEST_F(SinkModeTest, CountsAndAcceptsEverythingWithoutStoring) {
  TimeSeries bad = GaugeSeries({}, base_, 1, "custom.googleapis.com/not-prometheus");
  EXPECT_TRUE(Create({GaugeSeries({}, base_, 1), bad}).ok());
  EXPECT_TRUE(Create({GaugeSeries({}, base_, 1)}).ok());  // out of order, but not checked
  EXPECT_EQ(emulator_->store().series_count(), 0u);
  EXPECT_EQ(Stats(),
            "{\"sink\":true,\"series\":0,\"requests\":2,\"list_requests\":0,\"points_received\":3,"
            "\"points_accepted\":3,\"points_rejected_total\":0,\"points_rejected\":{},\"requests_failed_by_fault\":0}");
}

TEST_F(SinkModeTest, CountsEveryPointOfASeries) {
  TimeSeries series = GaugeSeries({}, base_, 1);
  *series.add_points() = series.points(0);  // GCM would refuse two points; the sink only counts
  EXPECT_TRUE(Create({series}).ok());
  EXPECT_THAT(Stats(), HasSubstr("\"points_received\":2,\"points_accepted\":2"));
}

TEST_F(SinkModeTest, AppliesLatencyAndUnavailableFaults) {
  ASSERT_EQ(PostFaults("latency_ms=300&unavailable_ratio=1")->status, 200);
  const auto start = std::chrono::steady_clock::now();
  EXPECT_EQ(Create({GaugeSeries({}, base_, 1)}).error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_GE(std::chrono::steady_clock::now() - start, std::chrono::milliseconds(300));
  ASSERT_EQ(PostFaults("unavailable_ratio=0")->status, 200);
  EXPECT_TRUE(Create({GaugeSeries({}, base_, 1)}).ok());
  EXPECT_THAT(Stats(), HasSubstr("\"points_received\":2,\"points_accepted\":1"));
  EXPECT_THAT(Stats(), HasSubstr("\"requests_failed_by_fault\":1"));
}

TEST_F(SinkModeTest, RefusesBytesThatAreNotARequest) {
  // time_series (field 2) whose length runs past the end of the message
  const grpc::Status status = CreateRaw(std::string("\x12\x05" "ab", 4));
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(status.error_message(), "request is not a CreateTimeSeriesRequest");
  EXPECT_TRUE(CreateRaw("").ok());  // an empty request: no points
  EXPECT_THAT(Stats(), HasSubstr("\"requests\":1,\"list_requests\":0,\"points_received\":0"));
}

// Google's front ends serve at most 100 calls at once on one connection; the emulator can do the same.
class StreamLimitTest : public SinkModeTest {
 protected:
  Emulator::Options EmulatorOptions() override {
    Emulator::Options options = SinkModeTest::EmulatorOptions();
    options.max_concurrent_streams = 1;
    return options;
  }
};

TEST_F(StreamLimitTest, CallsOnOneConnectionPastTheLimitWaitForTheFirst) {
  ASSERT_EQ(PostFaults("latency_ms=300")->status, 200);
  grpc::GenericStub stub = NewStub();
  const std::string bytes = RequestOf({GaugeSeries({}, base_, 1)}).SerializeAsString();
  RawCall calls[2];
  const auto start = std::chrono::steady_clock::now();
  for (RawCall& call : calls) StartRaw(stub, bytes, &call);
  for (RawCall& call : calls) EXPECT_TRUE(call.done.get_future().get().ok());
  // Served one after the other: without the limit both would be answered after about 300 ms.
  EXPECT_GE(std::chrono::steady_clock::now() - start, std::chrono::milliseconds(600));
  EXPECT_THAT(Stats(), HasSubstr("\"requests\":2,"));
}

}  // namespace
}  // namespace prom2gcm::emulator::testing
