// DurableQueue keeps every acknowledged write request on disk until Cloud Monitoring has confirmed
// all that was made of it (--storage.path). It ties together:
//   - the WriteAheadLog (wal.h): each request the endpoint accepts is logged, compressed as it came,
//     before it is answered; a record is [1 byte protocol][snappy body];
//   - the ConfirmationLedger (confirmation_ledger.h): references from the request's points, held
//     samples and histogram parts until GCM confirms them;
//   - a checkpoint file (DIR/ledger.checkpoint): the ledger's watermark and the done requests above
//     it, written atomically (temporary file, fsync, rename) every checkpoint interval and at close.
//     Segments wholly before the watermark are then deleted.
// At start, Replay hands every logged request the checkpoint does not call done back to the endpoint
// (WriteHandler::Redeliver), in log order, so per-series order holds. A request confirmed after the
// last checkpoint, or a batch GCM applied just before a crash, is replayed too; the send journal
// (send_journal.h, replay_guard.h) keeps its points from being sent to GCM twice.
//
// Thread-safety: Log, Release and the accessors may be called concurrently; Replay before the
// endpoint starts. A background thread writes checkpoints.
#ifndef PROM2GCM_EXPORTER_DURABLE_QUEUE_H_
#define PROM2GCM_EXPORTER_DURABLE_QUEUE_H_

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <prometheus/registry.h>

#include "exporter/confirmation_ledger.h"
#include "exporter/wal.h"
#include "server/request_log.h"

namespace prom2gcm {

class DurableQueue : public RequestLog {
 public:
  struct Options {
    std::string dir;
    size_t segment_bytes = 64 << 20;
    size_t max_bytes = 1ull << 30;  // disk for the log; past it writes are answered 503
    int64_t checkpoint_interval_ms = 200;
    int64_t group_commit_delay_us = 0;  // see WriteAheadLog::Options
  };
  using Clock = std::function<int64_t()>;  // wall clock, milliseconds

  static std::unique_ptr<DurableQueue> Open(const Options& options, Clock clock, prometheus::Registry& registry,
                                            std::string* error);
  ~DurableQueue() override;  // writes a last checkpoint

  // Calls deliver(seq, protocol, body) for each logged request not done before the last stop, in log
  // order. Each is registered in the ledger with one reference, which Replay releases after deliver
  // returns (deliver must have handed it on by then). Records that do not parse are skipped with a
  // log line. Returns how many requests were replayed.
  using Deliver = std::function<void(uint64_t seq, Protocol protocol, std::string_view compressed_body)>;
  size_t Replay(const Deliver& deliver);

  uint64_t Log(Protocol protocol, std::string_view compressed_body, std::string* error) override;
  void Release(uint64_t seq) override;

  ConfirmationLedger* ledger() { return &ledger_; }

  // State that replay alone cannot rebuild, kept beside the log (DIR/NAME.snapshot): the metadata
  // cache, since a metadata-only request is done, and forgotten, once applied. Each checkpoint whose
  // version() changed rewrites it before the checkpoint file, so whatever a done request changed is
  // on disk before the request is called done. Set before the endpoint starts.
  void KeepSnapshot(std::string name, std::function<uint64_t()> version, std::function<std::string()> snapshot);
  // The snapshot the last run left ("" when none).
  std::string ReadSnapshot(const std::string& name) const;
  // Writes the checkpoint now and deletes what it makes unnecessary (also done periodically).
  void Checkpoint();

  // The metrics this file updates.
  struct Metrics;

 private:
  DurableQueue(const Options& options, Clock clock, std::unique_ptr<WriteAheadLog> wal, LedgerCheckpoint previous,
               prometheus::Registry& registry);
  // Writes path through a temporary file, fsync and rename. Logs failures.
  bool WriteFileAtomically(const std::string& path, std::string_view contents);
  void WriteSnapshots();  // REQUIRES: checkpoint_mutex_ held
  void CheckpointLoop();
  void UpdateMetrics();

  const Options options_;
  const Clock clock_;
  std::unique_ptr<WriteAheadLog> wal_;
  ConfirmationLedger ledger_;
  const LedgerCheckpoint previous_;  // read at Open: what the last run confirmed
  std::unique_ptr<Metrics> metrics_;

  std::mutex checkpoint_mutex_;          // serializes Checkpoint
  LedgerCheckpoint last_written_;        // GUARDED_BY(checkpoint_mutex_)
  struct Snapshot {
    std::string name;
    std::function<uint64_t()> version;
    std::function<std::string()> take;
    uint64_t written_version = UINT64_MAX;
  };
  std::vector<Snapshot> snapshots_;      // GUARDED_BY(checkpoint_mutex_)
  std::mutex stop_mutex_;
  std::condition_variable stop_cv_;
  bool stop_ = false;                    // GUARDED_BY(stop_mutex_)
  std::thread checkpoint_thread_;
};

}  // namespace prom2gcm

#endif  // PROM2GCM_EXPORTER_DURABLE_QUEUE_H_
