// WriteOutcome records what CreateTimeSeries did with one request — points stored, series
// refused and why — and turns it into GCM's answer: OK, or INVALID_ARGUMENT whose binary details
// (trailer grpc-status-details-bin) are a google.rpc.Status carrying a
// google.monitoring.v3.CreateTimeSeriesSummary with the errors grouped by code and message.
//
// A plain value type and stateless free functions; safe from any thread.
#ifndef PROM2GCM_INTEGRATION_GCM_EMULATOR_WRITE_OUTCOME_H_
#define PROM2GCM_INTEGRATION_GCM_EMULATOR_WRITE_OUTCOME_H_

#include <grpcpp/support/status.h>

#include <optional>
#include <vector>

#include "google/monitoring/v3/metric_service.pb.h"
#include "integration/gcm_emulator/emulator_stats.h"
#include "integration/gcm_emulator/rejection.h"

namespace prom2gcm::emulator {

struct SeriesFailure {
  int index = 0;        // in the request's time_series
  int point_count = 0;  // points of that series, all refused
  Rejection rejection;
};

struct WriteOutcome {
  int total_points = 0;
  int success_points = 0;
  std::optional<Rejection> request_rejection;  // set: the whole request was refused, nothing stored
  std::vector<SeriesFailure> failures;
};

// The summary GCM sends with a partly failed request. Errors keep the order of first occurrence;
// past a size budget that keeps the gRPC trailers small, the rest are merged into one error.
google::monitoring::v3::CreateTimeSeriesSummary BuildSummary(const WriteOutcome& outcome);

// The answer to the request: OK if every point was stored.
grpc::Status ToGrpcStatus(const WriteOutcome& outcome);

// Adds the outcome's accepted and rejected points to *stats.
void CountOutcome(const WriteOutcome& outcome, EmulatorStats* stats);

}  // namespace prom2gcm::emulator

#endif  // PROM2GCM_INTEGRATION_GCM_EMULATOR_WRITE_OUTCOME_H_
