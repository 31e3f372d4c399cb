// SeriesFilter selects stored series for ListTimeSeries and GET /v1/timeseries. It is parsed from
// the subset of GCM's monitoring filter syntax the emulator understands: equality terms joined by
// AND, on metric.type, resource.type, metric.labels.KEY, resource.labels.KEY and project, with
// double- or single-quoted values, e.g.
//   metric.type = "prometheus.googleapis.com/up/gauge" AND resource.labels.job = "node"
//
// A plain value type; const methods are safe from any thread.
#ifndef PROM2GCM_INTEGRATION_GCM_EMULATOR_SERIES_FILTER_H_
#define PROM2GCM_INTEGRATION_GCM_EMULATOR_SERIES_FILTER_H_

#include <map>
#include <string>
#include <string_view>

#include "integration/gcm_emulator/series_store.h"

namespace prom2gcm::emulator {

struct SeriesFilter {
  // An empty field matches anything.
  std::string metric_type;
  std::string resource_type;
  std::string project;  // the resource label project_id
  std::map<std::string, std::string> metric_labels;
  std::map<std::string, std::string> resource_labels;

  bool Matches(const StoredSeries& series) const;
};

// Parses `text` into *filter. Returns false with *error set on syntax it does not understand.
bool ParseSeriesFilter(std::string_view text, SeriesFilter* filter, std::string* error);

}  // namespace prom2gcm::emulator

#endif  // PROM2GCM_INTEGRATION_GCM_EMULATOR_SERIES_FILTER_H_
