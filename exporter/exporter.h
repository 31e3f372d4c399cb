// Exporter turns decoded series into CreateTimeSeries calls, in the design of Google's managed-
// Prometheus exporter, without its losses:
//   - Append (endpoint threads) transforms each sample against its series-cache entry and queues the
//     resulting points in the series' shard; a full shard answers the request 503 (backpressure,
//     never a silent drop). Retried requests are idempotent: samples not newer than the last one
//     seen for a series are dropped as duplicates.
//   - The export loop (one thread) fills batches from the shards: at most max_batch points, one per
//     series, per GCM project; a shard with an unfinished batch is skipped, so per-series order holds.
//     A full batch is sent at once, a partial one after flush_interval. Retryable failures are sent
//     again with exponential backoff and jitter while their shards stay held.
//   - Shutdown stops intake and flushes every queued point within a deadline.
//
// Thread-safety: Append may be called concurrently with everything; Start, Shutdown and RunOnce from
// one controlling thread. Loop state is guarded by mutex_; shard state by each shard's mutex. Lock
// order: mutex_ before a shard's mutex.
#ifndef PROM2GCM_EXPORTER_EXPORTER_H_
#define PROM2GCM_EXPORTER_EXPORTER_H_

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <list>
#include <memory>
#include <mutex>
#include <random>
#include <optional>
#include <span>
#include <thread>
#include <unordered_map>
#include <vector>

#include <prometheus/registry.h>

#include "exporter/batch_sender.h"
#include "exporter/confirmation_ledger.h"
#include "exporter/ha_tracker.h"
#include "exporter/histogram_assembler.h"
#include "exporter/project_table.h"
#include "exporter/replay_guard.h"
#include "exporter/send_journal.h"
#include "exporter/shard.h"
#include "exporter/transform.h"
#include "server/metadata_cache.h"
#include "server/series_sink.h"

namespace prom2gcm {

class Exporter : public SeriesSink {
 public:
  struct Options {
    size_t shards = 1024;
    size_t shard_capacity = 2048;  // points
    size_t max_batch = 200;        // GCM's limit of series per request
    int64_t flush_interval_ms = 50;
    size_t max_in_flight = 256;    // calls
    int64_t series_ttl_ms = 10 * 60 * 1000;
    // Remote-write 1.0 metadata comes in requests of its own, up to a minute after a family's first
    // samples. Until a family's metadata has arrived (or this long after a series was first seen),
    // the samples of its new series are held (acknowledged, in memory) rather than typed by a guess:
    // a series is never written under two metric types. Prometheus' synthetic up and scrape_* series
    // are gauges.
    int64_t metadata_wait_ms = 90 * 1000;
    size_t max_held_samples = 500000;  // held while waiting for metadata; past it, writes get 503
    // A classic histogram's parts arrive in separate requests; a set waits this long for missing
    // parts (see histogram_assembler.h).
    int64_t histogram_wait_ms = 15 * 1000;
    int64_t retry_initial_backoff_ms = 100;
    int64_t retry_max_backoff_ms = 30 * 1000;
    TransformOptions transform;
    // HA pairs: one replica per cluster value is exported (see ha_tracker.h). The replica label is
    // removed before export.
    HaTracker::Options ha;
  };
  using Clock = std::function<int64_t()>;  // milliseconds; wall clock in production

  // sender may be null: everything but the sends runs (--export.disable). All pointers must outlive
  // the exporter.
  Exporter(const Options& options, BatchSender* sender, const MetadataCache* metadata, Clock clock,
           prometheus::Registry& registry);
  ~Exporter() override;

  AppendResult Append(const DecodedRequest& request) override;

  // With a durable queue: points hold references on their requests' log records in this ledger
  // until GCM confirms them (confirmation_ledger.h). Call before the first Append; must outlive the
  // exporter.
  void set_ledger(ConfirmationLedger* ledger) {
    ledger_ = ledger;
    assembler_.set_ledger(ledger);
  }

  // With a durable queue: every call is recorded in the send journal, and what the last run recorded
  // is restored (replay_guard.h); checker asks GCM about calls unanswered at the last stop (null:
  // nothing is asked). Call before the first Append; both must outlive the exporter.
  void set_send_journal(SendJournal* journal, DeliveryChecker* checker);

  void Start();  // runs the export loop in its own thread
  // Stops intake and flushes; returns true when every queued point was delivered (sent or finally
  // rejected) before deadline_ms (clock time). Stops the loop thread.
  bool Shutdown(int64_t deadline_ms);

  // One pass of the loop at the clock's current time: completions, retries, fill, timed flush.
  // For tests that drive the exporter without its thread.
  void RunOnce();
  // Points queued in shards plus points in unfinished batches.
  size_t PendingPoints();

