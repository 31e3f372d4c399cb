#include "integration/gcm_emulator/metric_service.h"

#include <algorithm>
#include <chrono>
#include <thread>
#include <vector>

#include <grpcpp/alarm.h>

#include "server/wire_reader.h"

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

// The bytes of a message gRPC received, in one piece.
std::string Flatten(const grpc::ByteBuffer& buffer) {
  std::vector<grpc::Slice> slices;
  std::string bytes;
  if (!buffer.Dump(&slices).ok()) return bytes;
  bytes.reserve(buffer.Length());
  for (const grpc::Slice& slice : slices) bytes.append(reinterpret_cast<const char*>(slice.begin()), slice.size());
  return bytes;
}

constexpr uint32_t kRequestTimeSeriesField = 2;  // CreateTimeSeriesRequest.time_series
constexpr uint32_t kTimeSeriesPointsField = 5;   // TimeSeries.points

}  // namespace

int CountPointsOnWire(std::string_view request) {
  int points = 0;
  WireReader fields(request);
  while (fields.Next()) {
    if (fields.field() != kRequestTimeSeriesField) continue;
    if (!fields.Expect(WireType::kLengthDelimited)) break;
    WireReader series(fields.bytes());
    while (series.Next()) {
      if (series.field() == kTimeSeriesPointsField) ++points;
    }
    if (series.failed()) return -1;
  }
  return fields.failed() ? -1 : points;
}

EmulatedMetricService::EmulatedMetricService(bool sink, SeriesStore* store, FaultInjector* faults, EmulatorStats* stats)
    : sink_(sink), store_(store), faults_(faults), stats_(stats), writer_(store, faults) {
  if (!sink_) return;
  // CreateTimeSeries (method 1 of the service) takes bytes instead of a parsed request, as the
  // generated WithRawCallbackMethod_CreateTimeSeries does; ListTimeSeries stays as it is.
  MarkMethodRawCallback(1, new grpc::internal::CallbackUnaryHandler<grpc::ByteBuffer, grpc::ByteBuffer>(
                               [this](grpc::CallbackServerContext* context, const grpc::ByteBuffer* request,
                                      grpc::ByteBuffer* response) {
                                 return SinkCreateTimeSeries(context, request, response);
                               }));
}

grpc::ServerUnaryReactor* EmulatedMetricService::SinkCreateTimeSeries(grpc::CallbackServerContext* context,
                                                                      const grpc::ByteBuffer* request,
                                                                      grpc::ByteBuffer* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  grpc::Slice empty;  // google.protobuf.Empty: no bytes, but a message all the same
  *response = grpc::ByteBuffer(&empty, 1);
  const int points = CountPointsOnWire(Flatten(*request));
  if (points < 0) {
    reactor->Finish(grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "request is not a CreateTimeSeriesRequest"));
    return reactor;
  }
  stats_->CountCreateRequest(points);
  const CallFault fault = faults_->DecideCall(WallClockNow());
  const std::optional<grpc::Status> failed = FaultStatus(fault);
  if (!failed) stats_->CountAccepted(points);
  const grpc::Status status = failed.value_or(grpc::Status::OK);
  if (fault.latency_ms <= 0) {
    reactor->Finish(status);
    return reactor;
  }
  // The injected latency, without holding one of gRPC's callback threads meanwhile.
  auto* alarm = new grpc::Alarm;
  alarm->Set(std::chrono::system_clock::now() + std::chrono::milliseconds(fault.latency_ms),
             [reactor, alarm, status](bool) {
               reactor->Finish(status);
               delete alarm;
             });
  return reactor;
}

std::optional<grpc::Status> EmulatedMetricService::InjectCallFault(grpc::ServerContext* context) {
  const CallFault fault = faults_->DecideCall(WallClockNow());
  if (fault.latency_ms > 0) SleepUnlessCancelled(fault.latency_ms, context);
  return FaultStatus(fault);
}

std::optional<grpc::Status> EmulatedMetricService::FaultStatus(const CallFault& fault) {
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
