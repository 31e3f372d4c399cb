// Entry hints: a table of series-entry pointers, addressed by a series' hash alone, that lets the
// intake prefetch a series' cache entry before it takes the shard's mutex. Each shard's SeriesCache
// (series_cache.h) keeps its region of the table up to date.
#ifndef PROM2GCM_EXPORTER_ENTRY_HINTS_H_
#define PROM2GCM_EXPORTER_ENTRY_HINTS_H_

#include <atomic>
#include <cstddef>
#include <cstdint>

#include "exporter/prefetch.h"

namespace prom2gcm {

struct SeriesEntry;  // series_cache.h

// A direct-mapped table of entry pointers in front of the shards' hash tables: a series' slot is
// picked by its hash alone, so the slot (and then the entry it points to) can be prefetched before
// the shard's mutex is taken, for series a request will reach a few steps later. A lookup through
// a hash table costs two dependent cache misses (control bytes, then the slot) before the entry's;
// under load those misses were the largest part of Exporter::Append.
//
// The table is split into one region per shard, and only the shard's cache writes its region, under
// the shard's mutex. Slots are atomics so that reading one for a prefetch, without that mutex, is not
// a data race; a pointer read that way may be stale and is only prefetched, never dereferenced.
// Memory comes from calloc: pages of slots no series maps to are never touched.
class EntryHints {
 public:
  EntryHints(size_t regions, size_t slots_per_region);  // slots_per_region: a power of two
  ~EntryHints();
  EntryHints(const EntryHints&) = delete;
  EntryHints& operator=(const EntryHints&) = delete;

  std::atomic<SeriesEntry*>* region(size_t index) const { return slots_ + index * slots_per_region_; }
  size_t slots_per_region() const { return slots_per_region_; }
  // The slot of a series in its shard's region, from bits 32 and up of its hash (Exporter::ShardOf
  // picks the shard from the top bits).
  static constexpr size_t SlotIndex(uint64_t hash, size_t slots_per_region) { return (hash >> 32) & (slots_per_region - 1); }
  // Prefetches the slot of hash in region, then (PrefetchEntry) the entry the slot points to, for
  // writing (the intake updates it). Always inlined, as the helpers of prefetch.h.
  [[gnu::always_inline]] void PrefetchSlot(size_t region_index, uint64_t hash) const {
    PrefetchForRead(region(region_index) + SlotIndex(hash, slots_per_region_));
  }
  [[gnu::always_inline]] void PrefetchEntry(size_t region_index, uint64_t hash) const {
    const SeriesEntry* entry = region(region_index)[SlotIndex(hash, slots_per_region_)].load(std::memory_order_relaxed);
    if (entry == nullptr) return;
    // The entry and its first target, which the intake reads and writes right after the lookup.
    const char* bytes = reinterpret_cast<const char*>(entry);
    PrefetchForWrite(bytes);
    PrefetchForWrite(bytes + 64);
    PrefetchForWrite(bytes + 128);
  }

 private:
  std::atomic<SeriesEntry*>* const slots_;
  const size_t slots_per_region_;
};

}  // namespace prom2gcm

#endif  // PROM2GCM_EXPORTER_ENTRY_HINTS_H_