  // Totals since start, for the log line at exit.
  struct Totals {
    uint64_t queued = 0;  // points queued for sending
    uint64_t sent = 0;    // points Cloud Monitoring accepted
    uint64_t failed = 0;  // points it refused
  };
  Totals totals() const { return {total_queued_.load(), total_sent_.load(), total_failed_.load()}; }

  // The metrics exporter.cc updates, declared in that file.
  struct Metrics;

 private:
  // Free shard-queue blocks kept for the next burst: 16 MiB of 64-byte points, about 260,000 points.
  static constexpr size_t kMaxFreeQueueBlocks = 4096;

  struct Batch {
    uint64_t id = 0;
    uint32_t project = 0;
    std::string time_series;
    int points = 0;
    std::vector<uint32_t> shards;
    std::vector<uint64_t> seqs;  // ledger references of its points (one per point and part; 0s left out)
    int64_t opened_ms = 0;
    int64_t send_started_ms = 0;
    int attempts = 0;
    int64_t retry_at_ms = 0;
    std::vector<JournalPoint> journal_points;  // until its intent is recorded
    uint64_t journal_id = 0;                   // its intent record's id (0: no journal)
  };
  struct Completion {
    std::shared_ptr<Batch> batch;
    SendResult result;
  };
  // Where senders leave completions. Shared with every pending send's callback, so a call that
  // completes after the exporter is gone (past the shutdown deadline) touches only this.
  struct Inbox {
    std::mutex mutex;
    std::vector<Completion> completions;  // GUARDED_BY(mutex)
    Exporter* exporter = nullptr;         // GUARDED_BY(mutex); null once the exporter is destroyed
  };

  // Append helpers. REQUIRES: shard.mutex held.
  std::optional<MetricType> KnownType(const DecodedRequest& request, const Series& series) const;
  bool Hold(Shard* shard, const DecodedRequest& request, const Series& series, uint64_t ha_generation,
            int64_t now);
  SeriesEntry* CreateEntry(Shard* shard, const DecodedRequest& request, const Series& series, MetricType type,
                           uint64_t ha_generation, bool distribution = false);
  // Takes the samples of a series and its entry: a classic histogram's part goes to the assembler
  // (finished sets into *assembled), anything else is queued. Returns false when the shard filled.
  bool IntakeSamples(Shard* shard, SeriesEntry* entry, const DecodedRequest& request, const Series& series,
                     bool ignore_capacity, int64_t now, std::vector<AssembledHistogram>* assembled,
                     DropCounts* drops, uint64_t* queued);
  // Returns false when the shard's queue filled before every sample was queued.
  // Queued points take a ledger reference on seq.
  bool QueueSamples(Shard* shard, SeriesEntry* entry, uint64_t seq, std::span<const Sample> samples,
                    int64_t series_start_ms, bool ignore_capacity, DropCounts* drops, uint64_t* queued);
  // The same for native histogram samples.
  bool QueueHistograms(Shard* shard, SeriesEntry* entry, uint64_t seq, std::span<const HistogramSample> histograms,
                       int64_t series_start_ms, DropCounts* drops, uint64_t* queued);
  // Ledger references (no-ops without a durable queue).
  void AddRefs(uint64_t seq, int64_t n);
  void Release(uint64_t seq, int64_t n);
  // Queues the points of assembled classic histograms, each under its own shard's mutex.
  // REQUIRES: no shard mutex held.
  void QueueAssembled(std::vector<AssembledHistogram>* assembled, int64_t now, DropCounts* drops,
                      uint64_t* queued);
  // The shard of a series: its hash scaled to the shard count by a multiply and a shift (a modulo is
  // a 64-bit division, tens of cycles, three times per series). It picks by the hash's top bits;
  // an entry hint slot (entry_hints.h) by bits 32 and up, independent for up to 2^22 shards.
  size_t ShardOf(uint64_t hash) const {
    return static_cast<size_t>((static_cast<unsigned __int128>(hash) * shards_.size()) >> 64);
  }
  // Prefetches what the intake of the series hash will touch first: its shard (mutex, queue) and
  // entry hint slot; with entry, the entry that slot points to and the queue slot of the shard's next
  // point. Prefetches take no lock.
  void PrefetchIntake(uint64_t hash, bool entry) const;
  void CountIntake(const DropCounts& drops, uint64_t queued);
  void CountAssembly(const AssemblyCounts& counts);
  static TransformOptions WithReplicaLabelDropped(const Options& options);

