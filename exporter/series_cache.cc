#include "exporter/series_cache.h"

namespace prom2gcm {

// Per-entry cost of the flat hash table slot (key, pointer, control byte, at most 7/8 full) and of
// the entry's heap block, on top of the entry itself.
constexpr size_t kMapOverheadBytes = 40;

const char* SeriesDropReasonName(SeriesDropReason reason) {
  switch (reason) {
    case SeriesDropReason::kNone: return "none";
    case SeriesDropReason::kMissingProjectOrLocation: return "missing_project_or_location";
    case SeriesDropReason::kLabelLimits: return "label_limits";
    case SeriesDropReason::kHistogramPartUnrecognised: return "histogram_part_unrecognised";
    case SeriesDropReason::kFiltered: return "filtered";
  }
  return "none";
}

static size_t HeapBytes(const NativeHistogram& h) {
  return (h.positive_spans.capacity() + h.negative_spans.capacity()) * sizeof(HistogramSpan) +
         (h.positive_counts.capacity() + h.negative_counts.capacity() + h.custom_values.capacity()) * sizeof(double);
}

size_t HistogramState::ApproximateBytes() const {
  return sizeof(HistogramState) + HeapBytes(baseline) + HeapBytes(last);
}

size_t SeriesEntry::ApproximateBytes() const {
  size_t bytes = sizeof(SeriesEntry) + kMapOverheadBytes;
  for (int i = 0; i < target_count; ++i) {
    bytes += targets[i].metric_labels.capacity();  // the shared parts are counted once, not per series
    if (targets[i].histogram) bytes += targets[i].histogram->ApproximateBytes();
  }
  return bytes;
}

void SeriesEntry::ResetCounterState() {
  for (int i = 0; i < target_count; ++i) {
    targets[i].has_baseline = false;
    targets[i].start_ms = 0;
  }
}

SeriesEntry* SeriesCache::Find(uint64_t hash) {
  auto it = entries_.find(hash);
  return it == entries_.end() ? nullptr : it->second.get();
}

SeriesEntry* SeriesCache::Insert(uint64_t hash, std::unique_ptr<SeriesEntry> entry) {
  bytes_ += entry->ApproximateBytes();
  auto [it, inserted] = entries_.insert_or_assign(hash, std::move(entry));
  return it->second.get();
}

size_t SeriesCache::Evict(int64_t cutoff_ms) {
  size_t evicted = 0;
  // absl's erase(iterator) returns void; erasing does not invalidate other iterators.
  for (auto it = entries_.begin(); it != entries_.end();) {
    const SeriesEntry& entry = *it->second;
    if (entry.last_touched_ms < cutoff_ms && entry.queued_points == 0) {
      bytes_ -= entry.ApproximateBytes();
      entries_.erase(it++);
      ++evicted;
    } else {
      ++it;
    }
  }
  return evicted;
}

}  // namespace prom2gcm
