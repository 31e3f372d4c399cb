// DeliveryChecker asks Cloud Monitoring which points it already holds. After a crash, the exporter
// replays the CreateTimeSeries calls that were in flight (send_journal.h: Ambiguous); GCM may or may
// not have applied them, and would refuse a point sent twice as out of order. Before sending them
// again, the exporter checks them here and sends only those GCM does not hold.
//
// GcmDeliveryChecker groups the points by (project, metric type) and makes one ListTimeSeries call
// per group (following next_page_token), filter metric.type = "TYPE", over the end times
// (min end_ms - 1 ms, max end_ms + 10 min] (ListTimeSeries' interval excludes its start), view FULL.
// A returned series is matched to a point by metric type and labels and resource type and labels
// (not by kind or value type, nor by serialized bytes); the point is delivered when that series has a
// point whose end time is >= end_ms. A series whose only later points lie more than 10 minutes after
// the group's newest point is not seen (such a point is reported undelivered).
//
// Thread-safety: Check may be called concurrently from any thread (each call uses its own stub).
#ifndef PROM2GCM_EXPORTER_DELIVERY_CHECK_H_
#define PROM2GCM_EXPORTER_DELIVERY_CHECK_H_

#include <grpcpp/channel.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace prom2gcm {

struct PointToCheck {
  std::string project;   // "projects/ID"
  std::string identity;  // serialized TimeSeries with metric, resource, metric_kind, value_type (IdentityOf in transform.h)
  int64_t end_ms = 0;    // end time of the point that may have been written
};

// Abstract so the exporter tests can fake it.
class DeliveryChecker {
 public:
  virtual ~DeliveryChecker() = default;

  // Sets (*delivered)[i] for each of `points`: true when GCM holds a point of that series whose end
  // time is >= end_ms (re-sending it would be refused anyway). Returns false with a one-line *error
  // when GCM could not be asked or an identity does not parse (then *delivered is unspecified).
  virtual bool Check(const std::vector<PointToCheck>& points, std::vector<bool>* delivered,
                     std::string* error) = 0;
};

class GcmDeliveryChecker : public DeliveryChecker {
 public:
  // Each ListTimeSeries call (each page) may take up to timeout_ms.
  GcmDeliveryChecker(std::shared_ptr<grpc::Channel> channel, int64_t timeout_ms);

  bool Check(const std::vector<PointToCheck>& points, std::vector<bool>* delivered, std::string* error) override;

 private:
  const std::shared_ptr<grpc::Channel> channel_;
  const int64_t timeout_ms_;
};

}  // namespace prom2gcm

#endif  // PROM2GCM_EXPORTER_DELIVERY_CHECK_H_
