// A shard: a bounded queue of points waiting to be batched, plus the partition of the series cache
// for the series whose hash picks this shard. Per-series order holds because a series always maps to
// the same shard, its queue is FIFO, and a shard is in at most one unfinished batch at a time.
//
// Thread-safety: every field is guarded by `mutex`; endpoint threads append, the export loop takes.
#ifndef PROM2GCM_EXPORTER_SHARD_H_
#define PROM2GCM_EXPORTER_SHARD_H_

#include <atomic>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "exporter/block_queue.h"
#include "exporter/series_cache.h"
#include "exporter/transform.h"
#include "server/decoded_request.h"

namespace prom2gcm {

struct QueuedPoint {
  SeriesEntry* series;  // kept alive: an entry with queued points is never evicted
  PendingPoint point;
  // The write-ahead log records the point holds a ledger reference on (confirmation_ledger.h): the
  // request it came from (0: none), and for an assembled classic histogram, one per part.
  uint64_t seq = 0;
  std::unique_ptr<std::vector<uint64_t>> part_seqs;
};

// A new remote-write 1.0 series whose family's metadata has not arrived yet. Its samples are held
// (acknowledged, not yet transformed) until the metadata comes or the wait runs out, so its metric
// type is never guessed and Prometheus' queue is not stalled meanwhile.
struct HeldSeries {
  std::vector<std::pair<std::string, std::string>> labels;  // owned copies, sorted by name
  std::string metric_name;
  std::vector<Sample> samples;
  std::vector<uint64_t> seqs;  // per sample: its request's log record (0: none); each holds a reference
  int64_t series_start_ms = 0;
  uint64_t ha_generation = 0;
  int64_t first_seen_ms = 0;
};

struct Shard {
  // REQUIRES: queue_blocks outlives the shard and hands out BlockQueue<QueuedPoint>::kBlockBytes.
  explicit Shard(BlockPool* queue_blocks) : queue(queue_blocks) {}

  // The fields the intake reads first come first: the intake prefetches a shard's first two cache
  // lines a few series ahead, and next_slot is read then to prefetch the slot itself. Placed after
  // the cache (four lines in), its load missed: 40% of Append's own samples.
  std::mutex mutex;
  // Where the queue's next point will be written, as of the last push: read without the mutex only
  // to prefetch that line for writing before an endpoint thread takes the mutex (another thread may
  // hold it in its cache). A stale value costs only a useless prefetch.
  std::atomic<const QueuedPoint*> next_slot{nullptr};
  // Whether queue is non-empty: written under mutex, read without it by the export loop, so a wake-up
  // visits only shards with points instead of locking all of them (a stale read costs one wake-up).
  std::atomic<bool> has_points{false};
  BlockQueue<QueuedPoint> queue;                 // GUARDED_BY(mutex)
  SeriesCache cache;                             // GUARDED_BY(mutex)
  std::unordered_map<uint64_t, HeldSeries> held;  // GUARDED_BY(mutex): by series hash; not in cache
  int pending_batches = 0;  // GUARDED_BY(mutex): unfinished batches holding points of this shard

  // REQUIRES: mutex held.
  void Push(QueuedPoint point) {
    queue.push_back(std::move(point));
    has_points.store(true, std::memory_order_relaxed);
    next_slot.store(queue.next_slot(), std::memory_order_relaxed);
  }
};

}  // namespace prom2gcm

#endif  // PROM2GCM_EXPORTER_SHARD_H_
