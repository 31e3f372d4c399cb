// The identity of a time series as GCM sees it: metric type, metric labels, resource type and
// resource labels. Two TimeSeries with equal keys are the same series, whatever their label order.
//
// Stateless free functions; safe from any thread.
#ifndef PROM2GCM_INTEGRATION_GCM_EMULATOR_SERIES_IDENTITY_H_
#define PROM2GCM_INTEGRATION_GCM_EMULATOR_SERIES_IDENTITY_H_

#include <string>

#include "google/monitoring/v3/metric.pb.h"

namespace prom2gcm::emulator {

// A canonical byte string; equal for the same series, different for different ones. Sorts by
// metric type first, so a store keyed by it lists series grouped by metric.
std::string SeriesKey(const google::monitoring::v3::TimeSeries& series);

}  // namespace prom2gcm::emulator

#endif  // PROM2GCM_INTEGRATION_GCM_EMULATOR_SERIES_IDENTITY_H_
