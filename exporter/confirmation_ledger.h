// ConfirmationLedger: which durable write requests still have data on its way to Cloud Monitoring.
//
// Every request written to the write-ahead log gets a sequence number (seq). Whatever holds data of a
// request holds references on its seq: the endpoint while it hands the request to the exporter, each
// point queued or in a batch, each sample held for metadata, each part of a classic histogram waiting
// for the rest of its set. A request is done when its last reference is released: GCM accepted or
// finally refused its points, or they were dropped by rule. The log may forget everything before the
// watermark (the lowest seq not done); the checkpoint (watermark plus the done seqs above it) tells a
// restart which logged requests to replay.
//
// Seqs are registered in increasing order. Thread-safety: all methods are thread-safe (one mutex).
#ifndef PROM2GCM_EXPORTER_CONFIRMATION_LEDGER_H_
#define PROM2GCM_EXPORTER_CONFIRMATION_LEDGER_H_

#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace prom2gcm {

// What a restart needs: seqs below `watermark` and in `done` need no replay.
struct LedgerCheckpoint {
  uint64_t watermark = 1;
  std::vector<std::pair<uint64_t, uint64_t>> done;  // inclusive ranges above the watermark, ascending

  bool IsDone(uint64_t seq) const;
  std::string Serialize() const;  // "prom2gcm-ledger 1\nwatermark W\ndone A B\n..."
  static bool Parse(std::string_view text, LedgerCheckpoint* out);
};

class ConfirmationLedger {
 public:
  // Registers seq with one reference (the caller's), at wall time now_ms.
  void Register(uint64_t seq, int64_t now_ms);
  void AddRefs(uint64_t seq, int64_t n);
  void Release(uint64_t seq, int64_t n);
  // Marks seqs a restart skipped (done before the crash) as done, so they do not hold the watermark.
  void MarkDone(uint64_t seq);

  uint64_t Watermark() const;
  LedgerCheckpoint Checkpoint() const;
  size_t pending() const;               // requests not done
  int64_t oldest_pending_ms() const;    // wall time the oldest request not done was registered; 0: none

 private:
  struct Pending {
    int64_t refs = 0;
    int64_t registered_ms = 0;
  };
  uint64_t WatermarkLocked() const;  // REQUIRES: mutex_ held

  mutable std::mutex mutex_;
  std::map<uint64_t, Pending> pending_;  // GUARDED_BY(mutex_): registered and not done
  uint64_t last_seq_ = 0;                // GUARDED_BY(mutex_): highest seq registered or marked done
};

}  // namespace prom2gcm

#endif  // PROM2GCM_EXPORTER_CONFIRMATION_LEDGER_H_
