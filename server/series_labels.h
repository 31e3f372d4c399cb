// The rules every series' label set must meet on the way in, and the identity hash that picks the
// series' shard and keys the exporter's series cache.
#ifndef PROM2GCM_SERVER_SERIES_LABELS_H_
#define PROM2GCM_SERVER_SERIES_LABELS_H_

#include <cstdint>
#include <span>
#include <string_view>

#include "server/decoded_request.h"
#include "server/write_limits.h"

namespace prom2gcm {

inline constexpr std::string_view kMetricNameLabel = "__name__";

// Checks that names are non-empty, strictly increasing (sorted, no duplicates) and that __name__ is
// present with a value. Returns nullptr when valid, or a one-line reason.
const char* CheckLabels(std::span<const Label> labels);

// The identity hash of a label set, which picks the series' shard and keys the exporter's series
// cache: XXH3 of the labels' canonical encoding, the bytes a 1.0 TimeSeries' labels take when each
// Label has its name (field 1) then its value (field 2), both written even when empty, every length
// a minimal varint. One pass over contiguous bytes is several times cheaper than hashing each name and
// value apart; and a 1.0 series laid out that way (as Prometheus sends them) is hashed in place in the
// body, with HashEncodedLabels. The hash does not depend on how the sender encoded the labels (1.0
// strings in any layout, 2.0 symbol references). It is not stored anywhere: the durable queue logs
// request bodies, and the send journal keys series by their GCM identity.
uint64_t HashLabels(std::span<const Label> labels);

// The same hash from the canonical encoding itself. REQUIRES: `encoded` is exactly the canonical
// encoding of the labels (as above), or the result differs from HashLabels'.
uint64_t HashEncodedLabels(std::string_view encoded);

// CheckLabels, then (when valid) *hash = HashLabels(labels).
const char* CheckLabelsAndHash(std::span<const Label> labels, uint64_t* hash);

// Checks that every name and value is valid UTF-8 (see utf8.h), as Cloud Monitoring requires. Returns
// nullptr when they are, or a one-line reason. When every string is a view into `buffer` (a decoded
// request's body), the span they occupy in it is checked at once first: a series' labels lie next to
// each other there.
const char* CheckLabelsUtf8(std::span<const Label> labels, std::string_view buffer = {});

// Checks the number of labels and the length of each name and value against limits. Returns nullptr
// when within them, or a one-line reason (naming the flag) with *broken set to the limit exceeded.
const char* CheckLabelLimits(std::span<const Label> labels, const WriteLimits& limits, Limit* broken);

}  // namespace prom2gcm

#endif  // PROM2GCM_SERVER_SERIES_LABELS_H_
