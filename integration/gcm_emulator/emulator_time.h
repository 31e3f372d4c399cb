// Time helpers for the GCM emulator: points and rules work in nanoseconds since the Unix epoch
// (TimeNs), converted from and to google.protobuf.Timestamp at the edges.
//
// Stateless free functions; safe from any thread.
#ifndef PROM2GCM_INTEGRATION_GCM_EMULATOR_EMULATOR_TIME_H_
#define PROM2GCM_INTEGRATION_GCM_EMULATOR_EMULATOR_TIME_H_

#include <google/protobuf/timestamp.pb.h>

#include <cstdint>
#include <string>
#include <string_view>

namespace prom2gcm::emulator {

using TimeNs = int64_t;

constexpr TimeNs kNanosPerMilli = 1000 * 1000;
constexpr TimeNs kNanosPerSecond = 1000 * kNanosPerMilli;
constexpr TimeNs kNanosPerMinute = 60 * kNanosPerSecond;
constexpr TimeNs kNanosPerHour = 60 * kNanosPerMinute;

TimeNs ToNanos(const google::protobuf::Timestamp& timestamp);
google::protobuf::Timestamp ToTimestamp(TimeNs nanos);

// Milliseconds, rounded toward negative infinity.
int64_t ToMillis(TimeNs nanos);

// The emulator's wall clock.
TimeNs WallClockNow();

// RFC 3339 in UTC, e.g. "2024-05-01T12:00:00.250Z", as GCM prints times in its messages.
std::string FormatTime(TimeNs nanos);

// Parses RFC 3339 ("2024-05-01T12:00:00Z"). Returns false on malformed input.
bool ParseTime(const std::string& text, TimeNs* nanos);

// Parses a Prometheus-style duration: a number followed by ms, s, m or h ("100ms", "1.5s",
// "5m"); a bare number is seconds. Returns false on malformed or negative input.
bool ParseDuration(std::string_view text, TimeNs* nanos);

}  // namespace prom2gcm::emulator

#endif  // PROM2GCM_INTEGRATION_GCM_EMULATOR_EMULATOR_TIME_H_
