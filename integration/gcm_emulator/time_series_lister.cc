#include "integration/gcm_emulator/time_series_lister.h"

#include <charconv>

#include "integration/gcm_emulator/series_checks.h"
#include "integration/gcm_emulator/series_filter.h"

namespace prom2gcm::emulator {
namespace {

using google::monitoring::v3::ListTimeSeriesRequest;
using google::monitoring::v3::ListTimeSeriesResponse;
using google::monitoring::v3::TimeSeries;

grpc::Status InvalidArgumentStatus(const std::string& message) {
  return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, message);
}

// The end times a point may have to be listed: (start, end], or exactly end without a start.
struct EndTimeRange {
  TimeNs after = 0;
  TimeNs until = 0;
  bool Contains(TimeNs end) const { return after < end && end <= until; }
};

grpc::Status ParseInterval(const ListTimeSeriesRequest& request, EndTimeRange* range) {
  if (!request.interval().has_end_time()) {
    return InvalidArgumentStatus("Field interval.endTime had an invalid value: An end time is required.");
  }
  range->until = ToNanos(request.interval().end_time());
  range->after = range->until - 1;
  if (!request.interval().has_start_time()) return grpc::Status::OK;
  const TimeNs start = ToNanos(request.interval().start_time());
  if (start > range->until) {
    return InvalidArgumentStatus(
        "Field interval.startTime had an invalid value: The start time must not be "
        "later than the end time.");
  }
  range->after = start == range->until ? start - 1 : start;
  return grpc::Status::OK;
}

grpc::Status ParseFilter(const ListTimeSeriesRequest& request, const std::string& project, SeriesFilter* filter) {
  std::string error;
  if (!ParseSeriesFilter(request.filter(), filter, &error)) {
    return InvalidArgumentStatus("Field filter had an invalid value of " + Quoted(request.filter()) + ": " + error +
                                 ".");
  }
  if (filter->metric_type.empty()) {
    return InvalidArgumentStatus("Field filter had an invalid value of " + Quoted(request.filter()) +
                                 ": The filter must select a metric type: metric.type = \"...\".");
  }
  if (!filter->project.empty() && filter->project != project) {
    return InvalidArgumentStatus(
        "Field filter had an invalid value: the project in the filter must be the "
        "project of the request.");
  }
  filter->project = project;
  return grpc::Status::OK;
}

grpc::Status ParsePageToken(const std::string& token, size_t* offset) {
  *offset = 0;
  if (token.empty()) return grpc::Status::OK;
  auto [end, ec] = std::from_chars(token.data(), token.data() + token.size(), *offset);
  if (ec == std::errc() && end == token.data() + token.size()) return grpc::Status::OK;
  return InvalidArgumentStatus("Field pageToken had an invalid value of " + Quoted(token) + ".");
}

// The series with the points in `range`, newest first; empty points if none (or view HEADERS).
TimeSeries ToListedSeries(const StoredSeries& stored, const EndTimeRange& range, bool with_points) {
  TimeSeries series;
  *series.mutable_metric() = stored.metric;
  *series.mutable_resource() = stored.resource;
  series.set_metric_kind(stored.kind);
  series.set_value_type(stored.value_type);
  if (!with_points) return series;
  for (auto it = stored.points.rbegin(); it != stored.points.rend(); ++it) {
    if (!range.Contains(it->end)) continue;
    auto* point = series.add_points();
    *point->mutable_interval()->mutable_start_time() = ToTimestamp(it->start);
    *point->mutable_interval()->mutable_end_time() = ToTimestamp(it->end);
    *point->mutable_value() = it->value;
  }
  return series;
}

bool HasPointIn(const StoredSeries& series, const EndTimeRange& range) {
  for (const StoredPoint& point : series.points) {
    if (range.Contains(point.end)) return true;
  }
  return false;
}

}  // namespace

grpc::Status ListTimeSeries(const SeriesStore& store, const ListTimeSeriesRequest& request,
                            ListTimeSeriesResponse* response) {
  std::string project;
  if (!ParseProjectName(request.name(), &project)) {
    return InvalidArgumentStatus("Field name had an invalid value of " + Quoted(request.name()) +
                                 ": it must be of the form \"projects/{project_id}\".");
  }
  SeriesFilter filter;
  EndTimeRange range;
  size_t offset = 0;
  if (grpc::Status status = ParseFilter(request, project, &filter); !status.ok()) return status;
  if (grpc::Status status = ParseInterval(request, &range); !status.ok()) return status;
  if (grpc::Status status = ParsePageToken(request.page_token(), &offset); !status.ok()) return status;
  const std::vector<StoredSeries> found = store.Find(
      [&filter, &range](const StoredSeries& series) { return filter.Matches(series) && HasPointIn(series, range); });
  const size_t page_size = request.page_size() > 0 ? static_cast<size_t>(request.page_size()) : found.size();
  const bool with_points = request.view() == ListTimeSeriesRequest::FULL;
  for (size_t i = offset; i < found.size() && i < offset + page_size; ++i) {
    *response->add_time_series() = ToListedSeries(found[i], range, with_points);
  }
  if (offset + page_size < found.size()) response->set_next_page_token(std::to_string(offset + page_size));
  return grpc::Status::OK;
}

}  // namespace prom2gcm::emulator
