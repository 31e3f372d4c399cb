// The stateless half of GCM's CreateTimeSeries rules: everything that can be judged from one
// TimeSeries, the request's project and the wall clock, without looking at stored data. (The
// stateful half — metric descriptors, point order, sampling period, cumulative resets — lives in
// SeriesStore.)
//
// Stateless free functions; safe from any thread.
#ifndef PROM2GCM_INTEGRATION_GCM_EMULATOR_SERIES_CHECKS_H_
#define PROM2GCM_INTEGRATION_GCM_EMULATOR_SERIES_CHECKS_H_

#include <optional>
#include <string>

#include "google/monitoring/v3/metric.pb.h"
#include "google/monitoring/v3/metric_service.pb.h"
#include "integration/gcm_emulator/emulator_time.h"
#include "integration/gcm_emulator/rejection.h"

namespace prom2gcm::emulator {

// GCM's limits for prometheus_target metrics.
constexpr int kMaxSeriesPerRequest = 200;
constexpr int kMaxMetricLabels = 100;
constexpr size_t kMaxLabelKeyLength = 100;
constexpr size_t kMaxLabelValueLength = 1024;
constexpr TimeNs kMaxPointAge = 25 * kNanosPerHour;
constexpr TimeNs kMaxPointFutureSkew = 5 * kNanosPerMinute;
constexpr char kMetricTypePrefix[] = "prometheus.googleapis.com/";
constexpr char kResourceType[] = "prometheus_target";

// Parses a request name "projects/ID" into ID. Returns false if the name has another form.
bool ParseProjectName(const std::string& name, std::string* project);

// Checks the request's name ("projects/ID") and series count. On success sets *project to ID.
std::optional<Rejection> CheckRequest(const google::monitoring::v3::CreateTimeSeriesRequest& request,
                                      std::string* project);

// Checks one TimeSeries of a request for `project`, with `now` as the wall clock.
std::optional<Rejection> CheckSeries(const google::monitoring::v3::TimeSeries& series, const std::string& project,
                                     TimeNs now);

}  // namespace prom2gcm::emulator

#endif  // PROM2GCM_INTEGRATION_GCM_EMULATOR_SERIES_CHECKS_H_
