// The series cache: for each Prometheus series the exporter has seen, its prebuilt GCM identity
// (the serialized metric, resource, kind and value type of the TimeSeries it is written to) and the
// state the transform keeps across samples (last sample time, counter baseline and start time, last
// point queued).
//
// The cache is partitioned by shard: a series' entry lives in the shard its hash picks (shard.h), so
// the shard's mutex guards it and no other lock is needed. Entries not touched for a while are
// evicted by SeriesCache::Evict; entries with points still queued are kept.
#ifndef PROM2GCM_EXPORTER_SERIES_CACHE_H_
#define PROM2GCM_EXPORTER_SERIES_CACHE_H_

#include <atomic>
#include <cstdint>
#include <limits>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <absl/container/flat_hash_map.h>

#include "exporter/exemplars.h"
#include "exporter/histogram_assembler.h"
#include "exporter/native_histogram.h"
#include "exporter/entry_hints.h"

namespace prom2gcm {

enum class PointKind : uint8_t { kGauge, kCumulative };

// Why a series is not exported at all (decided once, when its entry is built).
enum class SeriesDropReason : uint8_t {
  kNone,
  kMissingProjectOrLocation,
  kLabelLimits,
  kHistogramPartUnrecognised,  // a classic histogram series that is no _bucket{le}, _sum or _count
  kFiltered,  // matches none of --export.match
};
const char* SeriesDropReasonName(SeriesDropReason reason);

// State of a distribution target beyond the scalar fields: the counter baseline histogram
// (subtracted from later ones) and the last one seen (to tell a reset), when the sender gives no start
// times; and exemplars waiting for the next point.
struct HistogramState {
  NativeHistogram baseline;
  NativeHistogram last;
  std::vector<GcmExemplar> exemplars;  // at most kMaxPendingExemplars, the newest
  static constexpr size_t kMaxPendingExemplars = 64;
  size_t ApproximateBytes() const;
};

// One GCM time series a Prometheus series is written to. An untyped Prometheus series is written to
// two: NAME/unknown (gauge) and NAME/unknown:counter (cumulative).
struct GcmTarget {
  // The TimeSeries fields metric, resource, metric_kind and value_type, serialized in three parts that
  // AppendTimeSeries writes as one: the metric field (tag, length, then the Metric's labels and type,
  // in field order), and the rest. Only the metric labels are the series' own; the Metric's type
  // field is shared by the family's series, the rest by every series of the same monitored resource,
  // kind and value type (SharedStrings). Without metric_type no metric field is written (labels must
  // be empty).
  std::shared_ptr<const std::string> metric_type;  // Metric.type (tag, length, bytes)
  std::string_view metric_labels;  // Metric.labels entries, in the entry's block (SeriesEntry::Create)
  std::shared_ptr<const std::string> identity_tail;  // TimeSeries resource, metric_kind, value_type
  PointKind kind = PointKind::kGauge;
  bool distribution = false;  // value type DISTRIBUTION (a native histogram), else DOUBLE
  // Cumulative state. Without sender start times the first sample is the baseline (not sent) and
  // later points carry value - baseline from start_ms; a decrease is a reset.
  bool has_baseline = false;
  double baseline = 0;
  double last_value = 0;
  int64_t start_ms = 0;
  std::unique_ptr<HistogramState> histogram;  // distribution targets, created when first needed
  // End time of the last point queued for this target: GCM's sampling period is measured from it,
  // and a new start time must not come before it.
  int64_t last_queued_ms = std::numeric_limits<int64_t>::min();
  uint64_t batch_mark = 0;  // id of the last batch a point of this target went into
};

// A series' entry. Its targets and the serialized metric labels they share are kept in the entry's own
// allocation, after it: a series has 0 (a classic histogram's part, a dropped series), 1 or 2 (an
// untyped series) targets, and one block sized for them costs less than room for two in every entry
// plus a string block per target.
struct SeriesEntry {
  // An entry with target_count (0 to 2) targets whose metric_labels view a copy of metric_labels.
  static std::unique_ptr<SeriesEntry> Create(int target_count = 0, std::string_view metric_labels = {});
  ~SeriesEntry();
  SeriesEntry(const SeriesEntry&) = delete;
  SeriesEntry& operator=(const SeriesEntry&) = delete;
  static void operator delete(void* entry) { ::operator delete(entry); }  // the block Create allocated

  uint64_t hash = 0;     // the series' hash, its key in the cache (set by SeriesCache::Insert)
  uint32_t project = 0;  // index into the exporter's project table
  uint32_t queued_points = 0;  // points in the shard queue that point at this entry
  SeriesDropReason drop_reason = SeriesDropReason::kNone;
  const uint8_t target_count;
  // Timestamp of the newest sample seen, sent or not: anything not newer is a duplicate (e.g. a
  // request Prometheus retried) and is dropped.
  int64_t last_sample_ms = std::numeric_limits<int64_t>::min();
  int64_t last_touched_ms = 0;  // wall clock, for eviction
  uint64_t ha_generation = 0;   // HA election the entry's counter state belongs to (0: not replicated)
  // Set for a classic histogram's _bucket, _sum or _count series: its samples go to the
  // HistogramAssembler (no targets of its own); the assembled histogram has an entry of its own.
  std::unique_ptr<HistogramAssembler::PartInfo> histogram_part;

  // target_count of them, right after the entry: computed, not loaded, so the export loop reaching a
  // target through a queued point does not wait for the entry's own cache line.
  GcmTarget* targets() { return reinterpret_cast<GcmTarget*>(this + 1); }
  const GcmTarget* targets() const { return reinterpret_cast<const GcmTarget*>(this + 1); }

  size_t ApproximateBytes() const;
  // Forgets counter baselines and start times, e.g. when another HA replica takes over the series.
  void ResetCounterState();

 private:
  SeriesEntry(int target_count, std::string_view metric_labels);
};

// One shard's partition of the cache. Thread-safety: none; REQUIRES the owning shard's mutex.
class SeriesCache {
 public:
  // Makes Find look in hints (this shard's region of an EntryHints, slots_per_region long) before the
  // hash table, and keeps the region up to date. Call once, before the cache is used.
  void UseHints(std::atomic<SeriesEntry*>* hints, size_t slots_per_region);
  SeriesEntry* Find(uint64_t hash);
  SeriesEntry* Insert(uint64_t hash, std::unique_ptr<SeriesEntry> entry);
  // Removes entries untouched since before cutoff_ms with nothing queued; returns how many.
  size_t Evict(int64_t cutoff_ms);
  size_t size() const { return entries_.size(); }
  size_t bytes() const { return bytes_; }

 private:
  // The hint slot of a series in this shard's region. REQUIRES: UseHints called.
  std::atomic<SeriesEntry*>& HintSlot(uint64_t hash) {
    return hints_[EntryHints::SlotIndex(hash, hint_slots_)];
  }

  // A flat (open-addressing) table: one probe of contiguous memory per lookup, where a node-based map
  // chased a pointer per bucket (SeriesCache::Find was a fifth of prom2gcm's CPU under load). Entries
  // stay where they are (unique_ptr): queued points point at them.
  absl::flat_hash_map<uint64_t, std::unique_ptr<SeriesEntry>> entries_;
  size_t bytes_ = 0;
  std::atomic<SeriesEntry*>* hints_ = nullptr;  // this shard's region (UseHints), or none
  size_t hint_slots_ = 0;
};

}  // namespace prom2gcm

#endif  // PROM2GCM_EXPORTER_SERIES_CACHE_H_
