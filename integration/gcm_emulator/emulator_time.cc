#include "integration/gcm_emulator/emulator_time.h"

#include <google/protobuf/util/time_util.h>

#include <chrono>
#include <cmath>
#include <cstdlib>

namespace prom2gcm::emulator {

using google::protobuf::util::TimeUtil;

TimeNs ToNanos(const google::protobuf::Timestamp& timestamp) {
  return timestamp.seconds() * kNanosPerSecond + timestamp.nanos();
}

google::protobuf::Timestamp ToTimestamp(TimeNs nanos) {
  google::protobuf::Timestamp timestamp;
  int64_t seconds = nanos / kNanosPerSecond;
  int64_t rest = nanos % kNanosPerSecond;
  if (rest < 0) {
    seconds -= 1;
    rest += kNanosPerSecond;
  }
  timestamp.set_seconds(seconds);
  timestamp.set_nanos(static_cast<int32_t>(rest));
  return timestamp;
}

int64_t ToMillis(TimeNs nanos) {
  int64_t millis = nanos / kNanosPerMilli;
  if (nanos % kNanosPerMilli < 0) millis -= 1;
  return millis;
}

TimeNs WallClockNow() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string FormatTime(TimeNs nanos) { return TimeUtil::ToString(ToTimestamp(nanos)); }

bool ParseTime(const std::string& text, TimeNs* nanos) {
  google::protobuf::Timestamp timestamp;
  if (!TimeUtil::FromString(text, &timestamp)) return false;
  *nanos = ToNanos(timestamp);
  return true;
}

namespace {

// Nanoseconds per unit for a duration suffix, or 0 if the suffix is unknown.
TimeNs UnitNanos(std::string_view unit) {
  if (unit.empty() || unit == "s") return kNanosPerSecond;
  if (unit == "ms") return kNanosPerMilli;
  if (unit == "m") return kNanosPerMinute;
  if (unit == "h") return kNanosPerHour;
  return 0;
}

}  // namespace

bool ParseDuration(std::string_view text, TimeNs* nanos) {
  const std::string number_text(text);
  char* end = nullptr;
  const double number = std::strtod(number_text.c_str(), &end);
  if (end == number_text.c_str() || !std::isfinite(number) || number < 0) return false;
  const TimeNs unit = UnitNanos(std::string_view(end));
  if (unit == 0) return false;
  *nanos = static_cast<TimeNs>(std::llround(number * static_cast<double>(unit)));
  return true;
}

}  // namespace prom2gcm::emulator
