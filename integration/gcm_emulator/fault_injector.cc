#include "integration/gcm_emulator/fault_injector.h"

namespace prom2gcm::emulator {

FaultInjector::FaultInjector(const FaultSettings& initial, uint64_t seed) : settings_(initial), random_(seed) {}

FaultSettings FaultInjector::settings() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return settings_;
}

void FaultInjector::Apply(const FaultUpdate& update) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (update.latency_ms) settings_.latency_ms = *update.latency_ms;
  if (update.unavailable_ratio) settings_.unavailable_ratio = *update.unavailable_ratio;
  if (update.outage_until) settings_.outage_until = *update.outage_until;
  if (update.reject_point_ratio) settings_.reject_point_ratio = *update.reject_point_ratio;
}

void FaultInjector::Clear() {
  std::lock_guard<std::mutex> lock(mutex_);
  settings_ = FaultSettings();
}

bool FaultInjector::Draw(double ratio) {
  if (ratio <= 0) return false;
  if (ratio >= 1) return true;
  return std::uniform_real_distribution<double>(0, 1)(random_) < ratio;
}

CallFault FaultInjector::DecideCall(TimeNs now) {
  std::lock_guard<std::mutex> lock(mutex_);
  CallFault fault;
  fault.latency_ms = settings_.latency_ms;
  if (now < settings_.outage_until) {
    fault.unavailable_message =
        "The service is currently unavailable (emulated outage until " + FormatTime(settings_.outage_until) + ").";
  } else if (Draw(settings_.unavailable_ratio)) {
    fault.unavailable_message = "The service is currently unavailable.";
  }
  return fault;
}

bool FaultInjector::RejectPoint() {
  std::lock_guard<std::mutex> lock(mutex_);
  return Draw(settings_.reject_point_ratio);
}

}  // namespace prom2gcm::emulator
