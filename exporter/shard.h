// A shard: a bounded queue of points waiting to be batched, plus the partition of the series cache
// for the series whose hash picks this shard. Per-series order holds because a series always maps to
// the same shard, its queue is FIFO, and a shard is in at most one unfinished batch at a time.
//
// Thread-safety: every field is guarded by `mutex`; endpoint threads append, the export loop takes.
#ifndef PROM2GCM_EXPORTER_SHARD_H_
#define PROM2GCM_EXPORTER_SHARD_H_

#include <deque>
#include <mutex>

#include "exporter/series_cache.h"
#include "exporter/transform.h"

namespace prom2gcm {

struct QueuedPoint {
  SeriesEntry* series;  // kept alive: an entry with queued points is never evicted
  PendingPoint point;
};

struct Shard {
  std::mutex mutex;
  std::deque<QueuedPoint> queue;  // GUARDED_BY(mutex)
  SeriesCache cache;              // GUARDED_BY(mutex)
  int pending_batches = 0;        // GUARDED_BY(mutex): unfinished batches holding points of this shard
};

}  // namespace prom2gcm

#endif  // PROM2GCM_EXPORTER_SHARD_H_
