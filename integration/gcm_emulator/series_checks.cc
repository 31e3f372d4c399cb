#include "integration/gcm_emulator/series_checks.h"

#include <set>

namespace prom2gcm::emulator {
namespace {

using google::api::Distribution;
using google::api::MetricDescriptor;
using google::monitoring::v3::CreateTimeSeriesRequest;
using google::monitoring::v3::Point;
using google::monitoring::v3::TimeSeries;
using google::monitoring::v3::TypedValue;

const std::set<std::string>& RequiredResourceLabels() {
  static const std::set<std::string> labels = {"project_id", "location", "cluster", "namespace", "job", "instance"};
  return labels;
}

std::optional<Rejection> CheckPointCount(const TimeSeries& series) {
  if (series.points_size() == 1) return std::nullopt;
  return InvalidArgument("point_count",
                         "Field points had an invalid value: Only one point can be "
                         "written per TimeSeries per request.");
}

bool IsPrintableAscii(const std::string& text) {
  for (unsigned char c : text) {
    if (c <= 0x20 || c >= 0x7f) return false;
  }
  return true;
}

std::optional<Rejection> CheckMetricType(const std::string& type) {
  const std::string prefix = kMetricTypePrefix;
  if (type.size() > prefix.size() && type.compare(0, prefix.size(), prefix) == 0 && IsPrintableAscii(type)) {
    return std::nullopt;
  }
  return InvalidArgument("metric_type", "The metric type " + Quoted(type) +
                                            " is not allowed for the monitored resource type \"" + kResourceType +
                                            "\": it must start with \"" + prefix + "\".");
}

std::optional<Rejection> CheckMetricLabels(const google::api::Metric& metric) {
  if (metric.labels_size() > kMaxMetricLabels) {
    return InvalidArgument("metric_labels", "The metric has " + std::to_string(metric.labels_size()) +
                                                " labels, more than the limit of " + std::to_string(kMaxMetricLabels) +
                                                ".");
  }
  for (const auto& [key, value] : metric.labels()) {
    if (key.empty() || key.size() > kMaxLabelKeyLength) {
      return InvalidArgument("metric_labels", "The metric label key " + Quoted(key) + " must be 1 to " +
                                                  std::to_string(kMaxLabelKeyLength) + " characters long.");
    }
    if (value.size() > kMaxLabelValueLength) {
      return InvalidArgument("metric_labels", "The value of metric label " + Quoted(key) + " is longer than " +
                                                  std::to_string(kMaxLabelValueLength) + " characters.");
    }
  }
  return std::nullopt;
}

std::optional<Rejection> CheckResourceLabelSet(const google::api::MonitoredResource& resource) {
  std::string missing;
  for (const std::string& name : RequiredResourceLabels()) {
    if (resource.labels().contains(name)) continue;
    missing += missing.empty() ? name : ", " + name;
  }
  if (!missing.empty()) {
    return InvalidArgument("resource_labels",
                           "The set of resource labels is incomplete. Missing labels: (" + missing + ").");
  }
  for (const auto& [name, value] : resource.labels()) {
    if (!RequiredResourceLabels().contains(name)) {
      return InvalidArgument("resource_labels", "Unrecognized resource label: " + Abbreviated(name));
    }
  }
  return std::nullopt;
}

std::optional<Rejection> CheckResource(const google::api::MonitoredResource& resource, const std::string& project) {
  if (resource.type() != kResourceType) {
    return InvalidArgument("resource_type", "The monitored resource type " + Quoted(resource.type()) +
                                                " is not supported: it must be \"" + kResourceType + "\".");
  }
  if (auto rejection = CheckResourceLabelSet(resource)) return rejection;
  const std::string& project_id = resource.labels().at("project_id");
  if (project_id != project) {
    return InvalidArgument("resource_labels", "The resource label project_id " + Quoted(project_id) +
                                                  " does not match the project of the request " + Quoted(project) +
                                                  ".");
  }
  if (resource.labels().at("location").empty()) {
    return InvalidArgument("resource_labels", "The resource label location must not be empty.");
  }
  return std::nullopt;
}

std::optional<Rejection> CheckMetricKind(const TimeSeries& series) {
  if (series.metric_kind() == MetricDescriptor::GAUGE || series.metric_kind() == MetricDescriptor::CUMULATIVE) {
    return std::nullopt;
  }
  return InvalidArgument("metric_kind", "Field metricKind had an invalid value of " +
                                            Quoted(MetricDescriptor::MetricKind_Name(series.metric_kind())) +
                                            ": the metric kind must be GAUGE or CUMULATIVE.");
}

// The value type a TypedValue carries, or VALUE_TYPE_UNSPECIFIED if none.
MetricDescriptor::ValueType ValueTypeOf(const TypedValue& value) {
  switch (value.value_case()) {
    case TypedValue::kBoolValue: return MetricDescriptor::BOOL;
    case TypedValue::kInt64Value: return MetricDescriptor::INT64;
    case TypedValue::kDoubleValue: return MetricDescriptor::DOUBLE;
    case TypedValue::kStringValue: return MetricDescriptor::STRING;
    case TypedValue::kDistributionValue: return MetricDescriptor::DISTRIBUTION;
    case TypedValue::VALUE_NOT_SET: break;
  }
  return MetricDescriptor::VALUE_TYPE_UNSPECIFIED;
}

std::optional<Rejection> CheckValueType(const TimeSeries& series) {
  const MetricDescriptor::ValueType declared = series.value_type();
  const bool gauge_only = declared == MetricDescriptor::BOOL || declared == MetricDescriptor::STRING;
  if (declared == MetricDescriptor::VALUE_TYPE_UNSPECIFIED || declared == MetricDescriptor::MONEY) {
    return InvalidArgument("value_type", "Field valueType had an invalid value of " +
                                             Quoted(MetricDescriptor::ValueType_Name(declared)) +
                                             ": the value type must be DOUBLE, INT64, DISTRIBUTION, BOOL or STRING.");
  }
  if (gauge_only && series.metric_kind() != MetricDescriptor::GAUGE) {
    return InvalidArgument(
        "value_type", "A metric of value type " + MetricDescriptor::ValueType_Name(declared) + " must be a GAUGE.");
  }
  const MetricDescriptor::ValueType carried = ValueTypeOf(series.points(0).value());
  if (carried == declared) return std::nullopt;
  return InvalidArgument("value_type", "Field points[0].value had an invalid value: the value type of the point (" +
                                           MetricDescriptor::ValueType_Name(carried) +
                                           ") does not match the value type of the time series (" +
                                           MetricDescriptor::ValueType_Name(declared) + ").");
}

// The number of buckets (underflow and overflow included) the options define, or -1 if unset.
int64_t BucketCount(const Distribution::BucketOptions& options) {
  switch (options.options_case()) {
    case Distribution::BucketOptions::kLinearBuckets: return options.linear_buckets().num_finite_buckets() + 2LL;
    case Distribution::BucketOptions::kExponentialBuckets:
      return options.exponential_buckets().num_finite_buckets() + 2LL;
    case Distribution::BucketOptions::kExplicitBuckets: return options.explicit_buckets().bounds_size() + 1LL;
    case Distribution::BucketOptions::OPTIONS_NOT_SET: break;
  }
  return -1;
}

std::optional<Rejection> CheckBucketBounds(const Distribution& distribution) {
  const auto& bounds = distribution.bucket_options().explicit_buckets().bounds();
  for (int i = 1; i < bounds.size(); ++i) {
    if (!(bounds[i - 1] < bounds[i])) {
      return InvalidArgument("distribution",
                             "The explicit bucket bounds of a distribution must be strictly increasing.");
    }
  }
  const int64_t buckets = BucketCount(distribution.bucket_options());
  if (distribution.bucket_counts_size() > 0 && distribution.bucket_counts_size() > buckets) {
    return InvalidArgument("distribution", "The distribution has " + std::to_string(distribution.bucket_counts_size()) +
                                               " bucket counts, more than the " +
                                               std::to_string(std::max<int64_t>(buckets, 0)) +
                                               " buckets its bucket options define.");
  }
  return std::nullopt;
}

std::optional<Rejection> CheckDistribution(const TypedValue& value) {
  if (value.value_case() != TypedValue::kDistributionValue) return std::nullopt;
  const Distribution& distribution = value.distribution_value();
  if (distribution.count() < 0) {
    return InvalidArgument("distribution", "The count of a distribution must not be negative.");
  }
  if (auto rejection = CheckBucketBounds(distribution)) return rejection;
  for (int i = 1; i < distribution.exemplars_size(); ++i) {
    if (distribution.exemplars(i).value() < distribution.exemplars(i - 1).value()) {
      return InvalidArgument("distribution", "The exemplars of a distribution must be in increasing order of value.");
    }
  }
  if (distribution.bucket_counts_size() == 0) return std::nullopt;
  int64_t sum = 0;
  for (int64_t count : distribution.bucket_counts()) sum += count;
  if (sum == distribution.count()) return std::nullopt;
  return InvalidArgument("distribution", "The sum of the bucket counts of a distribution (" + std::to_string(sum) +
                                             ") does not equal its count (" + std::to_string(distribution.count()) +
                                             ").");
}

std::optional<Rejection> CheckGaugeInterval(const Point& point, const std::string& metric_type) {
  const auto& interval = point.interval();
  if (!interval.has_start_time() || ToNanos(interval.start_time()) == ToNanos(interval.end_time())) {
    return std::nullopt;
  }
  return InvalidArgument("interval", "Field points[0].interval.start_time had an invalid value of " +
                                         Quoted(FormatTime(ToNanos(interval.start_time()))) +
                                         ": The start time must be equal to the end time (" +
                                         FormatTime(ToNanos(interval.end_time())) + ") for the gauge metric " +
                                         Quoted(metric_type) + ".");
}

std::optional<Rejection> CheckCumulativeInterval(const Point& point, const std::string& metric_type) {
  const auto& interval = point.interval();
  if (!interval.has_start_time()) {
    return InvalidArgument("interval",
                           "Field points[0].interval.start_time had an invalid value: A start time is "
                           "required for the non-gauge metric " +
                               Quoted(metric_type) + ".");
  }
  if (ToNanos(interval.start_time()) < ToNanos(interval.end_time())) return std::nullopt;
  return InvalidArgument("interval", "Field points[0].interval.start_time had an invalid value of " +
                                         Quoted(FormatTime(ToNanos(interval.start_time()))) +
                                         ": The start time must be before the end time (" +
                                         FormatTime(ToNanos(interval.end_time())) + ") for the non-gauge metric " +
                                         Quoted(metric_type) + ".");
}

std::optional<Rejection> CheckInterval(const TimeSeries& series) {
  const Point& point = series.points(0);
  if (!point.interval().has_end_time()) {
    return InvalidArgument("interval",
                           "Field points[0].interval.end_time had an invalid value: An end time is required.");
  }
  if (series.metric_kind() == MetricDescriptor::GAUGE) return CheckGaugeInterval(point, series.metric().type());
  return CheckCumulativeInterval(point, series.metric().type());
}

std::optional<Rejection> CheckTimeWindow(const Point& point, TimeNs now) {
  const TimeNs end = ToNanos(point.interval().end_time());
  if (end < now - kMaxPointAge) {
    return InvalidArgument("too_old", "Points cannot be written more than 25h in the past.");
  }
  if (end > now + kMaxPointFutureSkew) {
    return InvalidArgument("too_new", "Points cannot be written more than 5m in the future.");
  }
  return std::nullopt;
}

}  // namespace

bool ParseProjectName(const std::string& name, std::string* project) {
  const std::string prefix = "projects/";
  if (name.size() <= prefix.size() || name.compare(0, prefix.size(), prefix) != 0 ||
      name.find('/', prefix.size()) != std::string::npos) {
    return false;
  }
  *project = name.substr(prefix.size());
  return true;
}

std::optional<Rejection> CheckRequest(const CreateTimeSeriesRequest& request, std::string* project) {
  if (!ParseProjectName(request.name(), project)) {
    return InvalidArgument("request_name", "Field name had an invalid value of " + Quoted(request.name()) +
                                               ": it must be of the form \"projects/{project_id}\".");
  }
  if (request.time_series_size() == 0) {
    return InvalidArgument("request_size", "Request was missing field timeSeries.");
  }
  if (request.time_series_size() > kMaxSeriesPerRequest) {
    return InvalidArgument("request_size", "Field timeSeries had an invalid value: a request can contain at most " +
                                               std::to_string(kMaxSeriesPerRequest) + " TimeSeries; it contains " +
                                               std::to_string(request.time_series_size()) + ".");
  }
  return std::nullopt;
}

std::optional<Rejection> CheckSeries(const TimeSeries& series, const std::string& project, TimeNs now) {
  if (auto rejection = CheckPointCount(series)) return rejection;
  if (auto rejection = CheckMetricType(series.metric().type())) return rejection;
  if (auto rejection = CheckMetricLabels(series.metric())) return rejection;
  if (auto rejection = CheckResource(series.resource(), project)) return rejection;
  if (auto rejection = CheckMetricKind(series)) return rejection;
  if (auto rejection = CheckValueType(series)) return rejection;
  if (auto rejection = CheckDistribution(series.points(0).value())) return rejection;
  if (auto rejection = CheckInterval(series)) return rejection;
  return CheckTimeWindow(series.points(0), now);
}

}  // namespace prom2gcm::emulator