  // Loop helpers. REQUIRES: mutex_ held.
  // Transforms held series whose metadata arrived or whose wait ran out (all: every one). Takes each
  // shard's mutex in turn.
  void ReleaseHeldSeries(int64_t now, bool all);
  // Finishes classic histogram sets whose wait ran out (all: every one) and queues them.
  void ExpireHistogramSets(int64_t now, bool all);
  void ProcessCompletions(int64_t now);
  void SendDueRetries(int64_t now);
  void Fill(int64_t now);
  // Moves the shard's points into open batches; returns the batch it filled, if one did (the caller
  // sends it). REQUIRES: shard->mutex held too.
  std::unique_ptr<Batch> TakeFromShard(uint32_t index, Shard* shard, int64_t now);
  // Removes the shard's first point from its queue. REQUIRES: shard->mutex held too.
  void PopFront(Shard* shard);
  // Releases a point's ledger references (a point not sent: GCM already holds it).
  void ReleasePointSeqs(const QueuedPoint& queued);
  Batch& OpenBatch(uint32_t project, int64_t now);
  void FlushOpenBatches(int64_t now, bool all);
  void Send(std::shared_ptr<Batch> batch, int64_t now);
  void ReleaseShards(const Batch& batch);
  // Its points are delivered (or finally refused): their ledger references go.
  void ReleaseSeqs(Batch* batch);
  int64_t Backoff(int attempts);
  bool IdleLocked();
  int64_t NextWakeMs(int64_t now) const;
  void UpdateCacheStats(int64_t now);
  void Loop();

  const Options options_;
  BatchSender* const sender_;
  const MetadataCache* const metadata_;
  const Clock clock_;
  std::unique_ptr<Metrics> metrics_;
  ProjectTable projects_;
  HaTracker ha_;
  Transform transform_;
  HistogramAssembler assembler_;
  ConfirmationLedger* ledger_ = nullptr;
  SendJournal* journal_ = nullptr;       // written by the loop only
  std::unique_ptr<ReplayGuard> replay_;  // set with the journal
  // The blocks of every shard's queue (block_queue.h): declared before shards_, which give theirs
  // back when destroyed. Up to kMaxFreeQueueBlocks free blocks stay for the next burst.
  BlockPool queue_blocks_{BlockQueue<QueuedPoint>::kBlockBytes, kMaxFreeQueueBlocks};
  std::vector<std::unique_ptr<Shard>> shards_;
  EntryHints entry_hints_;  // a region per shard (entry_hints.h)
  std::atomic<size_t> held_samples_{0};  // in all shards' held series
  std::atomic<bool> accepting_{true};
  std::atomic<int64_t> queued_points_{0};
  std::atomic<uint64_t> total_queued_{0}, total_sent_{0}, total_failed_{0};

  std::mutex mutex_;
  std::condition_variable wake_;
  // Set by intake and completions to cut the loop's wait short. A wake-up lost to a race costs at
  // most one flush interval, since the loop never waits longer than that.
  std::atomic<bool> wake_requested_{false};
  // Whether every call slot was taken at the end of the loop's last pass (written by the loop only):
  // intake then leaves the loop asleep, since each call in flight wakes it when it completes.
  std::atomic<bool> calls_full_{false};
  bool draining_ = false;                             // GUARDED_BY(mutex_)
  bool stop_ = false;                                 // GUARDED_BY(mutex_)
  std::vector<std::unique_ptr<Batch>> open_batches_;  // GUARDED_BY(mutex_), indexed by project
  std::list<std::shared_ptr<Batch>> retrying_;        // GUARDED_BY(mutex_)
  std::shared_ptr<Inbox> inbox_;                      // its mutex comes after mutex_ in lock order
  size_t in_flight_ = 0;                              // GUARDED_BY(mutex_): sent or waiting to retry
  uint64_t next_batch_id_ = 1;                        // GUARDED_BY(mutex_)
  size_t bytes_per_point_ = 0;                        // GUARDED_BY(mutex_): of the last batch sent
  size_t fill_cursor_ = 0;                            // GUARDED_BY(mutex_)
  int64_t last_eviction_ms_ = 0;                      // GUARDED_BY(mutex_)
  int64_t last_stats_ms_ = 0;                         // GUARDED_BY(mutex_)
  int64_t last_held_check_ms_ = 0;                    // GUARDED_BY(mutex_)
  int64_t last_histogram_check_ms_ = 0;               // GUARDED_BY(mutex_)
  std::mt19937_64 jitter_{std::random_device{}()};    // GUARDED_BY(mutex_)
  std::thread loop_;
};

}  // namespace prom2gcm

#endif  // PROM2GCM_EXPORTER_EXPORTER_H_
