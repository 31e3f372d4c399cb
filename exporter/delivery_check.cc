#include "exporter/delivery_check.h"

#include <grpcpp/client_context.h>

#include <algorithm>
#include <chrono>
#include <limits>
#include <map>
#include <string_view>
#include <utility>

#include "google/monitoring/v3/metric_service.grpc.pb.h"

namespace prom2gcm {
namespace {

using google::monitoring::v3::ListTimeSeriesRequest;
using google::monitoring::v3::ListTimeSeriesResponse;
using google::monitoring::v3::MetricService;
using google::monitoring::v3::TimeSeries;

constexpr int kPageSize = 10000;
constexpr int64_t kLookAheadMs = 10 * 60 * 1000;  // a later point GCM holds counts too
constexpr int64_t kNanosPerMilli = 1000 * 1000;
constexpr int64_t kNothingHeld = std::numeric_limits<int64_t>::min();

// The points of one (project, metric type) and, per series they belong to (by canonical key), the
// newest end time GCM holds in the listed interval.
struct Group {
  std::vector<std::pair<size_t, std::string>> points;  // index into the input, canonical key
  int64_t min_end_ms = std::numeric_limits<int64_t>::max();
  int64_t max_end_ms = std::numeric_limits<int64_t>::min();
  std::map<std::string, int64_t> newest_end_ns;  // kNothingHeld until a listed point is seen
};

using GroupKey = std::pair<std::string, std::string>;  // project, metric type

// Length-prefixed, so that no two different series share a key.
void AppendField(std::string_view text, std::string* key) {
  key->append(std::to_string(text.size())).push_back(':');
  key->append(text);
}

template <typename LabelMap>
void AppendLabels(const LabelMap& labels, std::string* key) {
  const std::map<std::string_view, std::string_view> sorted(labels.begin(), labels.end());
  AppendField(std::to_string(sorted.size()), key);
  for (const auto& [name, value] : sorted) {
    AppendField(name, key);
    AppendField(value, key);
  }
}

// Metric type and labels, resource type and labels; not kind or value type, which ListTimeSeries may
// echo differently, and not the serialized bytes, whose map order is not guaranteed.
std::string CanonicalKey(const TimeSeries& series) {
  std::string key;
  AppendField(series.metric().type(), &key);
  AppendLabels(series.metric().labels(), &key);
  AppendField(series.resource().type(), &key);
  AppendLabels(series.resource().labels(), &key);
  return key;
}

bool GroupPoints(const std::vector<PointToCheck>& points, std::map<GroupKey, Group>* groups, std::string* error) {
  for (size_t i = 0; i < points.size(); ++i) {
    TimeSeries series;
    if (!series.ParseFromString(points[i].identity)) {
      *error = "point " + std::to_string(i) + " of " + points[i].project + ": its series identity does not parse";
      return false;
    }
    Group& group = (*groups)[{points[i].project, series.metric().type()}];
    std::string key = CanonicalKey(series);
    group.newest_end_ns.emplace(key, kNothingHeld);
    group.points.emplace_back(i, std::move(key));
    group.min_end_ms = std::min(group.min_end_ms, points[i].end_ms);
    group.max_end_ms = std::max(group.max_end_ms, points[i].end_ms);
  }
  return true;
}

google::protobuf::Timestamp TimestampOfMillis(int64_t ms) {
  google::protobuf::Timestamp timestamp;
  int64_t seconds = ms / 1000;
  int64_t millis = ms % 1000;
  if (millis < 0) {
    seconds -= 1;
    millis += 1000;
  }
  timestamp.set_seconds(seconds);
  timestamp.set_nanos(static_cast<int32_t>(millis * kNanosPerMilli));
  return timestamp;
}

int64_t NanosOf(const google::protobuf::Timestamp& timestamp) {
  return timestamp.seconds() * 1000 * kNanosPerMilli + timestamp.nanos();
}

// The interval (start, end] excludes its start: 1 ms before the oldest point includes it.
ListTimeSeriesRequest GroupRequest(const GroupKey& key, const Group& group) {
  ListTimeSeriesRequest request;
  request.set_name(key.first);
  request.set_filter("metric.type = \"" + key.second + "\"");
  *request.mutable_interval()->mutable_start_time() = TimestampOfMillis(group.min_end_ms - 1);
  *request.mutable_interval()->mutable_end_time() = TimestampOfMillis(group.max_end_ms + kLookAheadMs);
  request.set_view(ListTimeSeriesRequest::FULL);
  request.set_page_size(kPageSize);
  return request;
}

void RecordNewest(const ListTimeSeriesResponse& response, Group* group) {
  for (const TimeSeries& series : response.time_series()) {
    auto it = group->newest_end_ns.find(CanonicalKey(series));
    if (it == group->newest_end_ns.end()) continue;
    for (const auto& point : series.points()) {
      it->second = std::max(it->second, NanosOf(point.interval().end_time()));
    }
  }
}

std::string CallError(const GroupKey& key, const grpc::Status& status) {
  std::string message = "ListTimeSeries of " + key.second + " in " + key.first + " failed (gRPC code " +
                        std::to_string(status.error_code()) + "): " + status.error_message();
  std::replace(message.begin(), message.end(), '\n', ' ');
  return message;
}

// Lists the group's metric type page by page into group->newest_end_ns.
bool ListGroup(MetricService::Stub& stub, int64_t timeout_ms, const GroupKey& key, Group* group, std::string* error) {
  ListTimeSeriesRequest request = GroupRequest(key, *group);
  do {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::milliseconds(timeout_ms));
    ListTimeSeriesResponse response;
    const grpc::Status status = stub.ListTimeSeries(&context, request, &response);
    if (!status.ok()) {
      *error = CallError(key, status);
      return false;
    }
    RecordNewest(response, group);
    request.set_page_token(response.next_page_token());
  } while (!request.page_token().empty());
  return true;
}

}  // namespace

GcmDeliveryChecker::GcmDeliveryChecker(std::shared_ptr<grpc::Channel> channel, int64_t timeout_ms)
    : channel_(std::move(channel)), timeout_ms_(timeout_ms) {}

bool GcmDeliveryChecker::Check(const std::vector<PointToCheck>& points, std::vector<bool>* delivered,
                               std::string* error) {
  std::map<GroupKey, Group> groups;
  if (!GroupPoints(points, &groups, error)) return false;
  const std::unique_ptr<MetricService::Stub> stub = MetricService::NewStub(channel_);
  delivered->assign(points.size(), false);
  for (auto& [key, group] : groups) {
    if (!ListGroup(*stub, timeout_ms_, key, &group, error)) return false;
    for (const auto& [index, series_key] : group.points) {
      (*delivered)[index] = group.newest_end_ns.at(series_key) >= points[index].end_ms * kNanosPerMilli;
    }
  }
  return true;
}

}  // namespace prom2gcm
