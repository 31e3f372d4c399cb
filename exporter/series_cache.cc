#include "exporter/series_cache.h"

#include <glog/logging.h>

#include <cstdlib>
#include <cstring>
#include <memory>
#include <new>

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

namespace {

// The block of an entry with n targets and its metric labels (see SeriesEntry::Create).
size_t EntryBytes(int target_count, size_t label_bytes) {
  static_assert(sizeof(SeriesEntry) % alignof(GcmTarget) == 0, "targets follow the entry unpadded");
  return sizeof(SeriesEntry) + target_count * sizeof(GcmTarget) + label_bytes;
}

}  // namespace

std::unique_ptr<SeriesEntry> SeriesEntry::Create(int target_count, std::string_view metric_labels) {
  void* block = ::operator new(EntryBytes(target_count, metric_labels.size()));
  return std::unique_ptr<SeriesEntry>(::new (block) SeriesEntry(target_count, metric_labels));
}

// The targets are an array constructed in the block right after the entry (a placement new[] has no
// overhead since C++20), the label bytes come after them.
SeriesEntry::SeriesEntry(int target_count, std::string_view metric_labels)
    : target_count(static_cast<uint8_t>(target_count)) {
  GcmTarget* constructed = ::new (reinterpret_cast<char*>(this) + sizeof(SeriesEntry)) GcmTarget[target_count]();
  CHECK_EQ(constructed, targets());  // no array cookie
  char* labels = reinterpret_cast<char*>(this) + EntryBytes(target_count, 0);
  if (!metric_labels.empty()) std::memcpy(labels, metric_labels.data(), metric_labels.size());
  for (int i = 0; i < target_count; ++i) targets()[i].metric_labels = std::string_view(labels, metric_labels.size());
}

SeriesEntry::~SeriesEntry() { std::destroy_n(targets(), target_count); }

size_t SeriesEntry::ApproximateBytes() const {
  size_t bytes = EntryBytes(target_count, target_count > 0 ? targets()[0].metric_labels.size() : 0) +
                 kMapOverheadBytes;  // the shared parts of identities are counted once, not per series
  if (histogram_part) bytes += sizeof(HistogramAssembler::PartInfo);
  for (int i = 0; i < target_count; ++i) {
    if (targets()[i].histogram) bytes += targets()[i].histogram->ApproximateBytes();
  }
  return bytes;
}

void SeriesEntry::ResetCounterState() {
  for (int i = 0; i < target_count; ++i) {
    targets()[i].has_baseline = false;
    targets()[i].start_ms = 0;
  }
}

void SeriesCache::UseHints(std::atomic<SeriesEntry*>* hints, size_t slots_per_region) {
  hints_ = hints;
  hint_slots_ = slots_per_region;
}

SeriesEntry* SeriesCache::Find(uint64_t hash) {
  if (hints_ != nullptr) {
    // Only this shard's entries are ever in its region, and only while they live (Evict clears them
    // under the same mutex), so the pointer is safe to read.
    SeriesEntry* hinted = HintSlot(hash).load(std::memory_order_relaxed);
    if (hinted != nullptr && hinted->hash == hash) return hinted;
  }
  auto it = entries_.find(hash);
  if (it == entries_.end()) return nullptr;
  if (hints_ != nullptr) HintSlot(hash).store(it->second.get(), std::memory_order_relaxed);
  return it->second.get();
}

SeriesEntry* SeriesCache::Insert(uint64_t hash, std::unique_ptr<SeriesEntry> entry) {
  bytes_ += entry->ApproximateBytes();
  entry->hash = hash;
  auto [it, inserted] = entries_.insert_or_assign(hash, std::move(entry));
  if (hints_ != nullptr) HintSlot(hash).store(it->second.get(), std::memory_order_relaxed);
  return it->second.get();
}

size_t SeriesCache::Evict(int64_t cutoff_ms) {
  size_t evicted = 0;
  // absl's erase(iterator) returns void; erasing does not invalidate other iterators.
  for (auto it = entries_.begin(); it != entries_.end();) {
    const SeriesEntry& entry = *it->second;
    if (entry.last_touched_ms < cutoff_ms && entry.queued_points == 0) {
      bytes_ -= entry.ApproximateBytes();
      if (hints_ != nullptr && HintSlot(entry.hash).load(std::memory_order_relaxed) == &entry) {
        HintSlot(entry.hash).store(nullptr, std::memory_order_relaxed);
      }
      entries_.erase(it++);
      ++evicted;
    } else {
      ++it;
    }
  }
  return evicted;
}

}  // namespace prom2gcm
