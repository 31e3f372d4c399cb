#include "integration/gcm_emulator/time_series_writer.h"

#include "integration/gcm_emulator/series_checks.h"
#include "integration/gcm_emulator/series_identity.h"

namespace prom2gcm::emulator {

using google::monitoring::v3::CreateTimeSeriesRequest;
using google::monitoring::v3::TimeSeries;

int CountPoints(const CreateTimeSeriesRequest& request) {
  int points = 0;
  for (const TimeSeries& series : request.time_series()) points += series.points_size();
  return points;
}

TimeSeriesWriter::TimeSeriesWriter(SeriesStore* store, FaultInjector* faults) : store_(store), faults_(faults) {}

WriteOutcome TimeSeriesWriter::Write(const CreateTimeSeriesRequest& request, TimeNs now) {
  WriteOutcome outcome;
  outcome.total_points = CountPoints(request);
  std::string project;
  outcome.request_rejection = CheckRequest(request, &project);
  if (outcome.request_rejection) return outcome;
  std::set<std::string> seen_keys;
  for (int i = 0; i < request.time_series_size(); ++i) {
    const TimeSeries& series = request.time_series(i);
    if (auto rejection = WriteSeries(series, project, now, &seen_keys)) {
      outcome.failures.push_back(SeriesFailure{i, series.points_size(), std::move(*rejection)});
    } else {
      outcome.success_points += series.points_size();
    }
  }
  return outcome;
}

std::optional<Rejection> TimeSeriesWriter::WriteSeries(const TimeSeries& series, const std::string& project, TimeNs now,
                                                       std::set<std::string>* seen_keys) {
  std::string key = SeriesKey(series);
  if (!seen_keys->insert(key).second) {
    return InvalidArgument("duplicate_series",
                           "Field timeSeries had an invalid value: Duplicate TimeSeries "
                           "encountered. Only one point can be written per TimeSeries per "
                           "request.");
  }
  if (auto rejection = CheckSeries(series, project, now)) return rejection;
  if (faults_->RejectPoint()) {
    return InvalidArgument("injected_fault", "The point was rejected by an injected fault (reject_point_ratio).");
  }
  return store_->Append(series, key);
}

}  // namespace prom2gcm::emulator
