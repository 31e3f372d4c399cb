#include "exporter/replay_guard.h"

#include <glog/logging.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <limits>

namespace prom2gcm {
namespace {

// How long the checker gathers targets before asking, so that one call covers many.
constexpr auto kGatherTime = std::chrono::milliseconds(50);
// Waits between attempts to ask GCM; after the last, held targets are released unasked.
constexpr int64_t kRetryWaitsMs[] = {500, 1000, 2000, 4000, 8000, 16000};

}  // namespace

ReplayGuard::ReplayGuard(SendJournal* journal, DeliveryChecker* checker, const ProjectTable* projects, Clock clock,
                         int64_t active_ms, std::function<void()> wake)
    : journal_(journal),
      checker_(checker),
      projects_(projects),
      clock_(std::move(clock)),
      deadline_ms_(clock_() + active_ms),
      wake_(std::move(wake)),
      active_(checker != nullptr && journal->ambiguous_count() > 0) {
  if (active_) checker_thread_ = std::thread([this] { CheckerLoop(); });
}

ReplayGuard::~ReplayGuard() {
  {
    std::lock_guard lock(mutex_);
    stop_ = true;
  }
  cv_.notify_all();
  if (checker_thread_.joinable()) checker_thread_.join();
}

JournalPoint ReplayGuard::JournalPointOf(const GcmTarget& target, const PendingPoint& point,
                                         std::string_view identity) {
  JournalPoint out;
  out.key = SendJournal::KeyOf(identity);
  out.state.end_ms = point.end_ms;
  out.state.start_ms = point.start_ms;
  // The target's baseline is this point's only while no reset was queued after it (a reset sets a
  // new start time); else the state is left out and a restart takes a new baseline.
  if (target.kind == PointKind::kCumulative && !target.distribution && target.has_baseline &&
      point.start_ms == target.start_ms) {
    out.state.counter = true;
    out.state.baseline = target.baseline;
    // The raw sample, rebuilt from value = raw - baseline. One ulp lower, so rounding can never make
    // an unchanged counter look like a reset.
    out.state.last_value =
        std::nextafter(point.value + target.baseline, -std::numeric_limits<double>::infinity());
  }
  return out;
}

void ReplayGuard::Restore(const SentState& state, SeriesEntry* entry, GcmTarget* target) {
  entry->last_sample_ms = std::max(entry->last_sample_ms, state.end_ms);
  target->last_queued_ms = state.end_ms;
  if (state.counter && target->kind == PointKind::kCumulative && !target->distribution) {
    target->has_baseline = true;
    target->baseline = state.baseline;
    target->last_value = state.last_value;
    target->start_ms = state.start_ms;
  }
}

void ReplayGuard::OnEntryBuilt(SeriesEntry* entry) {
  // Past the restart's series, nothing is looked up: no identity is built for the new ones.
  if (!journal_->AnyDeliveredLeft() && !active()) return;
  for (int i = 0; i < entry->target_count; ++i) {
    GcmTarget* target = &entry->targets()[i];
    const std::string identity = IdentityOf(*target);
    const uint64_t key = SendJournal::KeyOf(identity);
    if (std::optional<SentState> state = journal_->TakeDelivered(key)) Restore(*state, entry, target);
    if (!active()) continue;
    std::optional<int64_t> ambiguous_end = journal_->Ambiguous(key);
    if (!ambiguous_end) continue;
    std::lock_guard lock(mutex_);
    held_.insert(target);
    to_ask_.push_back(Pending{target, PointToCheck{projects_->Name(entry->project), identity, *ambiguous_end}});
    cv_.notify_all();
  }
}

ReplayGuard::Verdict ReplayGuard::Check(const GcmTarget* target, int64_t end_ms) {
  if (!active()) return Verdict::kSend;
  std::lock_guard lock(mutex_);
  if (clock_() > deadline_ms_) {
    held_.clear();
    delivered_to_.clear();
    active_ = false;
    return Verdict::kSend;
  }
  if (held_.contains(target)) return Verdict::kWait;
  auto it = delivered_to_.find(target);
  if (it == delivered_to_.end()) return Verdict::kSend;
  if (end_ms <= it->second) return Verdict::kDelivered;
  delivered_to_.erase(it);  // past what GCM held: from here on the series is sent as usual
  return Verdict::kSend;
}

void ReplayGuard::CheckerLoop() {
  std::unique_lock lock(mutex_);
  while (true) {
    cv_.wait(lock, [this] { return stop_ || !to_ask_.empty(); });
    if (stop_) return;
    cv_.wait_for(lock, kGatherTime, [this] { return stop_; });
    std::vector<Pending> batch;
    batch.swap(to_ask_);
    lock.unlock();
    std::vector<bool> delivered;
    const bool asked = Ask(batch, &delivered);
    size_t already = 0;
    lock.lock();
    for (size_t i = 0; i < batch.size(); ++i) {
      if (asked && delivered[i]) {
        delivered_to_[batch[i].target] = batch[i].point.end_ms;
        ++already;
      }
      held_.erase(batch[i].target);
    }
    LOG(INFO) << "replay: Cloud Monitoring already holds " << already << " of " << batch.size()
              << " points of calls unanswered at the last stop; they are not sent again";
    lock.unlock();
    wake_();
    lock.lock();
  }
}

bool ReplayGuard::Ask(const std::vector<Pending>& batch, std::vector<bool>* delivered) {
  std::vector<PointToCheck> points;
  points.reserve(batch.size());
  for (const Pending& pending : batch) points.push_back(pending.point);
  for (int64_t wait_ms : kRetryWaitsMs) {
    std::string error;
    if (checker_->Check(points, delivered, &error)) return true;
    LOG(WARNING) << "replay: cannot ask Cloud Monitoring which points it holds (" << error << "); retrying in "
                 << wait_ms << " ms";
    std::unique_lock lock(mutex_);
    if (cv_.wait_for(lock, std::chrono::milliseconds(wait_ms), [this] { return stop_; })) return false;
  }
  LOG(WARNING) << "replay: giving up asking Cloud Monitoring; " << batch.size()
               << " points may be sent twice (it refuses the repeats)";
  return false;
}

}  // namespace prom2gcm
