// RequestLog is where the endpoint makes an accepted write request durable before answering it: the
// durable queue (exporter/durable_queue.h) implements it with a write-ahead log. The endpoint logs the
// request as received (compressed), hands it to the sink with the record's seq, and then releases its
// own reference; the record is forgotten once everything made of it was delivered.
#ifndef PROM2GCM_SERVER_REQUEST_LOG_H_
#define PROM2GCM_SERVER_REQUEST_LOG_H_

#include <cstdint>
#include <string>
#include <string_view>

#include "server/decoded_request.h"

namespace prom2gcm {

// Thread-safety: Log and Release are called concurrently from the endpoint's worker threads.
class RequestLog {
 public:
  virtual ~RequestLog() = default;
  // Writes the request to stable storage; returns its seq (> 0), holding one reference for the
  // caller, or 0 with a one-line *error (the log is full or failing: the sender should retry later).
  virtual uint64_t Log(Protocol protocol, std::string_view compressed_body, std::string* error) = 0;
  // The caller's reference on seq, taken by Log, goes.
  virtual void Release(uint64_t seq) = 0;
};

}  // namespace prom2gcm

#endif  // PROM2GCM_SERVER_REQUEST_LOG_H_
