// SeriesStore holds what the emulator has accepted: every series' points and, per project and
// metric type, the metric descriptor (kind and value type) created on the type's first write. It
// enforces the stateful half of GCM's CreateTimeSeries rules: descriptor conflicts, point order,
// one point per series per sampling period, and cumulative start times.
//
// Owns copies of all stored data. Thread-safety: every method takes an internal mutex, so gRPC and
// HTTP threads may call it concurrently; readers get copies.
#ifndef PROM2GCM_INTEGRATION_GCM_EMULATOR_SERIES_STORE_H_
#define PROM2GCM_INTEGRATION_GCM_EMULATOR_SERIES_STORE_H_

#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "google/monitoring/v3/metric.pb.h"
#include "integration/gcm_emulator/emulator_time.h"
#include "integration/gcm_emulator/rejection.h"

namespace prom2gcm::emulator {

struct StoredPoint {
  TimeNs start = 0;  // equals end for gauges
  TimeNs end = 0;
  google::monitoring::v3::TypedValue value;
};

struct StoredSeries {
  google::api::Metric metric;
  google::api::MonitoredResource resource;
  google::api::MetricDescriptor::MetricKind kind = google::api::MetricDescriptor::METRIC_KIND_UNSPECIFIED;
  google::api::MetricDescriptor::ValueType value_type = google::api::MetricDescriptor::VALUE_TYPE_UNSPECIFIED;
  std::vector<StoredPoint> points;  // oldest first
};

class SeriesStore {
 public:
  // GCM's default sampling period: at most one point per series every 5 s.
  static constexpr TimeNs kDefaultSamplingPeriod = 5 * kNanosPerSecond;

  explicit SeriesStore(TimeNs sampling_period = kDefaultSamplingPeriod);

  SeriesStore(const SeriesStore&) = delete;
  SeriesStore& operator=(const SeriesStore&) = delete;

  // Stores the single point of `series` under `key` (SeriesKey(series)), or says why not.
  // REQUIRES: CheckSeries() accepted `series`.
  std::optional<Rejection> Append(const google::monitoring::v3::TimeSeries& series, const std::string& key);

  // Copies of the series for which `match` returns true, in key order.
  std::vector<StoredSeries> Find(const std::function<bool(const StoredSeries&)>& match) const;

  // Forgets every series and metric descriptor.
  void Clear();

  size_t series_count() const;

 private:
  struct Descriptor {
    google::api::MetricDescriptor::MetricKind kind;
    google::api::MetricDescriptor::ValueType value_type;
  };

  std::optional<Rejection> CheckDescriptor(const google::monitoring::v3::TimeSeries& series,
                                           const std::string& descriptor_key) const;
  std::optional<Rejection> CheckAgainstLatest(const StoredSeries& stored, const StoredPoint& point) const;

  const TimeNs sampling_period_;
  mutable std::mutex mutex_;
  std::map<std::string, Descriptor> descriptors_;  // by project_id '\0' metric type; guarded by mutex_
  std::map<std::string, StoredSeries> series_;     // by SeriesKey; guarded by mutex_
};

}  // namespace prom2gcm::emulator

#endif  // PROM2GCM_INTEGRATION_GCM_EMULATOR_SERIES_STORE_H_
