#include "integration/gcm_emulator/metric_service.h"

#include <algorithm>
#include <chrono>
#include <thread>

#include "integration/gcm_emulator/time_series_lister.h"

namespace prom2gcm::emulator {
namespace {

// Sleeps `millis`, waking early if the client cancels or the server shuts down.
void SleepUnlessCancelled(int64_t millis, grpc::ServerContext* context) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(millis);
  while (!context->IsCancelled()) {
    const auto left = deadline - std::chrono::steady_clock::now();
    if (left <= std::chrono::steady_clock::duration::zero()) return;
    std::this_thread::sleep_for(std::min<std::chrono::steady_clock::duration>(left, std::chrono::milliseconds(10)));
  }
}

}  // namespace

EmulatedMetricService::EmulatedMetricService(bool sink, SeriesStore* store, FaultInjector* faults, EmulatorStats* stats)
    : sink_(sink), store_(store), faults_(faults), stats_(stats), writer_(store, faults) {}

std::optional<grpc::Status> EmulatedMetricService::InjectCallFault(grpc::ServerContext* context) {
  const CallFault fault = faults_->DecideCall(WallClockNow());
  if (fault.latency_ms > 0) SleepUnlessCancelled(fault.latency_ms, context);
  if (!fault.unavailable_message) return std::nullopt;
  stats_->CountFaultFailure();
  return grpc::Status(grpc::StatusCode::UNAVAILABLE, *fault.unavailable_message);
}

grpc::Status EmulatedMetricService::CreateTimeSeries(grpc::ServerContext* context,
                                                     const google::monitoring::v3::CreateTimeSeriesRequest* request,
                                                     google::protobuf::Empty*) {
  const int points = CountPoints(*request);
  stats_->CountCreateRequest(points);
  if (auto fault = InjectCallFault(context)) return *fault;
  if (sink_) {
    stats_->CountAccepted(points);
    return grpc::Status::OK;
  }
  const WriteOutcome outcome = writer_.Write(*request, WallClockNow());
  CountOutcome(outcome, stats_);
  return ToGrpcStatus(outcome);
}

grpc::Status EmulatedMetricService::ListTimeSeries(grpc::ServerContext* context,
                                                   const google::monitoring::v3::ListTimeSeriesRequest* request,
                                                   google::monitoring::v3::ListTimeSeriesResponse* response) {
  stats_->CountListRequest();
  if (auto fault = InjectCallFault(context)) return *fault;
  return emulator::ListTimeSeries(*store_, *request, response);
}

}  // namespace prom2gcm::emulator
