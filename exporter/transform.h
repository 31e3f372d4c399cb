// Transform: how a Prometheus series and its samples become GCM time series and points, following
// Google's managed-Prometheus exporter.
//   - metric type prometheus.googleapis.com/NAME/KIND, KIND one of gauge, counter, summary,
//     summary:counter, unknown, unknown:counter, and histogram for native histograms: DISTRIBUTION
//     points, CUMULATIVE (counters) or GAUGE (gauge histograms), converted by native_histogram.h;
//     a classic histogram's _bucket/_sum/_count series go to the HistogramAssembler, and the
//     histograms it puts together are written like custom-bucket native histograms;
//   - resource prometheus_target{project_id, location, cluster, namespace, job, instance}, each from the
//     series' labels first, then the flags; those labels and __name__ leave the metric labels;
//   - gauges carry only an end time; counters are CUMULATIVE with a start time: the sender's start
//     (created) timestamp when 2.0 gives one, else the first sample is a baseline and later points
//     carry value - baseline, a decrease being a reset with start = sample time - 1 ms;
//   - a sample not newer than the last one seen for its series is a duplicate (a retried request);
//     a stale marker ends the series' counter state; a point sooner than the sampling period after
//     the last point queued for its GCM series is dropped (GCM keeps one point per 5 s).
//
// Thread-safety: const methods may be called concurrently; entries passed in must be guarded by the
// caller (their shard's mutex).
#ifndef PROM2GCM_EXPORTER_TRANSFORM_H_
#define PROM2GCM_EXPORTER_TRANSFORM_H_

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "exporter/histogram_assembler.h"
#include "exporter/native_histogram.h"
#include "exporter/project_table.h"
#include "exporter/series_filter.h"
#include "exporter/series_cache.h"
#include "exporter/shared_strings.h"
#include "server/decoded_request.h"

namespace prom2gcm {

struct TransformOptions {
  // Resource labels for series that do not carry them.
  std::string project_id;
  std::string location;
  std::string cluster;
  // Untyped series are written as NAME/unknown (gauge) and, unless this is false, also as
  // NAME/unknown:counter (cumulative).
  bool untyped_as_counter = true;
  int64_t sampling_period_ms = 5000;
  // Only series matching this filter are exported (null: all). Decided once per series.
  std::shared_ptr<const SeriesFilter> filter;
  // Labels removed from every series before export (--export.drop-label).
  std::vector<std::string> drop_labels;
  // Exemplars of histograms are written with their distribution points (--export.exemplars).
  bool exemplars = true;
  // GCM refuses a point whose end time is more than 25 h back or more than 5 min ahead, and with it the
  // whole CreateTimeSeries call: samples outside [now - max_point_age_ms, now + max_point_future_ms]
  // are dropped (too_old, in_future) before they touch the series' state. 0: no check (main sets
  // kGcmMaxPointAgeMs and kGcmMaxPointFutureMs).
  int64_t max_point_age_ms = 0;
  int64_t max_point_future_ms = 0;
  // The wall clock in ms since the epoch; null: the system's (coarse, a few ns a call). Tests set it.
  int64_t (*now_ms)() = nullptr;
};

inline constexpr int64_t kGcmMaxPointAgeMs = 25LL * 3600 * 1000;
inline constexpr int64_t kGcmMaxPointFutureMs = 5LL * 60 * 1000;

// Why a sample produced no point for a GCM series.
enum class PointDrop : uint8_t {
  kDuplicate,         // not newer than the last sample seen for the series
  kStaleMarker,       // ends the series; nothing to write
  kCounterBaseline,   // first sample of a counter without start time: the baseline
  kSamplingPeriod,    // sooner than the sampling period after the last point queued
  kStartNotBeforeEnd, // sender's start timestamp not before the sample time
  kSeriesDropped,     // the whole series is not exported (see SeriesDropReason)
  kValueTypeMismatch, // a float sample in a native histogram series, or a histogram in a float series
  kInvalidHistogram,  // a native histogram message that does not decode or is inconsistent
  kHistogramLayoutChange,  // custom bucket bounds changed: the histogram is the new baseline
  kTooOld,            // older than TransformOptions::max_point_age_ms (GCM refuses it)
  kInFuture,          // further ahead than TransformOptions::max_point_future_ms
  kCount,
};
const char* PointDropName(PointDrop drop);

// Drop counts gathered over a request, added to the metrics once per request.
struct DropCounts {
  std::array<uint64_t, static_cast<size_t>(PointDrop::kCount)> by_reason{};
  void Add(PointDrop drop, uint64_t n = 1) { by_reason[static_cast<size_t>(drop)] += n; }
  // Not drops, but counted alongside: observations of negative native histogram buckets folded into
  // the underflow bucket (see native_histogram.h).
  uint64_t negative_observations_folded = 0;
  std::string first_invalid_histogram;  // why the first kInvalidHistogram was refused
};

// A point ready to be queued in its shard.
struct PendingPoint {
  uint8_t target = 0;
  int64_t start_ms = 0;  // equal to end_ms for gauges
  int64_t end_ms = 0;
  double value = 0;
  // For a distribution target: the encoded google.monitoring.v3.TypedValue; `value` is unused.
  std::unique_ptr<std::string> typed_value;
};

class Transform {
 public:
  Transform(const TransformOptions& options, ProjectTable* projects) : options_(options), projects_(projects) {}

