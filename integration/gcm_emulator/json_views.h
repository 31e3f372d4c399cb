// The JSON documents of the emulator's HTTP API, built from snapshots of its state:
//   GET /v1/timeseries  {"timeseries":[{"metric_type", "metric_labels", "resource_type",
//                        "resource_labels", "metric_kind", "value_type",
//                        "points":[{"start_ms","end_ms","value"}]}]}
//   GET /v1/stats       {"sink","series","requests","list_requests","points_received",
//                        "points_accepted","points_rejected_total","points_rejected":{reason:n},
//                        "requests_failed_by_fault"}
//   GET /v1/faults      {"latency_ms","unavailable_ratio","outage_until","reject_point_ratio"}
// A point's value is a JSON number (DOUBLE, INT64), boolean, string, or for a DISTRIBUTION an
// object {"count","mean","sum_of_squared_deviation","bucket_bounds":[...],"bucket_counts":[...],
// "exemplars":[{"value","time_ms"}]}.
//
// Stateless free functions; safe from any thread.
#ifndef PROM2GCM_INTEGRATION_GCM_EMULATOR_JSON_VIEWS_H_
#define PROM2GCM_INTEGRATION_GCM_EMULATOR_JSON_VIEWS_H_

#include <string>
#include <vector>

#include "integration/gcm_emulator/emulator_stats.h"
#include "integration/gcm_emulator/fault_injector.h"
#include "integration/gcm_emulator/series_store.h"

namespace prom2gcm::emulator {

std::string TimeSeriesJson(const std::vector<StoredSeries>& series);
std::string StatsJson(const StatsSnapshot& stats, size_t series_count, bool sink);
std::string FaultsJson(const FaultSettings& faults);

// The upper bounds of the finite buckets the options define (explicit, linear or exponential).
std::vector<double> BucketBounds(const google::api::Distribution::BucketOptions& options);

}  // namespace prom2gcm::emulator

#endif  // PROM2GCM_INTEGRATION_GCM_EMULATOR_JSON_VIEWS_H_
