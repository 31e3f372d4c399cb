// WriteLimits: the bounds a remote-write request and each of its series must keep (flags
// --web.max-series-per-request, --web.max-labels-per-series, --web.max-label-name-length,
// --web.max-label-value-length), and the names of every limit as prom2gcm_write_limit_hits_total's
// `limit` label (--web.max-in-flight-writes included, which WriteHandler enforces).
//
// Plain values; thread-safety: read-only once set.
#ifndef PROM2GCM_SERVER_WRITE_LIMITS_H_
#define PROM2GCM_SERVER_WRITE_LIMITS_H_

#include <array>
#include <cstddef>
#include <cstdint>

namespace prom2gcm {

enum class Limit : uint8_t {
  kSeriesPerRequest,  // the whole request is refused (413)
  kLabelsPerSeries,   // the series is refused (400); the request's other series are kept
  kLabelNameLength,
  kLabelValueLength,
  kInFlightWrites,  // the request is answered 503 + Retry-After
};
inline constexpr size_t kLimitCount = 5;

inline constexpr std::array<const char*, kLimitCount> kLimitNames = {
    "series_per_request", "labels_per_series", "label_name_length", "label_value_length", "in_flight_writes"};
inline const char* LimitName(Limit limit) { return kLimitNames[static_cast<size_t>(limit)]; }

struct WriteLimits {
  uint32_t max_series_per_request = 50000;
  uint32_t max_labels_per_series = 128;  // __name__ and the target's labels included
  uint32_t max_label_name_bytes = 1024;
  uint32_t max_label_value_bytes = 4096;
};

}  // namespace prom2gcm

#endif  // PROM2GCM_SERVER_WRITE_LIMITS_H_
