// SendJournal remembers, beside the durable queue (--storage.path), what was sent to Cloud Monitoring,
// so that a restart after a crash sends no point twice and keeps counters continuous.
//
// The durable queue replays every write request not wholly confirmed. Without this journal, points of
// those requests that GCM had already accepted would be sent again (GCM refuses them as out of order),
// and every counter would start over from a new baseline. With it:
//   - before a CreateTimeSeries call is first sent, an intent record lists, per point, the GCM series
//     (a key: the xxh3 hash of its serialized identity), the point's end time and the series' counter
//     state after the point; after its final answer (accepted or finally refused) a done record names
//     the call. Both are plain write(2)s: they survive a kill -9 (the kernel has them), not a power
//     loss, after which delivery is at least once, as before;
//   - at Open, the series state of every done call is restored (Delivered), and the points of calls
//     still unanswered at the crash are reported ambiguous (Ambiguous): GCM may or may not hold them,
//     and the exporter asks it (delivery_check.h) before sending them again.
//
// On disk, in the storage directory: journal files sends.NNNNNNNNNN.journal (the active one is
// appended to) and sends.snapshot. A journal is a sequence of records [u32 length][u32 CRC-32C of the
// payload][payload], little-endian; a payload starts with its type: 'I' intent (u64 id, then points
// of 41 bytes: u64 key, i64 end_ms, i64 start_ms, f64 baseline, f64 last_value, u8 counter) or 'D'
// done (u64 id). Once the active journal holds compact_bytes (or twice the last snapshot's size, if
// more) it is closed and a background thread
// folds the snapshot and the closed journals into a new snapshot (written to a temporary file,
// fsync'ed, renamed) and deletes those journals. The snapshot keeps the last state per series (states
// older than max_age_ms are dropped) and the intents not yet done (an earlier run's only until an
// hour after this run's start, when its replay is long over). A torn or corrupt record ends a
// journal's valid part (one log line); an unreadable snapshot is ignored with a log line (then
// delivery is at least once for what it held).
//
// Thread-safety: Record* are called from the export loop only (one thread). TakeDelivered and
// Ambiguous may be called from any thread. Open and the destructor from the owning thread.
#ifndef PROM2GCM_EXPORTER_SEND_JOURNAL_H_
#define PROM2GCM_EXPORTER_SEND_JOURNAL_H_

#include <atomic>
#include <condition_variable>
#include <functional>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <absl/container/flat_hash_map.h>

namespace prom2gcm {

// A GCM series' state after a point that was sent.
struct SentState {
  int64_t end_ms = 0;
  int64_t start_ms = 0;     // the point's start time (cumulative)
  double baseline = 0;      // counter: what is subtracted from the raw samples (valid when counter)
  double last_value = 0;    // counter: the raw sample at end_ms (valid when counter)
  bool counter = false;     // a scalar counter whose baseline and last value are known
};

struct JournalPoint {
  uint64_t key = 0;  // SendJournal::KeyOf(the series' identity)
  SentState state;
};

class SendJournal {
 public:
  struct Options {
    std::string dir;
    size_t compact_bytes = 64 << 20;                 // the active journal is closed and folded past this
    int64_t max_age_ms = 25LL * 60 * 60 * 1000;      // older states are forgotten (GCM takes no older points)
  };
  using Clock = std::function<int64_t()>;  // wall clock, milliseconds

  // Reads what the last run left. Returns null with a one-line *error on I/O errors only.
  static std::unique_ptr<SendJournal> Open(const Options& options, Clock clock, std::string* error);
  ~SendJournal();
  SendJournal(const SendJournal&) = delete;
  SendJournal& operator=(const SendJournal&) = delete;

  // The key of a GCM series, from its serialized identity (IdentityOf in transform.h). Stable across runs.
  static uint64_t KeyOf(std::string_view identity);

  // The last state of series `key` after a call the last run saw answered; removes it (each series'
  // state is restored once, when its cache entry is built).
  std::optional<SentState> TakeDelivered(uint64_t key);
  // Whether any state is left for TakeDelivered: a cheap test, without the lock.
  bool AnyDeliveredLeft() const { return delivered_left_.load(std::memory_order_relaxed) > 0; }
  // The end time of series `key`'s point in a call unanswered at the crash, if any.
  std::optional<int64_t> Ambiguous(uint64_t key) const;
  size_t ambiguous_count() const;

  // Records a call's points before its first send; returns the call's journal id (never 0).
  uint64_t RecordIntent(std::span<const JournalPoint> points);
  // Records that call `id` was finally answered.
  void RecordDone(uint64_t id);

  // Closes the active journal and folds everything into the snapshot now (tests; also done when the
  // journal reaches compact_bytes). Waits for the fold to finish.
  void CompactNow();

  // What a snapshot and journals say, folded (internal to send_journal.cc).
  struct Loaded;

 private:
  SendJournal(const Options& options, Clock clock);

  bool Load(std::string* error);
  bool StartJournal(std::string* error);  // opens the next journal file for appending
  void Append(std::string_view payload);
  void RotateIfLarge();
  void CompactorLoop();
  bool Compact(uint64_t through_index);

  const Options options_;
  const Clock clock_;

  // Export-loop state.
  int fd_ = -1;
  uint64_t active_index_ = 0;
  uint64_t active_bytes_ = 0;
  uint64_t next_id_ = 1;
  uint64_t first_id_ = 1;   // this run's first id (set by Open; read by the compactor)
  int64_t opened_ms_ = 0;   // when Open ran (likewise)
  std::string buffer_;
  bool write_failed_ = false;
  std::atomic<uint64_t> snapshot_bytes_{0};  // size of the last snapshot written (set by the compactor)

  mutable std::mutex restored_mutex_;
  absl::flat_hash_map<uint64_t, SentState> delivered_;  // GUARDED_BY(restored_mutex_)
  std::atomic<size_t> delivered_left_{0};               // delivered_.size(), written under restored_mutex_
  absl::flat_hash_map<uint64_t, int64_t> ambiguous_;    // GUARDED_BY(restored_mutex_)

  std::mutex compact_mutex_;
  std::condition_variable compact_cv_;
  uint64_t compact_through_ = 0;   // GUARDED_BY(compact_mutex_): fold journals up to this index
  uint64_t compacted_through_ = 0; // GUARDED_BY(compact_mutex_): folded so far
  bool stop_ = false;              // GUARDED_BY(compact_mutex_)
  std::thread compactor_;
};

}  // namespace prom2gcm

#endif  // PROM2GCM_EXPORTER_SEND_JOURNAL_H_
