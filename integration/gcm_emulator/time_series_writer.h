// TimeSeriesWriter carries out one CreateTimeSeries request: it checks the request, then each
// TimeSeries in order (duplicates within the request, the stateless rules of series_checks.h, the
// injected point-rejection fault, then the store's stateful rules) and stores the good points, as
// GCM does for a partly bad request.
//
// Borrows the store and the fault injector, which must outlive it. Thread-safety: Write() may be
// called from many threads at once (the store and the injector lock internally).
#ifndef PROM2GCM_INTEGRATION_GCM_EMULATOR_TIME_SERIES_WRITER_H_
#define PROM2GCM_INTEGRATION_GCM_EMULATOR_TIME_SERIES_WRITER_H_

#include <optional>
#include <set>
#include <string>

#include "google/monitoring/v3/metric_service.pb.h"
#include "integration/gcm_emulator/emulator_time.h"
#include "integration/gcm_emulator/fault_injector.h"
#include "integration/gcm_emulator/series_store.h"
#include "integration/gcm_emulator/write_outcome.h"

namespace prom2gcm::emulator {

class TimeSeriesWriter {
 public:
  TimeSeriesWriter(SeriesStore* store, FaultInjector* faults);

  // Writes the request's good points; `now` is the wall clock the time-window rules use.
  WriteOutcome Write(const google::monitoring::v3::CreateTimeSeriesRequest& request, TimeNs now);

 private:
  std::optional<Rejection> WriteSeries(const google::monitoring::v3::TimeSeries& series, const std::string& project,
                                       TimeNs now, std::set<std::string>* seen_keys);

  SeriesStore* const store_;
  FaultInjector* const faults_;
};

// The number of points in all of the request's TimeSeries.
int CountPoints(const google::monitoring::v3::CreateTimeSeriesRequest& request);

}  // namespace prom2gcm::emulator

#endif  // PROM2GCM_INTEGRATION_GCM_EMULATOR_TIME_SERIES_WRITER_H_
