// EmulatedMetricService is the gRPC face of the emulator: google.monitoring.v3.MetricService with
// CreateTimeSeries (GCM's write rules, see TimeSeriesWriter) and ListTimeSeries. Before either, it
// applies the injected call faults (latency, UNAVAILABLE). In sink mode CreateTimeSeries only
// counts requests and points and accepts everything without checking or storing it; it takes the
// request as bytes and counts points with a wire walk (CountPointsOnWire), since parsing GCM's
// label maps into message classes cost the sink several times the CPU of the exporter it measures
// (BENCHMARKS.md), which starved the exporter on a small machine.
//
// Borrows the store, fault injector and stats, which must outlive it. Thread-safety: gRPC calls its
// methods from many threads at once (sync threads; in sink mode callback threads for
// CreateTimeSeries); all shared state locks internally.
#ifndef PROM2GCM_INTEGRATION_GCM_EMULATOR_METRIC_SERVICE_H_
#define PROM2GCM_INTEGRATION_GCM_EMULATOR_METRIC_SERVICE_H_

#include <optional>
#include <string_view>

#include <grpcpp/support/byte_buffer.h>

#include "google/monitoring/v3/metric_service.grpc.pb.h"
#include "integration/gcm_emulator/emulator_stats.h"
#include "integration/gcm_emulator/fault_injector.h"
#include "integration/gcm_emulator/series_store.h"
#include "integration/gcm_emulator/time_series_writer.h"

namespace prom2gcm::emulator {

class EmulatedMetricService final : public google::monitoring::v3::MetricService::Service {
 public:
  EmulatedMetricService(bool sink, SeriesStore* store, FaultInjector* faults, EmulatorStats* stats);

  grpc::Status CreateTimeSeries(grpc::ServerContext* context,
                                const google::monitoring::v3::CreateTimeSeriesRequest* request,
                                google::protobuf::Empty* response) override;

  grpc::Status ListTimeSeries(grpc::ServerContext* context,
                              const google::monitoring::v3::ListTimeSeriesRequest* request,
                              google::monitoring::v3::ListTimeSeriesResponse* response) override;

 private:
  // Sink mode's CreateTimeSeries, from the request's bytes.
  grpc::ServerUnaryReactor* SinkCreateTimeSeries(grpc::CallbackServerContext* context, const grpc::ByteBuffer* request,
                                                 grpc::ByteBuffer* response);

  // Sleeps the injected latency; returns the UNAVAILABLE status if the call is to fail.
  std::optional<grpc::Status> InjectCallFault(grpc::ServerContext* context);
  // The UNAVAILABLE status of a call the fault fails, counted; nullopt if the call goes on.
  std::optional<grpc::Status> FaultStatus(const CallFault& fault);

  const bool sink_;
  SeriesStore* const store_;
  FaultInjector* const faults_;
  EmulatorStats* const stats_;
  TimeSeriesWriter writer_;
};

// The points in a serialized CreateTimeSeriesRequest, or -1 if the bytes are not one.
int CountPointsOnWire(std::string_view request);

}  // namespace prom2gcm::emulator

#endif  // PROM2GCM_INTEGRATION_GCM_EMULATOR_METRIC_SERVICE_H_
