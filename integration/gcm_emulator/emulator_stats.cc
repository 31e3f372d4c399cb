#include "integration/gcm_emulator/emulator_stats.h"

namespace prom2gcm::emulator {

int64_t StatsSnapshot::points_rejected_total() const {
  int64_t total = 0;
  for (const auto& [reason, count] : points_rejected) total += count;
  return total;
}

void EmulatorStats::CountCreateRequest(int64_t points) {
  std::lock_guard<std::mutex> lock(mutex_);
  counts_.requests += 1;
  counts_.points_received += points;
}

void EmulatorStats::CountListRequest() {
  std::lock_guard<std::mutex> lock(mutex_);
  counts_.list_requests += 1;
}

void EmulatorStats::CountFaultFailure() {
  std::lock_guard<std::mutex> lock(mutex_);
  counts_.requests_failed_by_fault += 1;
}

void EmulatorStats::CountAccepted(int64_t points) {
  std::lock_guard<std::mutex> lock(mutex_);
  counts_.points_accepted += points;
}

void EmulatorStats::CountRejected(const std::string& reason, int64_t points) {
  std::lock_guard<std::mutex> lock(mutex_);
  counts_.points_rejected[reason] += points;
}

StatsSnapshot EmulatorStats::Snapshot() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return counts_;
}

}  // namespace prom2gcm::emulator
