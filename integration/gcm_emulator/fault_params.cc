#include "integration/gcm_emulator/fault_params.h"

#include <cmath>
#include <cstdlib>

namespace prom2gcm::emulator {
namespace {

bool ParseNumber(const std::string& text, double* value) {
  char* end = nullptr;
  *value = std::strtod(text.c_str(), &end);
  return !text.empty() && end == text.c_str() + text.size() && std::isfinite(*value);
}

bool ParseRatio(const std::string& name, const std::string& text, std::optional<double>* ratio, std::string* error) {
  double value = 0;
  if (!ParseNumber(text, &value) || value < 0 || value > 1) {
    *error = name + " must be a number from 0 to 1, got \"" + text + "\"";
    return false;
  }
  *ratio = value;
  return true;
}

bool ParseLatency(const std::string& text, std::optional<int64_t>* latency_ms, std::string* error) {
  double value = 0;
  if (!ParseNumber(text, &value) || value < 0 || value > 3600e3) {
    *error = "latency_ms must be a number of milliseconds from 0 to 3600000, got \"" + text + "\"";
    return false;
  }
  *latency_ms = std::llround(value);
  return true;
}

bool ParseOutageSeconds(const std::string& text, TimeNs now, std::optional<TimeNs>* outage_until, std::string* error) {
  double seconds = 0;
  if (!ParseNumber(text, &seconds) || seconds < 0 || seconds > 1e9) {
    *error = "outage_seconds must be a non-negative number, got \"" + text + "\"";
    return false;
  }
  *outage_until = seconds == 0 ? 0 : now + std::llround(seconds * static_cast<double>(kNanosPerSecond));
  return true;
}

bool ParseOutageUntil(const std::string& text, std::optional<TimeNs>* outage_until, std::string* error) {
  TimeNs until = 0;
  if (!text.empty() && !ParseTime(text, &until)) {
    *error = "outage_until must be an RFC 3339 time such as 2024-05-01T12:00:00Z, got \"" + text + "\"";
    return false;
  }
  *outage_until = until;
  return true;
}

}  // namespace

bool ParseFaultParams(const std::multimap<std::string, std::string>& params, TimeNs now, FaultUpdate* update,
                      std::string* error) {
  for (const auto& [name, value] : params) {
    bool ok = false;
    if (name == "latency_ms") {
      ok = ParseLatency(value, &update->latency_ms, error);
    } else if (name == "unavailable_ratio") {
      ok = ParseRatio(name, value, &update->unavailable_ratio, error);
    } else if (name == "reject_point_ratio") {
      ok = ParseRatio(name, value, &update->reject_point_ratio, error);
    } else if (name == "outage_seconds") {
      ok = ParseOutageSeconds(value, now, &update->outage_until, error);
    } else if (name == "outage_until") {
      ok = ParseOutageUntil(value, &update->outage_until, error);
    } else {
      *error = "unknown fault parameter \"" + name + "\"";
    }
    if (!ok) return false;
  }
  return true;
}

}  // namespace prom2gcm::emulator
