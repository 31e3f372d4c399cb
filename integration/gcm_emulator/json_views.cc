#include "integration/gcm_emulator/json_views.h"

#include <cmath>

#include "google/monitoring/v3/span_context.pb.h"
#include "integration/gcm_emulator/json_writer.h"

namespace prom2gcm::emulator {
namespace {

using google::api::Distribution;
using google::api::MetricDescriptor;
using google::monitoring::v3::TypedValue;

void WriteLabels(std::string_view key, const google::protobuf::Map<std::string, std::string>& labels,
                 JsonWriter* json) {
  const std::map<std::string, std::string> sorted(labels.begin(), labels.end());
  json->Key(key);
  json->BeginObject();
  for (const auto& [name, value] : sorted) json->Member(name, value);
  json->EndObject();
}

void WriteDoubles(std::string_view key, const std::vector<double>& values, JsonWriter* json) {
  json->Key(key);
  json->BeginArray();
  for (double value : values) json->Double(value);
  json->EndArray();
}

// A SpanContext attachment as "span_name", a DroppedLabels one as "dropped_labels".
void WriteAttachments(const Distribution::Exemplar& exemplar, JsonWriter* json) {
  for (const google::protobuf::Any& attachment : exemplar.attachments()) {
    google::monitoring::v3::SpanContext span;
    google::monitoring::v3::DroppedLabels dropped;
    if (attachment.type_url() == "type.googleapis.com/google.monitoring.v3.SpanContext" &&
        span.ParseFromString(attachment.value())) {
      json->Member("span_name", span.span_name());
    } else if (attachment.type_url() == "type.googleapis.com/google.monitoring.v3.DroppedLabels" &&
               dropped.ParseFromString(attachment.value())) {
      WriteLabels("dropped_labels", dropped.label(), json);
    }
  }
}

void WriteExemplars(const Distribution& distribution, JsonWriter* json) {
  json->Key("exemplars");
  json->BeginArray();
  for (const Distribution::Exemplar& exemplar : distribution.exemplars()) {
    json->BeginObject();
    json->Member("value", exemplar.value());
    json->Member("time_ms", ToMillis(ToNanos(exemplar.timestamp())));
    WriteAttachments(exemplar, json);
    json->EndObject();
  }
  json->EndArray();
}

void WriteDistribution(const Distribution& distribution, JsonWriter* json) {
  json->BeginObject();
  json->Member("count", distribution.count());
  json->Member("mean", distribution.mean());
  json->Member("sum_of_squared_deviation", distribution.sum_of_squared_deviation());
  WriteDoubles("bucket_bounds", BucketBounds(distribution.bucket_options()), json);
  json->Key("bucket_counts");
  json->BeginArray();
  for (int64_t count : distribution.bucket_counts()) json->Int(count);
  json->EndArray();
  WriteExemplars(distribution, json);
  json->EndObject();
}

void WriteValue(const TypedValue& value, JsonWriter* json) {
  switch (value.value_case()) {
    case TypedValue::kBoolValue: return json->Bool(value.bool_value());
    case TypedValue::kInt64Value: return json->Int(value.int64_value());
    case TypedValue::kDoubleValue: return json->Double(value.double_value());
    case TypedValue::kStringValue: return json->String(value.string_value());
    case TypedValue::kDistributionValue: return WriteDistribution(value.distribution_value(), json);
    case TypedValue::VALUE_NOT_SET: break;
  }
  json->Null();
}

void WritePoints(const std::vector<StoredPoint>& points, JsonWriter* json) {
  json->Key("points");
  json->BeginArray();
  for (const StoredPoint& point : points) {
    json->BeginObject();
    json->Member("start_ms", ToMillis(point.start));
    json->Member("end_ms", ToMillis(point.end));
    json->Key("value");
    WriteValue(point.value, json);
    json->EndObject();
  }
  json->EndArray();
}

void WriteSeries(const StoredSeries& series, JsonWriter* json) {
  json->BeginObject();
  json->Member("metric_type", series.metric.type());
  WriteLabels("metric_labels", series.metric.labels(), json);
  json->Member("resource_type", series.resource.type());
  WriteLabels("resource_labels", series.resource.labels(), json);
  json->Member("metric_kind", MetricDescriptor::MetricKind_Name(series.kind));
  json->Member("value_type", MetricDescriptor::ValueType_Name(series.value_type));
  WritePoints(series.points, json);
  json->EndObject();
}

}  // namespace

std::vector<double> BucketBounds(const Distribution::BucketOptions& options) {
  std::vector<double> bounds;
  if (options.has_explicit_buckets()) {
    bounds.assign(options.explicit_buckets().bounds().begin(), options.explicit_buckets().bounds().end());
  } else if (options.has_linear_buckets()) {
    const auto& linear = options.linear_buckets();
    for (int i = 0; i <= linear.num_finite_buckets(); ++i) bounds.push_back(linear.offset() + linear.width() * i);
  } else if (options.has_exponential_buckets()) {
    const auto& exponential = options.exponential_buckets();
    for (int i = 0; i <= exponential.num_finite_buckets(); ++i) {
      bounds.push_back(exponential.scale() * std::pow(exponential.growth_factor(), i));
    }
  }
  return bounds;
}

std::string TimeSeriesJson(const std::vector<StoredSeries>& series) {
  JsonWriter json;
  json.BeginObject();
  json.Key("timeseries");
  json.BeginArray();
  for (const StoredSeries& one : series) WriteSeries(one, &json);
  json.EndArray();
  json.EndObject();
  return json.text();
}

std::string StatsJson(const StatsSnapshot& stats, size_t series_count, bool sink) {
  JsonWriter json;
  json.BeginObject();
  json.Member("sink", sink);
  json.Member("series", static_cast<int64_t>(series_count));
  json.Member("requests", stats.requests);
  json.Member("list_requests", stats.list_requests);
  json.Member("points_received", stats.points_received);
  json.Member("points_accepted", stats.points_accepted);
  json.Member("points_rejected_total", stats.points_rejected_total());
  json.Key("points_rejected");
  json.BeginObject();
  for (const auto& [reason, count] : stats.points_rejected) json.Member(reason, count);
  json.EndObject();
  json.Member("requests_failed_by_fault", stats.requests_failed_by_fault);
  json.EndObject();
  return json.text();
}

std::string FaultsJson(const FaultSettings& faults) {
  JsonWriter json;
  json.BeginObject();
  json.Member("latency_ms", faults.latency_ms);
  json.Member("unavailable_ratio", faults.unavailable_ratio);
  json.Key("outage_until");
  if (faults.outage_until > 0) {
    json.String(FormatTime(faults.outage_until));
  } else {
    json.Null();
  }
  json.Member("reject_point_ratio", faults.reject_point_ratio);
  json.EndObject();
  return json.text();
}

}  // namespace prom2gcm::emulator
