// HaTracker deduplicates Prometheus HA pairs: replicas that scrape the same targets and all remote-
// write, told apart by external labels, e.g. cluster="X" and __replica__="A" | "B". For each value of
// the cluster label it elects one replica, whose series are exported; the others' are answered 2xx and
// dropped. The rules, per cluster value (an absent cluster label is the cluster value ""):
//   - a series without the replica label (or with an empty value) is not replicated: export it;
//   - the first replica that writes is elected; every write of the elected replica refreshes its
//     last-seen time (a time older than the last-seen one leaves it unchanged);
//   - a write of another replica when now - last_seen >= failover_timeout_ms is a failover: the writer
//     is elected from then on and the old replica is not elected again unless the new one goes silent
//     for a failover timeout in turn. Earlier than that, the other replica's writes are not elected;
//   - a cluster value not written by its elected replica for 10 x failover_timeout_ms is forgotten: the
//     next writer starts a new election, which is not a failover.
// Each election of a cluster gets a generation: 0 while the cluster is unknown, a number no earlier
// election of that cluster had when it is (re)elected from scratch, and +1 on each failover. So a
// (cluster, generation) pair names one elected replica for the tracker's lifetime; the exporter
// compares generations to notice a switch and give counters a new start time.
//
// Owns one small entry per live cluster value; idle ones are dropped by a sweep run at most once per
// failover timeout, so memory is bounded by the clusters written within the last 11 failover timeouts.
//
// Thread-safety: all methods may be called concurrently. State is guarded by mutex_. The hot path
// (Decide for a known cluster) takes the mutex once and allocates nothing; an allocation happens only
// when a cluster value appears and on a failover. The failover callback runs after the switch is
// visible, outside the mutex, on the writing thread, so it may call back into the tracker.
//
// HaRequestCache, below, lets one request ask the tracker once per (cluster, replica) pair instead of
// once per series.
#ifndef PROM2GCM_EXPORTER_HA_TRACKER_H_
#define PROM2GCM_EXPORTER_HA_TRACKER_H_

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>

#include "server/decoded_request.h"

namespace prom2gcm {

enum class HaDecision : uint8_t {
  kNotReplicated,  // the series has no replica label: export
  kElected,        // from the elected replica: export
  kNotElected,     // from another replica: answer 2xx, do not export
};
const char* HaDecisionName(HaDecision decision);

// The cluster and replica label values of one series; empty views for absent labels.
struct HaLabels {
  std::string_view cluster;
  std::string_view replica;
};

class HaTracker {
 public:
  // Called on each failover of cluster from replica `from` to replica `to`.
  using FailoverCallback =
      std::function<void(std::string_view cluster, std::string_view from, std::string_view to)>;

  struct Options {
    std::string cluster_label = "cluster";
    std::string replica_label = "__replica__";
    int64_t failover_timeout_ms = 30000;  // values below 1 act as 1
    FailoverCallback on_failover;         // may be empty
  };

  // How many failover timeouts a cluster may stay silent before it is forgotten.
  static constexpr int64_t kForgetAfterTimeouts = 10;

  explicit HaTracker(Options options);
  HaTracker(const HaTracker&) = delete;
  HaTracker& operator=(const HaTracker&) = delete;

  // Decides for a write of `replica` to `cluster` at now_ms, and records it (see the rules above).
  // When generation is not null, stores the cluster's generation after this write in it (0 for
  // kNotReplicated).
  HaDecision Decide(std::string_view cluster, std::string_view replica, int64_t now_ms,
                    uint64_t* generation = nullptr);

  // Decide for a series, with labels sorted by name as decoded requests hold them.
  HaDecision DecideSeries(std::span<const Label> labels, int64_t now_ms, uint64_t* generation = nullptr) {
    const std::string_view replica = ReplicaOf(labels);
    return Decide(replica.empty() ? std::string_view() : ClusterOf(labels), replica, now_ms, generation);
  }

