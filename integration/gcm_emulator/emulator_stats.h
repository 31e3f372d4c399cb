// EmulatorStats counts what the emulator's gRPC service did — requests, points accepted, points
// rejected by reason, calls failed by an injected fault — for GET /v1/stats.
//
// Owns plain counters. Thread-safety: every method takes an internal mutex; call from any thread.
#ifndef PROM2GCM_INTEGRATION_GCM_EMULATOR_EMULATOR_STATS_H_
#define PROM2GCM_INTEGRATION_GCM_EMULATOR_EMULATOR_STATS_H_

#include <cstdint>
#include <map>
#include <mutex>
#include <string>

namespace prom2gcm::emulator {

struct StatsSnapshot {
  int64_t requests = 0;       // CreateTimeSeries calls, failed ones included
  int64_t list_requests = 0;  // ListTimeSeries calls
  int64_t points_received = 0;
  int64_t points_accepted = 0;
  std::map<std::string, int64_t> points_rejected;  // by Rejection::reason
  int64_t requests_failed_by_fault = 0;            // calls answered UNAVAILABLE by the fault injector

  int64_t points_rejected_total() const;
};

class EmulatorStats {
 public:
  EmulatorStats() = default;
  EmulatorStats(const EmulatorStats&) = delete;
  EmulatorStats& operator=(const EmulatorStats&) = delete;

  void CountCreateRequest(int64_t points);
  void CountListRequest();
  void CountFaultFailure();
  void CountAccepted(int64_t points);
  void CountRejected(const std::string& reason, int64_t points);

  StatsSnapshot Snapshot() const;

 private:
  mutable std::mutex mutex_;
  StatsSnapshot counts_;  // guarded by mutex_
};

}  // namespace prom2gcm::emulator

#endif  // PROM2GCM_INTEGRATION_GCM_EMULATOR_EMULATOR_STATS_H_
