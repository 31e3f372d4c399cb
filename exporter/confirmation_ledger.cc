#include "exporter/confirmation_ledger.h"

#include <glog/logging.h>

#include <algorithm>
#include <sstream>

namespace prom2gcm {

bool LedgerCheckpoint::IsDone(uint64_t seq) const {
  if (seq < watermark) return true;
  auto it = std::upper_bound(done.begin(), done.end(), seq,
                             [](uint64_t s, const std::pair<uint64_t, uint64_t>& range) { return s < range.first; });
  return it != done.begin() && seq <= std::prev(it)->second;
}

std::string LedgerCheckpoint::Serialize() const {
  std::string out = "prom2gcm-ledger 1\nwatermark " + std::to_string(watermark) + "\n";
  for (const auto& [first, last] : done) out += "done " + std::to_string(first) + " " + std::to_string(last) + "\n";
  return out;
}

bool LedgerCheckpoint::Parse(std::string_view text, LedgerCheckpoint* out) {
  std::istringstream in{std::string(text)};
  std::string word;
  int version = 0;
  if (!(in >> word >> version) || word != "prom2gcm-ledger" || version != 1) return false;
  if (!(in >> word >> out->watermark) || word != "watermark") return false;
  out->done.clear();
  uint64_t first = 0, last = 0;
  while (in >> word) {
    if (word != "done" || !(in >> first >> last) || first > last || first <= out->watermark) return false;
    if (!out->done.empty() && first <= out->done.back().second) return false;
    out->done.emplace_back(first, last);
  }
  return true;
}

void ConfirmationLedger::Register(uint64_t seq, int64_t now_ms) {
  std::lock_guard lock(mutex_);
  DCHECK_GT(seq, last_seq_);
  pending_[seq] = Pending{1, now_ms};
  last_seq_ = std::max(last_seq_, seq);
}

void ConfirmationLedger::AddRefs(uint64_t seq, int64_t n) {
  if (seq == 0 || n == 0) return;
  std::lock_guard lock(mutex_);
  auto it = pending_.find(seq);
  if (it != pending_.end()) it->second.refs += n;
}

void ConfirmationLedger::Release(uint64_t seq, int64_t n) {
  if (seq == 0 || n == 0) return;
  std::lock_guard lock(mutex_);
  auto it = pending_.find(seq);
  if (it == pending_.end()) return;
  it->second.refs -= n;
  DCHECK_GE(it->second.refs, 0) << "seq " << seq;
  if (it->second.refs <= 0) pending_.erase(it);
}

void ConfirmationLedger::MarkDone(uint64_t seq) {
  std::lock_guard lock(mutex_);
  last_seq_ = std::max(last_seq_, seq);
}

uint64_t ConfirmationLedger::WatermarkLocked() const {
  return pending_.empty() ? last_seq_ + 1 : pending_.begin()->first;
}

uint64_t ConfirmationLedger::Watermark() const {
  std::lock_guard lock(mutex_);
  return WatermarkLocked();
}

LedgerCheckpoint ConfirmationLedger::Checkpoint() const {
  std::lock_guard lock(mutex_);
  LedgerCheckpoint checkpoint;
  checkpoint.watermark = WatermarkLocked();
  // The gaps between pending seqs above the watermark are done.
  uint64_t next = checkpoint.watermark;
  for (const auto& [seq, pending] : pending_) {
    if (seq > next) checkpoint.done.emplace_back(next, seq - 1);
    next = seq + 1;
  }
  if (next <= last_seq_) checkpoint.done.emplace_back(next, last_seq_);
  return checkpoint;
}

size_t ConfirmationLedger::pending() const {
  std::lock_guard lock(mutex_);
  return pending_.size();
}

int64_t ConfirmationLedger::oldest_pending_ms() const {
  std::lock_guard lock(mutex_);
  return pending_.empty() ? 0 : pending_.begin()->second.registered_ms;
}

}  // namespace prom2gcm