  // The options' cluster and replica label values of a series whose labels are sorted by name.
  HaLabels LabelsOf(std::span<const Label> labels) const { return {ClusterOf(labels), ReplicaOf(labels)}; }
  // Each of them alone: most series carry no replica label, and then their cluster is not looked up.
  std::string_view ClusterOf(std::span<const Label> labels) const;
  std::string_view ReplicaOf(std::span<const Label> labels) const;

  // Failovers since construction (forgotten-and-reelected clusters do not count).
  uint64_t failovers() const { return failovers_.load(std::memory_order_relaxed); }
  // The cluster's current generation; 0 while it is unknown (never written, or forgotten and swept).
  uint64_t generation(std::string_view cluster) const;
  // The cluster's elected replica; empty while it is unknown (as for generation).
  std::string elected(std::string_view cluster) const;
  // Cluster values currently remembered, forgotten ones not yet swept included.
  size_t clusters() const;

  const Options& options() const { return options_; }

 private:
  struct Election {
    std::string replica;
    int64_t last_seen_ms = 0;  // of the elected replica
    uint64_t generation = 0;
  };
  struct StringHash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  // A failover to report once the mutex is released.
  struct Switch {
    std::string cluster, from, to;
  };

  // REQUIRES: mutex_ held.
  // Decide for a cluster already in elections_; on a failover to report, fills *failover.
  HaDecision DecideKnown(std::string_view cluster, Election* election, std::string_view replica,
                         int64_t now_ms, std::optional<Switch>* failover);
  bool Forgotten(const Election& election, int64_t now_ms) const;
  void StartElection(Election* election, std::string_view replica, int64_t now_ms);
  void MaybeSweep(int64_t now_ms);

  const Options options_;
  const int64_t timeout_ms_;
  const int64_t forget_after_ms_;
  std::atomic<uint64_t> failovers_{0};

  mutable std::mutex mutex_;
  std::unordered_map<std::string, Election, StringHash, std::equal_to<>> elections_;  // GUARDED_BY(mutex_)
  uint64_t last_generation_ = 0;  // GUARDED_BY(mutex_): the highest generation handed out
  int64_t next_sweep_ms_ = INT64_MIN;  // GUARDED_BY(mutex_)
};

// HaRequestCache remembers the tracker's decisions for the last few (cluster, replica) pairs of one
// request, so a request of many series asks the tracker (and takes its mutex) about once: every series
// of a request normally carries the same external labels. All series of the request are decided at the
// same now_ms, so a pair's decision cannot change within it.
//
// Holds views of the label values it was given: they must outlive the cache (a request's labels do).
// Thread-safety: none; it lives on the stack of the thread handling one request.
class HaRequestCache {
 public:
  HaRequestCache(HaTracker* tracker, int64_t now_ms) : tracker_(tracker), now_ms_(now_ms) {}
  HaRequestCache(const HaRequestCache&) = delete;
  HaRequestCache& operator=(const HaRequestCache&) = delete;

  // As HaTracker's methods of the same names, at the cache's now_ms.
  HaDecision Decide(std::string_view cluster, std::string_view replica, uint64_t* generation = nullptr);
  HaDecision DecideSeries(std::span<const Label> labels, uint64_t* generation = nullptr) {
    const std::string_view replica = tracker_->ReplicaOf(labels);
    return Decide(replica.empty() ? std::string_view() : tracker_->ClusterOf(labels), replica, generation);
  }

  // Calls this cache made to the tracker.
  uint64_t tracker_lookups() const { return tracker_lookups_; }

 private:
  static constexpr size_t kSlots = 4;
  struct Slot {
    std::string_view cluster;
    std::string_view replica;
    HaDecision decision = HaDecision::kNotReplicated;
    uint64_t generation = 0;
  };

  HaTracker* const tracker_;
  const int64_t now_ms_;
  std::array<Slot, kSlots> slots_;
  size_t used_ = 0;       // slots filled so far
  size_t next_slot_ = 0;  // the one the next miss replaces (round robin)
  uint64_t tracker_lookups_ = 0;
};

}  // namespace prom2gcm

#endif  // PROM2GCM_EXPORTER_HA_TRACKER_H_
