#include "exporter/exemplars.h"

#include <algorithm>
#include <cmath>
#include <map>

#include "google/api/distribution.pb.h"
#include "google/monitoring/v3/span_context.pb.h"
#include "server/wire_writer.h"

namespace prom2gcm {
namespace {

constexpr std::string_view kTypeUrlPrefix = "type.googleapis.com/";

void AddAttachment(const google::protobuf::MessageLite& message, google::api::Distribution::Exemplar* exemplar) {
  google::protobuf::Any* any = exemplar->add_attachments();
  any->set_type_url(std::string(kTypeUrlPrefix) + message.GetTypeName());
  any->set_value(message.SerializeAsString());
}

std::string Encode(const GcmExemplar& in) {
  google::api::Distribution::Exemplar out;
  out.set_value(in.value);
  out.mutable_timestamp()->set_seconds(in.timestamp_ms / 1000);
  out.mutable_timestamp()->set_nanos(static_cast<int32_t>(in.timestamp_ms % 1000) * 1000000);
  if (!in.span_name.empty()) {
    google::monitoring::v3::SpanContext span;
    span.set_span_name(in.span_name);
    AddAttachment(span, &out);
  }
  if (!in.dropped_labels.empty()) {
    google::monitoring::v3::DroppedLabels dropped;
    for (const auto& [name, value] : in.dropped_labels) (*dropped.mutable_label())[name] = value;
    AddAttachment(dropped, &out);
  }
  return out.SerializeAsString();
}

}  // namespace

GcmExemplar MakeGcmExemplar(std::string_view project_name, std::span<const Label> labels, double value,
                            int64_t timestamp_ms) {
  GcmExemplar exemplar{value, timestamp_ms, {}, {}};
  std::string_view trace_id, span_id;
  for (const Label& label : labels) {
    if (label.name == "trace_id") {
      trace_id = label.value;
    } else if (label.name == "span_id") {
      span_id = label.value;
    }
  }
  const bool has_span = !trace_id.empty() && !span_id.empty();
  if (has_span) {
    exemplar.span_name = std::string(project_name) + "/traces/" + std::string(trace_id) + "/spans/" +
                         std::string(span_id);
  }
  for (const Label& label : labels) {
    if (has_span && (label.name == "trace_id" || label.name == "span_id")) continue;
    exemplar.dropped_labels.emplace_back(label.name, label.value);
  }
  return exemplar;
}

std::vector<GcmExemplar> MakeGcmExemplars(std::string_view project_name, const DecodedRequest& request,
                                          const Series& series) {
  std::vector<GcmExemplar> out;
  out.reserve(series.exemplars_count);
  for (const Exemplar& exemplar : request.ExemplarsOf(series)) {
    out.push_back(MakeGcmExemplar(project_name, request.LabelsOf(exemplar), exemplar.value, exemplar.timestamp_ms));
  }
  return out;
}

size_t BucketIndex(const DistributionValue& d, double value) {
  if (d.layout == BucketLayout::kExplicit) {
    // Bucket i (1 <= i < N+1) is [bounds[i-1], bounds[i]).
    return static_cast<size_t>(std::upper_bound(d.bounds.begin(), d.bounds.end(), value) - d.bounds.begin());
  }
  if (!(value >= d.scale) || d.growth_factor <= 1) return 0;
  const double k = std::floor(std::log(value / d.scale) / std::log(d.growth_factor)) + 1;
  return static_cast<size_t>(std::min<double>(k, d.num_finite_buckets + 1));
}

void AttachExemplars(std::span<const GcmExemplar> exemplars, DistributionValue* d) {
  std::map<size_t, const GcmExemplar*> newest_by_bucket;
  for (const GcmExemplar& exemplar : exemplars) {
    if (std::isnan(exemplar.value)) continue;
    const GcmExemplar*& kept = newest_by_bucket[BucketIndex(*d, exemplar.value)];
    if (kept == nullptr || exemplar.timestamp_ms >= kept->timestamp_ms) kept = &exemplar;
  }
  std::vector<const GcmExemplar*> kept;
  for (const auto& [bucket, exemplar] : newest_by_bucket) kept.push_back(exemplar);
  std::sort(kept.begin(), kept.end(), [](const GcmExemplar* a, const GcmExemplar* b) { return a->value < b->value; });
  d->encoded_exemplars.clear();
  for (const GcmExemplar* exemplar : kept) AppendLengthDelimited(&d->encoded_exemplars, 10, Encode(*exemplar));
}

}  // namespace prom2gcm
