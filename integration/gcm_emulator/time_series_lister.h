// ListTimeSeries as the emulator answers it: the series of the request's project that match its
// filter (see series_filter.h; metric.type is required), each with its points whose end time lies
// in the interval (start_time, end_time] — or exactly at end_time if start_time is absent —
// newest first, as GCM returns them. Supports view HEADERS and paging by page_size/page_token.
//
// A stateless free function; safe from any thread (the store locks internally).
#ifndef PROM2GCM_INTEGRATION_GCM_EMULATOR_TIME_SERIES_LISTER_H_
#define PROM2GCM_INTEGRATION_GCM_EMULATOR_TIME_SERIES_LISTER_H_

#include <grpcpp/support/status.h>

#include "google/monitoring/v3/metric_service.pb.h"
#include "integration/gcm_emulator/series_store.h"

namespace prom2gcm::emulator {

grpc::Status ListTimeSeries(const SeriesStore& store, const google::monitoring::v3::ListTimeSeriesRequest& request,
                            google::monitoring::v3::ListTimeSeriesResponse* response);

}  // namespace prom2gcm::emulator

#endif  // PROM2GCM_INTEGRATION_GCM_EMULATOR_TIME_SERIES_LISTER_H_
