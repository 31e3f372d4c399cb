// The rules every series' label set must meet on the way in, and the identity hash that picks the
// series' shard and keys the exporter's series cache.
#ifndef PROM2GCM_SERVER_SERIES_LABELS_H_
#define PROM2GCM_SERVER_SERIES_LABELS_H_

#include <cstdint>
#include <span>

#include "server/decoded_request.h"
#include "server/write_limits.h"

namespace prom2gcm {

inline constexpr std::string_view kMetricNameLabel = "__name__";

// Checks that names are non-empty, strictly increasing (sorted, no duplicates) and that __name__ is
// present with a value; on success stores the identity hash in *hash. Returns nullptr when valid, or a
// one-line reason. The hash covers names and values with separators, so it does not depend on how
// the sender encoded them (1.0 strings or 2.0 symbol references).
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
