#include "exporter/entry_hints.h"

#include <glog/logging.h>

#include <cstdlib>

namespace prom2gcm {

// A lock-free atomic pointer is represented by the pointer's bytes alone, so calloc's zeros are
// null slots.
static_assert(std::atomic<SeriesEntry*>::is_always_lock_free);
static_assert(sizeof(std::atomic<SeriesEntry*>) == sizeof(SeriesEntry*));

EntryHints::EntryHints(size_t regions, size_t slots_per_region)
    : slots_(static_cast<std::atomic<SeriesEntry*>*>(std::calloc(regions * slots_per_region, sizeof(SeriesEntry*)))),
      slots_per_region_(slots_per_region) {
  CHECK(slots_ != nullptr) << "out of memory for " << regions * slots_per_region << " entry hints";
  CHECK_EQ(slots_per_region & (slots_per_region - 1), 0u) << "slots per region must be a power of two";
}

EntryHints::~EntryHints() { std::free(slots_); }

}  // namespace prom2gcm
