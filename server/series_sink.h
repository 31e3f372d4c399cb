// SeriesSink is where the endpoint hands each decoded write request: the exporter implements it.
// The endpoint answers the sender by the result, so a sink must say "accepted" only for data it has
// taken charge of (copied what it needs: the request's views die when Append returns). A sink may
// take part of a request and still ask for a retry, provided the retry is idempotent for what it took
// (the exporter drops samples not newer than the last one seen for their series).
#ifndef PROM2GCM_SERVER_SERIES_SINK_H_
#define PROM2GCM_SERVER_SERIES_SINK_H_

#include <cstdint>
#include <string>
#include <utility>

#include "server/decoded_request.h"

namespace prom2gcm {

struct AppendResult {
  // Not accepted: the sender should retry after retry_after_seconds.
  static AppendResult Retry(std::string reason, int retry_after_seconds) {
    AppendResult result;
    result.accepted = false;
    result.reason = std::move(reason);
    result.retry_after_seconds = retry_after_seconds;
    return result;
  }

  // false: the sender should retry later (503 Retry-After); see the idempotence rule above.
  bool accepted = true;
  std::string reason;           // why not accepted, one line
  int retry_after_seconds = 1;  // when not accepted
  // Data the sink found invalid and will never take (e.g. a native histogram whose buckets do not
  // add up), while taking the rest: the sender is told 400 with the first reason.
  uint64_t invalid = 0;
  std::string invalid_reason;
};

// Thread-safety: Append is called concurrently from the endpoint's worker threads.
class SeriesSink {
 public:
  virtual ~SeriesSink() = default;
  virtual AppendResult Append(const DecodedRequest& request) = 0;
};

}  // namespace prom2gcm

#endif  // PROM2GCM_SERVER_SERIES_SINK_H_
