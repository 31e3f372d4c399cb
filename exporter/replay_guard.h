// ReplayGuard keeps a restart after a crash from writing to Cloud Monitoring twice what the last run
// delivered, and keeps counters continuous across it. It reads the SendJournal (send_journal.h):
//   - when a series' cache entry is built, each GCM target takes the state the journal restored: the
//     end time of its last delivered point (older samples are duplicates, the sampling period runs
//     from it) and, for a scalar counter, its baseline, last value and start time, so the next point
//     continues the same cumulative stream instead of starting a new baseline;
//   - a target with a point in a call the last run never saw answered is held: the export loop takes
//     none of its points (Check answers kWait) until a DeliveryChecker (delivery_check.h) has asked
//     GCM whether it holds that point. Replay rebuilds the same points from the same samples, so the
//     replayed points up to a delivered one are dropped (kDelivered) and the rest are sent.
// If GCM cannot be asked (after retries for about half a minute), held targets are released and their
// points are sent: at least once rather than never. After `active_ms` (at most the series cache's
// TTL, so no entry it points at is evicted meanwhile) the guard stops holding and dropping.
//
// Thread-safety: OnEntryBuilt from endpoint threads under the entry's shard mutex; Check from the
// export loop. Both take mutex_, a leaf lock. A thread owned by the guard talks to GCM.
#ifndef PROM2GCM_EXPORTER_REPLAY_GUARD_H_
#define PROM2GCM_EXPORTER_REPLAY_GUARD_H_

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string_view>
#include <thread>
#include <vector>

#include <absl/container/flat_hash_map.h>
#include <absl/container/flat_hash_set.h>

#include "exporter/delivery_check.h"
#include "exporter/project_table.h"
#include "exporter/send_journal.h"
#include "exporter/series_cache.h"
#include "exporter/transform.h"

namespace prom2gcm {

class ReplayGuard {
 public:
  using Clock = std::function<int64_t()>;
  // checker may be null (--export.disable): nothing is held. wake is called when held targets are
  // released. All pointers must outlive the guard.
  ReplayGuard(SendJournal* journal, DeliveryChecker* checker, const ProjectTable* projects, Clock clock,
              int64_t active_ms, std::function<void()> wake);
  ~ReplayGuard();

  // REQUIRES: the entry's shard mutex held.
  void OnEntryBuilt(SeriesEntry* entry);

  enum class Verdict { kSend, kWait, kDelivered };
  // What the export loop does with the next point of `target`, ending at end_ms.
  Verdict Check(const GcmTarget* target, int64_t end_ms);
  // Cheap test the loop makes before Check.
  bool active() const { return active_.load(std::memory_order_relaxed); }

  // The journal's record of a point about to be sent (with its target's counter state); identity is
  // the target's serialized identity (IdentityOf), e.g. where AppendTimeSeries just wrote it.
  static JournalPoint JournalPointOf(const GcmTarget& target, const PendingPoint& point, std::string_view identity);

 private:
  struct Pending {
    const GcmTarget* target;
    PointToCheck point;
  };
  static void Restore(const SentState& state, SeriesEntry* entry, GcmTarget* target);
  void CheckerLoop();
  // Asks GCM about `batch`, retrying; false when it could not be asked.
  bool Ask(const std::vector<Pending>& batch, std::vector<bool>* delivered);

  SendJournal* const journal_;
  DeliveryChecker* const checker_;
  const ProjectTable* const projects_;
  const Clock clock_;
  const int64_t deadline_ms_;
  const std::function<void()> wake_;
  std::atomic<bool> active_;

  std::mutex mutex_;
  std::condition_variable cv_;
  absl::flat_hash_set<const GcmTarget*> held_;                   // GUARDED_BY(mutex_)
  absl::flat_hash_map<const GcmTarget*, int64_t> delivered_to_;  // GUARDED_BY(mutex_): drop points ending <= this
  std::vector<Pending> to_ask_;                                  // GUARDED_BY(mutex_)
  bool stop_ = false;                                            // GUARDED_BY(mutex_)
  std::thread checker_thread_;
};

}  // namespace prom2gcm

#endif  // PROM2GCM_EXPORTER_REPLAY_GUARD_H_
