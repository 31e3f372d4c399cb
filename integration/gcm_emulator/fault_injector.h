// FaultInjector makes the emulator misbehave on purpose, as GCM sometimes does: it adds latency to
// every gRPC call, answers a share of calls (or, during an outage window, all calls) UNAVAILABLE,
// and rejects a share of points. Settings come from flags at start and from POST /v1/faults at run
// time.
//
// Owns the settings and a seeded random generator. Thread-safety: every method takes an internal
// mutex; call from any thread.
#ifndef PROM2GCM_INTEGRATION_GCM_EMULATOR_FAULT_INJECTOR_H_
#define PROM2GCM_INTEGRATION_GCM_EMULATOR_FAULT_INJECTOR_H_

#include <cstdint>
#include <mutex>
#include <optional>
#include <random>
#include <string>

#include "integration/gcm_emulator/emulator_time.h"

namespace prom2gcm::emulator {

struct FaultSettings {
  int64_t latency_ms = 0;         // added to every call
  double unavailable_ratio = 0;   // share of calls answered UNAVAILABLE, 0..1
  TimeNs outage_until = 0;        // every call is UNAVAILABLE until this wall-clock time
  double reject_point_ratio = 0;  // share of points rejected with INVALID_ARGUMENT, 0..1
};

// A partial change of the settings: only the fields that are set change.
struct FaultUpdate {
  std::optional<int64_t> latency_ms;
  std::optional<double> unavailable_ratio;
  std::optional<TimeNs> outage_until;
  std::optional<double> reject_point_ratio;
};

// What to do to one call.
struct CallFault {
  int64_t latency_ms = 0;
  std::optional<std::string> unavailable_message;  // set: answer UNAVAILABLE with this message
};

class FaultInjector {
 public:
  FaultInjector(const FaultSettings& initial, uint64_t seed);

  FaultInjector(const FaultInjector&) = delete;
  FaultInjector& operator=(const FaultInjector&) = delete;

  FaultSettings settings() const;
  void Apply(const FaultUpdate& update);
  void Clear();

  // Decides the fate of one gRPC call arriving at wall-clock time `now`.
  CallFault DecideCall(TimeNs now);

  // True if the next point should be rejected.
  bool RejectPoint();

 private:
  bool Draw(double ratio);  // REQUIRES: mutex_ held

  mutable std::mutex mutex_;
  FaultSettings settings_;  // guarded by mutex_
  std::mt19937_64 random_;  // guarded by mutex_
};

}  // namespace prom2gcm::emulator

#endif  // PROM2GCM_INTEGRATION_GCM_EMULATOR_FAULT_INJECTOR_H_
