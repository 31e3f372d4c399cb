#include "exporter/transform.h"

#include <glog/logging.h>
#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/wire_format_lite.h>
#include <time.h>

#include <algorithm>
#include <utility>
#include <vector>

#include "google/monitoring/v3/metric.pb.h"
#include "server/series_labels.h"
#include "server/wire_writer.h"

namespace prom2gcm {
namespace {

// CLOCK_REALTIME_COARSE: the last tick's time (ms resolution is plenty for a 5 min window), read from
// the vDSO without a system call.
int64_t CoarseNowMs() {
  timespec ts;
  clock_gettime(CLOCK_REALTIME_COARSE, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000 + ts.tv_nsec / 1'000'000;
}

constexpr std::string_view kMetricTypePrefix = "prometheus.googleapis.com/";
constexpr std::string_view kResourceType = "prometheus_target";
// In byte order: the order protobuf's deterministic serialization writes a map's entries in.
constexpr std::string_view kResourceLabels[] = {"cluster", "instance", "job", "location", "namespace", "project_id"};
constexpr size_t kResourceLabelCount = std::size(kResourceLabels);
constexpr size_t kClusterLabel = 0, kLocationLabel = 3, kProjectIdLabel = 5;
constexpr size_t kMaxMetricLabels = 100;
constexpr size_t kMaxLabelKeyLength = 100;
constexpr size_t kMaxLabelValueLength = 1024;

struct KindChoice {
  const char* suffix;
  PointKind kind;
  bool distribution = false;
};

// The index of name in kResourceLabels, or kResourceLabelCount when it is not a resource label.
size_t ResourceLabelIndex(std::string_view name) {
  for (size_t i = 0; i < kResourceLabelCount; ++i) {
    if (name == kResourceLabels[i]) return i;
  }
  return kResourceLabelCount;
}

using LabelPair = std::pair<std::string_view, std::string_view>;

// Metric.labels (field 2) as protobuf's deterministic serialization writes them: sorted by name.
// Decoded series come sorted (CheckLabels), so the sort runs only for label sets built otherwise.
void AppendMetricLabels(std::vector<LabelPair>* labels, std::string* out) {
  if (!std::is_sorted(labels->begin(), labels->end())) std::sort(labels->begin(), labels->end());
  for (const auto& [name, value] : *labels) AppendStringMapEntry(out, 2, name, value);
}

// The identity's fields after metric (GcmTarget::identity_tail): resource (2), metric_kind (3),
// value_type (4). resource: the MonitoredResource's encoding.
void AppendIdentityTail(std::string_view resource, const KindChoice& kind, std::string* out) {
  AppendLengthDelimited(out, 2, resource);
  AppendTag(out, 3, 0);
  AppendVarint(out, kind.kind == PointKind::kGauge ? google::api::MetricDescriptor::GAUGE
                                                   : google::api::MetricDescriptor::CUMULATIVE);
  AppendTag(out, 4, 0);
  AppendVarint(out, kind.distribution ? google::api::MetricDescriptor::DISTRIBUTION
                                      : google::api::MetricDescriptor::DOUBLE);
}

// Metric.type (field 3): prometheus.googleapis.com/NAME/SUFFIX.
void AppendMetricType(std::string_view name, std::string_view suffix, std::string* out) {
  AppendTag(out, 3, 2);
  AppendVarint(out, kMetricTypePrefix.size() + name.size() + 1 + suffix.size());
  out->append(kMetricTypePrefix).append(name).append("/").append(suffix);
}

// The GCM series a Prometheus series of this type and name is written to (0 to 2 of them).
// native_histogram: the series carries native histogram samples.
int ChooseKinds(MetricType type, std::string_view name, bool native_histogram, bool untyped_as_counter,
                KindChoice out[2]) {
  if (native_histogram) {
    const bool gauge = type == MetricType::kGaugeHistogram || type == MetricType::kGauge;
    out[0] = {"histogram", gauge ? PointKind::kGauge : PointKind::kCumulative, true};
    return 1;
  }
  switch (type) {
    case MetricType::kCounter:
      out[0] = {"counter", PointKind::kCumulative};
      return 1;
    case MetricType::kGauge:
    case MetricType::kInfo:
    case MetricType::kStateset:
      out[0] = {"gauge", PointKind::kGauge};
      return 1;
    case MetricType::kSummary:
      if (name.ends_with("_sum")) {
        out[0] = {"summary:counter", PointKind::kCumulative};
      } else if (name.ends_with("_count")) {
        out[0] = {"summary", PointKind::kCumulative};
      } else {
        out[0] = {"summary", PointKind::kGauge};  // a quantile
      }
      return 1;
    case MetricType::kHistogram:
    case MetricType::kGaugeHistogram:
      return 0;  // a classic histogram's _bucket, _sum or _count series
    case MetricType::kUnspecified:
      break;
  }
  out[0] = {"unknown", PointKind::kGauge};
  if (!untyped_as_counter) return 1;
  out[1] = {"unknown:counter", PointKind::kCumulative};
  return 2;
}

size_t TimestampSize(int64_t ms) {
  const int64_t seconds = ms / 1000;
  const int32_t nanos = static_cast<int32_t>(ms % 1000) * 1000000;
  return (seconds != 0 ? 1 + VarintSize(static_cast<uint64_t>(seconds)) : 0) +
         (nanos != 0 ? 1 + VarintSize(static_cast<uint64_t>(nanos)) : 0);
}

// Array writers: the request is grown once per point and written through a pointer, rather than a
// push_back per byte.
using google::protobuf::io::CodedOutputStream;

uint8_t* WriteTag(uint32_t field, uint32_t wire_type, uint8_t* p) {
  return CodedOutputStream::WriteTagToArray((field << 3) | wire_type, p);
}

uint8_t* WriteBytes(std::string_view bytes, uint8_t* p) {
  return CodedOutputStream::WriteRawToArray(bytes.data(), static_cast<int>(bytes.size()), p);
}

// size: TimestampSize(ms), which the caller has already computed.
uint8_t* WriteTimestamp(uint32_t field, int64_t ms, size_t size, uint8_t* p) {
  p = WriteTag(field, 2, p);
  p = CodedOutputStream::WriteVarint32ToArray(static_cast<uint32_t>(size), p);
  const int64_t seconds = ms / 1000;
  const int32_t nanos = static_cast<int32_t>(ms % 1000) * 1000000;
  if (seconds != 0) p = CodedOutputStream::WriteVarint64ToArray(static_cast<uint64_t>(seconds), WriteTag(1, 0, p));
  if (nanos != 0) p = CodedOutputStream::WriteVarint32ToArray(static_cast<uint32_t>(nanos), WriteTag(2, 0, p));
  return p;
}

}  // namespace

const char* PointDropName(PointDrop drop) {
  switch (drop) {
    case PointDrop::kDuplicate: return "duplicate";
    case PointDrop::kStaleMarker: return "stale_marker";
    case PointDrop::kCounterBaseline: return "counter_baseline";
    case PointDrop::kSamplingPeriod: return "sampling_period";
    case PointDrop::kStartNotBeforeEnd: return "start_not_before_end";
    case PointDrop::kSeriesDropped: return "series_dropped";
    case PointDrop::kValueTypeMismatch: return "value_type_mismatch";
    case PointDrop::kInvalidHistogram: return "invalid_histogram";
    case PointDrop::kHistogramLayoutChange: return "histogram_layout_change";
    case PointDrop::kTooOld: return "too_old";
    case PointDrop::kInFuture: return "in_future";
    case PointDrop::kCount: break;
  }
  return "unknown";
}

std::unique_ptr<SeriesEntry> Transform::BuildEntry(const DecodedRequest& request, const Series& series,
                                                   MetricType type, bool distribution) const {
  uint32_t project = 0;
  auto dropped = [&project](SeriesDropReason reason) {
    auto entry = SeriesEntry::Create();
    entry->project = project;
    entry->drop_reason = reason;
    return entry;
  };
  const std::string_view name = request.LabelValue(series, kMetricNameLabel);
  // An assembled classic histogram was let through when its parts were: they are what the selectors
  // see (NAME_bucket, NAME_sum, NAME_count), as in the exporter we follow.
  const bool assembled = distribution && series.histograms_count == 0;
  if (options_.filter && !assembled && !options_.filter->Matches(request.LabelsOf(series))) {
    return dropped(SeriesDropReason::kFiltered);
  }

  // One pass over the labels: the resource's, and the metric's (the rest, less __name__ and dropped).
  std::string_view resource[kResourceLabelCount];
  thread_local std::vector<LabelPair> metric_labels;
  metric_labels.clear();
  bool within_limits = true;
  for (const Label& label : request.LabelsOf(series)) {
    if (label.name == kMetricNameLabel) continue;
    if (const size_t index = ResourceLabelIndex(label.name); index < kResourceLabelCount) {
      resource[index] = label.value;
      continue;
    }
    if (IsDropped(label.name)) continue;
    within_limits &= label.name.size() <= kMaxLabelKeyLength && label.value.size() <= kMaxLabelValueLength &&
                     metric_labels.size() < kMaxMetricLabels;
    metric_labels.emplace_back(label.name, label.value);
  }
  if (resource[kProjectIdLabel].empty()) resource[kProjectIdLabel] = options_.project_id;
  if (resource[kLocationLabel].empty()) resource[kLocationLabel] = options_.location;
  if (resource[kClusterLabel].empty()) resource[kClusterLabel] = options_.cluster;
  if (resource[kProjectIdLabel].empty() || resource[kLocationLabel].empty()) {
    return dropped(SeriesDropReason::kMissingProjectOrLocation);
  }
  project = projects_->Intern(resource[kProjectIdLabel]);
  if (!within_limits) return dropped(SeriesDropReason::kLabelLimits);

  KindChoice kinds[2];
  const int target_count =
      ChooseKinds(type, name, distribution || series.histograms_count > 0, options_.untyped_as_counter, kinds);
  if (target_count == 0) {  // a classic histogram's part: the assembler takes its samples
    auto part = std::make_unique<HistogramAssembler::PartInfo>();
    const char* reason = nullptr;
    if (!HistogramAssembler::Identify(request.LabelsOf(series), type == MetricType::kGaugeHistogram, part.get(),
                                      &reason)) {
      return dropped(SeriesDropReason::kHistogramPartUnrecognised);
    }
    auto entry = dropped(SeriesDropReason::kNone);
    entry->histogram_part = std::move(part);
    return entry;
  }

  // The identity's parts (see GcmTarget), written as protobuf's deterministic serialization writes
  // them (the send journal keys series by these bytes, so they must not change), into buffers each
  // thread reuses: an identity already interned costs no allocation.
  thread_local std::string labels_bytes, resource_bytes, part_bytes;
  labels_bytes.clear();
  AppendMetricLabels(&metric_labels, &labels_bytes);
  resource_bytes.clear();
  AppendLengthDelimited(&resource_bytes, 1, kResourceType);
  for (size_t i = 0; i < kResourceLabelCount; ++i) {
    AppendStringMapEntry(&resource_bytes, 2, kResourceLabels[i], resource[i]);
  }
  auto entry = SeriesEntry::Create(target_count, labels_bytes);
  entry->project = project;
  for (int i = 0; i < target_count; ++i) {
    part_bytes.clear();
    AppendMetricType(name, kinds[i].suffix, &part_bytes);
    entry->targets()[i].metric_type = shared_identities_.Intern(part_bytes);
    part_bytes.clear();
    AppendIdentityTail(resource_bytes, kinds[i], &part_bytes);
    entry->targets()[i].identity_tail = shared_identities_.Intern(part_bytes);
    entry->targets()[i].kind = kinds[i].kind;
    entry->targets()[i].distribution = kinds[i].distribution;
  }
  return entry;
}

bool Transform::IsDropped(std::string_view label_name) const {
  for (const std::string& dropped : options_.drop_labels) {
    if (label_name == dropped) return true;
  }
  return false;
}

bool Transform::Admit(SeriesEntry* entry, int64_t timestamp_ms, bool histogram, DropCounts* drops) const {
  const int targets = std::max<int>(entry->target_count, 1);
  // First, so a sample far in the future cannot move last_sample_ms and make the series' later
  // samples look like duplicates.
  if (options_.max_point_age_ms > 0 || options_.max_point_future_ms > 0) {
    const int64_t now = options_.now_ms != nullptr ? options_.now_ms() : CoarseNowMs();
    if (options_.max_point_age_ms > 0 && timestamp_ms < now - options_.max_point_age_ms) {
      drops->Add(PointDrop::kTooOld, targets);
      return false;
    }
    if (options_.max_point_future_ms > 0 && timestamp_ms > now + options_.max_point_future_ms) {
      drops->Add(PointDrop::kInFuture, targets);
      return false;
    }
  }
  if (timestamp_ms <= entry->last_sample_ms) {
    drops->Add(PointDrop::kDuplicate, targets);
    return false;
  }
  entry->last_sample_ms = timestamp_ms;
  if (entry->drop_reason != SeriesDropReason::kNone) {
    drops->Add(PointDrop::kSeriesDropped);
    return false;
  }
  if (entry->targets()[0].distribution != histogram) {
    drops->Add(PointDrop::kValueTypeMismatch, targets);
    return false;
  }
  return true;
}

bool Transform::PassesSamplingPeriod(GcmTarget* target, int64_t timestamp_ms, DropCounts* drops) const {
  if (target->last_queued_ms != std::numeric_limits<int64_t>::min() &&
      timestamp_ms - target->last_queued_ms < options_.sampling_period_ms) {
    drops->Add(PointDrop::kSamplingPeriod);
    return false;
  }
  target->last_queued_ms = timestamp_ms;
  return true;
}

int Transform::Apply(SeriesEntry* entry, const Sample& sample, int64_t start_ms, PendingPoint out[2],
                     DropCounts* drops) const {
  if (!Admit(entry, sample.timestamp_ms, /*histogram=*/false, drops)) return 0;
  if (IsStaleMarker(sample.value)) {
    for (int i = 0; i < entry->target_count; ++i) entry->targets()[i].has_baseline = false;
    drops->Add(PointDrop::kStaleMarker, std::max<int>(entry->target_count, 1));
    return 0;
  }
  int count = 0;
  for (int i = 0; i < entry->target_count; ++i) {
    GcmTarget& target = entry->targets()[i];
    PendingPoint point{static_cast<uint8_t>(i), sample.timestamp_ms, sample.timestamp_ms, sample.value, nullptr};
    if (target.kind == PointKind::kCumulative && !ApplyCumulative(&target, sample, start_ms, &point, drops)) {
      continue;
    }
    if (!PassesSamplingPeriod(&target, sample.timestamp_ms, drops)) continue;
    out[count++] = std::move(point);
  }
  return count;
}

int Transform::ApplyHistogram(SeriesEntry* entry, const HistogramSample& sample, int64_t series_start_ms,
                              NativeHistogram* histogram, PendingPoint* out, DropCounts* drops) const {
  if (!Admit(entry, sample.timestamp_ms, /*histogram=*/true, drops)) return 0;
  std::string error;
  if (!DecodeNativeHistogram(sample.encoded, histogram, &error)) {
    drops->Add(PointDrop::kInvalidHistogram);
    if (drops->first_invalid_histogram.empty()) drops->first_invalid_histogram = std::move(error);
    return 0;
  }
  if (IsStaleMarker(histogram->sum)) return EndHistogram(entry, drops);
  const int64_t start_ms = histogram->start_timestamp_ms != 0 ? histogram->start_timestamp_ms : series_start_ms;
  return ApplyDistribution(entry, histogram, sample.timestamp_ms, start_ms, out, drops);
}

int Transform::ApplyAssembledHistogram(SeriesEntry* entry, AssembledHistogram* assembled, PendingPoint* out,
                                       DropCounts* drops) const {
  const int64_t timestamp_ms = assembled->histogram.timestamp_ms;
  if (!Admit(entry, timestamp_ms, /*histogram=*/true, drops)) return 0;
  if (assembled->stale) return EndHistogram(entry, drops);
  return ApplyDistribution(entry, &assembled->histogram, timestamp_ms, /*start_ms=*/0, out, drops);
}

void Transform::BufferExemplars(SeriesEntry* entry, const DecodedRequest& request, const Series& series) const {
  if (!options_.exemplars || series.exemplars_count == 0 || entry->target_count == 0 ||
      !entry->targets()[0].distribution) {
    return;
  }
  BufferExemplars(entry, MakeGcmExemplars(projects_->Name(entry->project), request, series));
}

void Transform::BufferExemplars(SeriesEntry* entry, std::vector<GcmExemplar> exemplars) const {
  if (!options_.exemplars || exemplars.empty() || entry->target_count == 0 || !entry->targets()[0].distribution) {
    return;
  }
  GcmTarget& target = entry->targets()[0];
  if (!target.histogram) target.histogram = std::make_unique<HistogramState>();
  std::vector<GcmExemplar>& pending = target.histogram->exemplars;
  for (GcmExemplar& exemplar : exemplars) pending.push_back(std::move(exemplar));
  if (pending.size() > HistogramState::kMaxPendingExemplars) {
    pending.erase(pending.begin(), pending.end() - HistogramState::kMaxPendingExemplars);
  }
}

int Transform::EndHistogram(SeriesEntry* entry, DropCounts* drops) const {
  entry->targets()[0].has_baseline = false;
  drops->Add(PointDrop::kStaleMarker);
  return 0;
}

int Transform::ApplyDistribution(SeriesEntry* entry, NativeHistogram* histogram, int64_t timestamp_ms,
                                 int64_t start_ms, PendingPoint* out, DropCounts* drops) const {
  GcmTarget& target = entry->targets()[0];
  if (target.kind == PointKind::kGauge) {
    start_ms = timestamp_ms;
  } else if (start_ms > 0) {
    if (!ApplySenderStart(&target, timestamp_ms, &start_ms, drops)) return 0;
  } else if (!ApplyHistogramCumulative(&target, histogram, &start_ms, drops)) {
    return 0;
  }
  if (!PassesSamplingPeriod(&target, timestamp_ms, drops)) return 0;
  DistributionValue distribution = ToDistribution(*histogram);
  if (target.histogram && !target.histogram->exemplars.empty()) {
    AttachExemplars(target.histogram->exemplars, &distribution);
    target.histogram->exemplars.clear();
  }
  drops->negative_observations_folded += static_cast<uint64_t>(distribution.negative_folded);
  *out = PendingPoint{0, start_ms, timestamp_ms, 0, std::make_unique<std::string>()};
  AppendDistributionValue(out->typed_value.get(), distribution);
  return 1;
}

bool Transform::ApplyHistogramCumulative(GcmTarget* target, NativeHistogram* histogram, int64_t* start_ms,
                                         DropCounts* drops) const {
  if (!target->histogram) target->histogram = std::make_unique<HistogramState>();
  HistogramState& state = *target->histogram;
  // Custom bounds that changed (a classic histogram whose first set missed a late bucket, or a
  // relabelled layout) are no counter reset: the observations so far are unknown in the new layout,
  // so this histogram becomes the new baseline.
  const bool layout_changed = histogram->IsCustomBuckets() && state.last.IsCustomBuckets() &&
                              histogram->custom_values != state.last.custom_values;
  if (!target->has_baseline || layout_changed) {
    target->has_baseline = true;
    state.baseline = *histogram;
    state.last = *histogram;
    target->start_ms = histogram->timestamp_ms;
    drops->Add(layout_changed ? PointDrop::kHistogramLayoutChange : PointDrop::kCounterBaseline);
    return false;
  }
  const bool reset = IsReset(state.last, *histogram);
  state.last = *histogram;
  if (reset) {  // a new lifetime: everything counts, starting just before now
    state.baseline = NativeHistogram{};
    state.baseline.schema = histogram->schema;
    state.baseline.custom_values = histogram->custom_values;
    target->start_ms = histogram->timestamp_ms - 1;
  } else {
    *histogram = Subtract(*histogram, state.baseline);
  }
  *start_ms = target->start_ms;
  return true;
}

bool Transform::ApplySenderStart(GcmTarget* target, int64_t timestamp_ms, int64_t* start_ms,
                                 DropCounts* drops) const {
  if (*start_ms >= timestamp_ms) {
    drops->Add(PointDrop::kStartNotBeforeEnd);
    return false;
  }
  // GCM refuses a new start time before the end of the series' previous point.
  if (*start_ms != target->start_ms && target->last_queued_ms != std::numeric_limits<int64_t>::min() &&
      *start_ms < target->last_queued_ms) {
    *start_ms = target->last_queued_ms;
  }
  target->start_ms = *start_ms;
  return true;
}

bool Transform::ApplyCumulative(GcmTarget* target, const Sample& sample, int64_t start_ms, PendingPoint* point,
                                DropCounts* drops) const {
  if (start_ms > 0) {
    if (!ApplySenderStart(target, sample.timestamp_ms, &start_ms, drops)) return false;
    point->start_ms = start_ms;
    return true;
  }
  if (!target->has_baseline) {
    target->has_baseline = true;
    target->baseline = sample.value;
    target->last_value = sample.value;
    target->start_ms = sample.timestamp_ms;
    drops->Add(PointDrop::kCounterBaseline);
    return false;
  }
  if (sample.value < target->last_value) {  // a reset: count from zero, starting just before now
    target->baseline = 0;
    target->start_ms = sample.timestamp_ms - 1;
  }
  target->last_value = sample.value;
  point->start_ms = target->start_ms;
  point->value = sample.value - target->baseline;
  return true;
}

namespace {

size_t MetricSize(const GcmTarget& target) {
  return target.metric_type ? target.metric_type->size() + target.metric_labels.size() : 0;
}

size_t IdentitySize(const GcmTarget& target) {
  const size_t metric_size = MetricSize(target);
  return (target.metric_type ? 1 + VarintSize(metric_size) + metric_size : 0) +
         (target.identity_tail ? target.identity_tail->size() : 0);
}

// Writes the target's identity (IdentitySize bytes) at p; returns the end.
uint8_t* WriteIdentity(const GcmTarget& target, uint8_t* p) {
  if (target.metric_type) {
    p = WriteTag(1, 2, p);  // TimeSeries.metric
    p = CodedOutputStream::WriteVarint64ToArray(MetricSize(target), p);
    p = WriteBytes(target.metric_labels, p);  // Metric.labels (field 2) come before Metric.type (3)
    p = WriteBytes(*target.metric_type, p);
  }
  if (target.identity_tail) p = WriteBytes(*target.identity_tail, p);
  return p;
}

}  // namespace

std::string IdentityOf(const GcmTarget& target) {
  std::string identity(IdentitySize(target), '\0');
  WriteIdentity(target, reinterpret_cast<uint8_t*>(identity.data()));
  return identity;
}

IdentityRange AppendTimeSeries(std::string* out, const GcmTarget& target, const PendingPoint& point) {
  const bool cumulative = target.kind == PointKind::kCumulative;
  const size_t end_size = TimestampSize(point.end_ms);
  const size_t start_size = cumulative ? TimestampSize(point.start_ms) : 0;
  const size_t interval_size =
      (1 + VarintSize(end_size) + end_size) + (cumulative ? 1 + VarintSize(start_size) + start_size : 0);
  const size_t value_size = point.typed_value ? point.typed_value->size() : 1 + 8;
  const size_t point_size = (1 + VarintSize(interval_size) + interval_size) + (1 + VarintSize(value_size) + value_size);
  const size_t identity_size = IdentitySize(target);
  const size_t series_size = identity_size + 1 + VarintSize(point_size) + point_size;

  const size_t old_size = out->size();
  out->resize(old_size + 1 + VarintSize(series_size) + series_size);
  uint8_t* p = reinterpret_cast<uint8_t*>(out->data()) + old_size;
  p = WriteTag(2, 2, p);  // CreateTimeSeriesRequest.time_series
  p = CodedOutputStream::WriteVarint64ToArray(series_size, p);
  const IdentityRange identity{static_cast<size_t>(p - reinterpret_cast<uint8_t*>(out->data())), identity_size};
  p = WriteIdentity(target, p);
  p = WriteTag(5, 2, p);  // TimeSeries.points
  p = CodedOutputStream::WriteVarint64ToArray(point_size, p);
  p = WriteTag(1, 2, p);  // Point.interval
  p = CodedOutputStream::WriteVarint64ToArray(interval_size, p);
  if (cumulative) p = WriteTimestamp(1, point.start_ms, start_size, p);  // TimeInterval.start_time
  p = WriteTimestamp(2, point.end_ms, end_size, p);                      // TimeInterval.end_time
  p = WriteTag(2, 2, p);                                     // Point.value
  p = CodedOutputStream::WriteVarint64ToArray(value_size, p);
  if (point.typed_value) {
    p = CodedOutputStream::WriteRawToArray(point.typed_value->data(), static_cast<int>(point.typed_value->size()),
                                           p);  // TypedValue.distribution_value
  } else {
    p = google::protobuf::internal::WireFormatLite::WriteDoubleToArray(3, point.value, p);  // TypedValue.double_value
  }
  DCHECK_EQ(p, reinterpret_cast<uint8_t*>(out->data()) + out->size());
  return identity;
}

}  // namespace prom2gcm
