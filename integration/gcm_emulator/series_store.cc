#include "integration/gcm_emulator/series_store.h"

namespace prom2gcm::emulator {
namespace {

using google::api::MetricDescriptor;
using google::monitoring::v3::TimeSeries;

std::string DescriptorKey(const TimeSeries& series) {
  return series.resource().labels().at("project_id") + '\0' + series.metric().type();
}

StoredPoint ToStoredPoint(const TimeSeries& series) {
  const auto& point = series.points(0);
  StoredPoint stored;
  stored.end = ToNanos(point.interval().end_time());
  stored.start = series.metric_kind() == MetricDescriptor::GAUGE ? stored.end : ToNanos(point.interval().start_time());
  stored.value = point.value();
  return stored;
}

StoredSeries NewStoredSeries(const TimeSeries& series) {
  StoredSeries stored;
  stored.metric = series.metric();
  stored.resource = series.resource();
  stored.kind = series.metric_kind();
  stored.value_type = series.value_type();
  return stored;
}

}  // namespace

SeriesStore::SeriesStore(TimeNs sampling_period) : sampling_period_(sampling_period) {}

std::optional<Rejection> SeriesStore::CheckDescriptor(const TimeSeries& series,
                                                      const std::string& descriptor_key) const {
  auto it = descriptors_.find(descriptor_key);
  if (it == descriptors_.end()) return std::nullopt;
  const std::string type = Abbreviated(series.metric().type());
  if (it->second.kind != series.metric_kind()) {
    return InvalidArgument("descriptor_conflict", "Metric kind for metric " + type + " must be " +
                                                      MetricDescriptor::MetricKind_Name(it->second.kind) + ", but is " +
                                                      MetricDescriptor::MetricKind_Name(series.metric_kind()) + ".");
  }
  if (it->second.value_type != series.value_type()) {
    return InvalidArgument("descriptor_conflict", "Value type for metric " + type + " must be " +
                                                      MetricDescriptor::ValueType_Name(it->second.value_type) +
                                                      ", but is " +
                                                      MetricDescriptor::ValueType_Name(series.value_type()) + ".");
  }
  return std::nullopt;
}

std::optional<Rejection> SeriesStore::CheckAgainstLatest(const StoredSeries& stored, const StoredPoint& point) const {
  if (stored.points.empty()) return std::nullopt;
  const StoredPoint& latest = stored.points.back();
  if (point.end <= latest.end) {
    return InvalidArgument("out_of_order",
                           "Points must be written in order. One or more of the points specified "
                           "had an older start time than the most recent point.");
  }
  if (point.end - latest.end < sampling_period_) {
    return InvalidArgument("sampling_period",
                           "One or more points were written more frequently than the maximum "
                           "sampling period configured for the metric.");
  }
  const bool reset = point.start != latest.start;
  if (stored.kind == MetricDescriptor::CUMULATIVE && reset && point.start < latest.end) {
    return InvalidArgument("cumulative_reset", "The start time (" + FormatTime(point.start) +
                                                   ") of a cumulative point that resets the series must not be "
                                                   "before the end time (" +
                                                   FormatTime(latest.end) + ") of the most recent point.");
  }
  return std::nullopt;
}

std::optional<Rejection> SeriesStore::Append(const TimeSeries& series, const std::string& key) {
  const std::string descriptor_key = DescriptorKey(series);
  const StoredPoint point = ToStoredPoint(series);
  std::lock_guard<std::mutex> lock(mutex_);
  if (auto rejection = CheckDescriptor(series, descriptor_key)) return rejection;
  auto it = series_.find(key);
  if (it != series_.end()) {
    if (auto rejection = CheckAgainstLatest(it->second, point)) return rejection;
  } else {
    it = series_.emplace(key, NewStoredSeries(series)).first;
  }
  it->second.points.push_back(point);
  descriptors_.emplace(descriptor_key, Descriptor{series.metric_kind(), series.value_type()});
  return std::nullopt;
}

std::vector<StoredSeries> SeriesStore::Find(const std::function<bool(const StoredSeries&)>& match) const {
  std::vector<StoredSeries> found;
  std::lock_guard<std::mutex> lock(mutex_);
  for (const auto& [key, series] : series_) {
    if (match(series)) found.push_back(series);
  }
  return found;
}

void SeriesStore::Clear() {
  std::lock_guard<std::mutex> lock(mutex_);
  series_.clear();
  descriptors_.clear();
}

size_t SeriesStore::series_count() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return series_.size();
}

}  // namespace prom2gcm::emulator
