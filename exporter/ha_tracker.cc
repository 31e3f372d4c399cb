#include "exporter/ha_tracker.h"

#include <algorithm>
#include <optional>
#include <utility>

namespace prom2gcm {
namespace {

// a < b, byte by byte: label names mostly differ in their first bytes, where a call to memcmp per
// probe (string_view's operator<) cost several times the loop. Runs for every series of every request.
bool NameLess(std::string_view a, std::string_view b) {
  const size_t n = std::min(a.size(), b.size());
  for (size_t i = 0; i < n; ++i) {
    if (a[i] != b[i]) return static_cast<unsigned char>(a[i]) < static_cast<unsigned char>(b[i]);
  }
  return a.size() < b.size();
}

// The value of label `name` in labels sorted by name, or an empty view.
std::string_view ValueOf(std::span<const Label> labels, std::string_view name) {
  auto it = std::lower_bound(labels.begin(), labels.end(), name,
                             [](const Label& label, std::string_view n) { return NameLess(label.name, n); });
  if (it == labels.end() || it->name != name) return {};
  return it->value;
}

}  // namespace

const char* HaDecisionName(HaDecision decision) {
  switch (decision) {
    case HaDecision::kNotReplicated:
      return "not_replicated";
    case HaDecision::kElected:
      return "elected";
    case HaDecision::kNotElected:
      return "not_elected";
  }
  return "unknown";
}

HaTracker::HaTracker(Options options)
    : options_(std::move(options)),
      timeout_ms_(std::max<int64_t>(options_.failover_timeout_ms, 1)),
      forget_after_ms_(kForgetAfterTimeouts * timeout_ms_) {}

std::string_view HaTracker::ClusterOf(std::span<const Label> labels) const {
  return ValueOf(labels, options_.cluster_label);
}

std::string_view HaTracker::ReplicaOf(std::span<const Label> labels) const {
  return ValueOf(labels, options_.replica_label);
}

HaDecision HaTracker::Decide(std::string_view cluster, std::string_view replica, int64_t now_ms,
                             uint64_t* generation) {
  if (replica.empty()) {
    if (generation != nullptr) *generation = 0;
    return HaDecision::kNotReplicated;
  }
  std::optional<Switch> failover;  // filled only on a failover with a callback to call
  HaDecision decision;
  {
    std::lock_guard lock(mutex_);
    MaybeSweep(now_ms);
    auto it = elections_.find(cluster);
    if (it == elections_.end()) {
      it = elections_.emplace(std::string(cluster), Election{}).first;
      StartElection(&it->second, replica, now_ms);
      decision = HaDecision::kElected;
    } else {
      decision = DecideKnown(cluster, &it->second, replica, now_ms, &failover);
    }
    if (generation != nullptr) *generation = it->second.generation;
  }
  if (failover) options_.on_failover(failover->cluster, failover->from, failover->to);
  return decision;
}

HaDecision HaTracker::DecideKnown(std::string_view cluster, Election* election, std::string_view replica,
                                  int64_t now_ms, std::optional<Switch>* failover) {
  if (Forgotten(*election, now_ms)) {
    StartElection(election, replica, now_ms);
    return HaDecision::kElected;
  }
  if (election->replica == replica) {
    election->last_seen_ms = std::max(election->last_seen_ms, now_ms);
    return HaDecision::kElected;
  }
  if (now_ms - election->last_seen_ms < timeout_ms_) return HaDecision::kNotElected;

  if (options_.on_failover) {
    failover->emplace(Switch{std::string(cluster), election->replica, std::string(replica)});
  }
  election->replica.assign(replica);
  election->last_seen_ms = now_ms;
  ++election->generation;
  last_generation_ = std::max(last_generation_, election->generation);
  failovers_.fetch_add(1, std::memory_order_relaxed);
  return HaDecision::kElected;
}

bool HaTracker::Forgotten(const Election& election, int64_t now_ms) const {
  return now_ms - election.last_seen_ms >= forget_after_ms_;
}

void HaTracker::StartElection(Election* election, std::string_view replica, int64_t now_ms) {
  election->replica.assign(replica);
  election->last_seen_ms = now_ms;
  election->generation = ++last_generation_;
}

void HaTracker::MaybeSweep(int64_t now_ms) {
  if (now_ms < next_sweep_ms_) return;
  next_sweep_ms_ = now_ms + timeout_ms_;
  std::erase_if(elections_, [&](const auto& entry) { return Forgotten(entry.second, now_ms); });
}

uint64_t HaTracker::generation(std::string_view cluster) const {
  std::lock_guard lock(mutex_);
  auto it = elections_.find(cluster);
  return it == elections_.end() ? 0 : it->second.generation;
}

std::string HaTracker::elected(std::string_view cluster) const {
  std::lock_guard lock(mutex_);
  auto it = elections_.find(cluster);
  return it == elections_.end() ? std::string() : it->second.replica;
}

size_t HaTracker::clusters() const {
  std::lock_guard lock(mutex_);
  return elections_.size();
}

HaDecision HaRequestCache::Decide(std::string_view cluster, std::string_view replica,
                                  uint64_t* generation) {
  if (replica.empty()) {
    if (generation != nullptr) *generation = 0;
    return HaDecision::kNotReplicated;
  }
  for (size_t i = 0; i < used_; ++i) {
    const Slot& slot = slots_[i];
    if (slot.replica == replica && slot.cluster == cluster) {
      if (generation != nullptr) *generation = slot.generation;
      return slot.decision;
    }
  }
  Slot& slot = slots_[next_slot_];
  next_slot_ = (next_slot_ + 1) % kSlots;
  used_ = std::min(used_ + 1, kSlots);
  slot.cluster = cluster;
  slot.replica = replica;
  slot.decision = tracker_->Decide(cluster, replica, now_ms_, &slot.generation);
  ++tracker_lookups_;
  if (generation != nullptr) *generation = slot.generation;
  return slot.decision;
}

}  // namespace prom2gcm