  // Builds the cache entry of a series seen for the first time, with `type` its Prometheus type
  // (kUnspecified when unknown).
  // A series with native histogram samples, or `distribution` (an assembled classic histogram),
  // gets a distribution target; a classic histogram's part series gets a histogram_part instead.
  std::unique_ptr<SeriesEntry> BuildEntry(const DecodedRequest& request, const Series& series, MetricType type,
                                          bool distribution = false) const;

  // Applies one sample of the series to its entry; writes up to two points into out and returns how
  // many. Drops are counted in drops. start_ms: the sender's start timestamp (0 when none).
  int Apply(SeriesEntry* entry, const Sample& sample, int64_t start_ms, PendingPoint out[2],
            DropCounts* drops) const;

  // Applies one native histogram sample of the series to its entry; writes at most one point (a
  // distribution) into *out and returns how many. scratch: decoding space, reused across calls.
  int ApplyHistogram(SeriesEntry* entry, const HistogramSample& sample, int64_t series_start_ms,
                     NativeHistogram* scratch, PendingPoint* out, DropCounts* drops) const;

  // Keeps the exemplars of a distribution series for its next point (none when exemplars are off or
  // the series is no distribution).
  void BufferExemplars(SeriesEntry* entry, const DecodedRequest& request, const Series& series) const;
  void BufferExemplars(SeriesEntry* entry, std::vector<GcmExemplar> exemplars) const;

  // The same for a classic histogram put together by the HistogramAssembler.
  int ApplyAssembledHistogram(SeriesEntry* entry, AssembledHistogram* assembled, PendingPoint* out,
                              DropCounts* drops) const;

  const TransformOptions& options() const { return options_; }

 private:
  // Duplicate, dropped-series and value-type checks shared by samples and histograms; false when
  // the sample makes no point (counted).
  // Also refuses, before anything else, a timestamp GCM would refuse (see max_point_age_ms).
  bool Admit(SeriesEntry* entry, int64_t timestamp_ms, bool histogram, DropCounts* drops) const;
  // The sampling period check of one target; records the point as queued when it passes.
  bool PassesSamplingPeriod(GcmTarget* target, int64_t timestamp_ms, DropCounts* drops) const;
  // A stale marker ends the histogram's counter state.
  int EndHistogram(SeriesEntry* entry, DropCounts* drops) const;
  // The distribution point of a decoded or assembled histogram; start_ms: the sender's (0: none).
  int ApplyDistribution(SeriesEntry* entry, NativeHistogram* histogram, int64_t timestamp_ms, int64_t start_ms,
                        PendingPoint* out, DropCounts* drops) const;
  // The cumulative delta of a native histogram without sender start time (baseline, reset).
  bool ApplyHistogramCumulative(GcmTarget* target, NativeHistogram* histogram, int64_t* start_ms,
                                DropCounts* drops) const;
  bool IsDropped(std::string_view label_name) const;
  // A sender's start time: refused when not before the sample, moved up to the end of the target's
  // previous point when GCM would refuse it; *start_ms is the start to write.
  bool ApplySenderStart(GcmTarget* target, int64_t timestamp_ms, int64_t* start_ms, DropCounts* drops) const;
  bool ApplyCumulative(GcmTarget* target, const Sample& sample, int64_t start_ms, PendingPoint* point,
                       DropCounts* drops) const;

  const TransformOptions options_;
  ProjectTable* const projects_;
  // The identity parts series share (GcmTarget::metric_type, identity_tail). Interning is the one
  // thing BuildEntry changes, under the table's own lock.
  mutable SharedStrings shared_identities_;
};

// Where in a string AppendTimeSeries wrote a target's identity (the bytes IdentityOf returns).
struct IdentityRange {
  size_t offset = 0;
  size_t size = 0;
};
// Appends one CreateTimeSeriesRequest.time_series element: the cached identity plus the point.
IdentityRange AppendTimeSeries(std::string* out, const GcmTarget& target, const PendingPoint& point);
// The target's identity as one string: the TimeSeries fields metric, resource, metric_kind and
// value_type, serialized (the bytes AppendTimeSeries writes before the point).
std::string IdentityOf(const GcmTarget& target);

}  // namespace prom2gcm

#endif  // PROM2GCM_EXPORTER_TRANSFORM_H_
