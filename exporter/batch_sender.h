// BatchSender is how the exporter delivers a batch: one CreateTimeSeries call. GcmClient implements
// it over gRPC; tests implement it in memory.
#ifndef PROM2GCM_EXPORTER_BATCH_SENDER_H_
#define PROM2GCM_EXPORTER_BATCH_SENDER_H_

#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace prom2gcm {

struct SendResult {
  enum class Outcome {
    kOk,         // every point accepted
    kRetryable,  // UNAVAILABLE, DEADLINE_EXCEEDED, RESOURCE_EXHAUSTED, INTERNAL: send again later
    kRejected,   // answered, some or all points refused (INVALID_ARGUMENT or another final code)
  };
  Outcome outcome = Outcome::kOk;
  int succeeded = 0;  // points GCM accepted (kRejected: from its CreateTimeSeriesSummary)
  std::vector<std::pair<std::string, int>> failed;  // (reason, points), kRejected only
  std::string message;                              // the status message, for logs
};

// Thread-safety: Send may be called from the export loop while earlier calls complete; done is
// called exactly once per Send, from any thread.
class BatchSender {
 public:
  virtual ~BatchSender() = default;
  // project: "projects/ID"; time_series: encoded CreateTimeSeriesRequest.time_series fields;
  // points: how many series (one point each) they hold. The sender may keep a reference to
  // time_series (not copy it) until the call is over; it is not changed meanwhile.
  virtual void Send(const std::string& project, std::shared_ptr<const std::string> time_series, int points,
                    std::function<void(SendResult)> done) = 0;
};

}  // namespace prom2gcm

#endif  // PROM2GCM_EXPORTER_BATCH_SENDER_H_
