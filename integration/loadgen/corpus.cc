#include "integration/loadgen/corpus.h"

#include <snappy.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string_view>

namespace prom2gcm::loadgen {
namespace {

constexpr char kPayloadSuffix[] = ".pb.snappy";

bool ListPayloadFiles(const std::string& dir, std::vector<std::string>* files, std::string* error) {
  std::error_code ec;
  std::filesystem::directory_iterator entries(dir, ec);
  if (ec) {
    *error = "cannot list " + dir + ": " + ec.message();
    return false;
  }
  for (const auto& entry : entries) {
    const std::string name = entry.path().filename().string();
    if (entry.is_regular_file() && name.ends_with(kPayloadSuffix)) files->push_back(entry.path().string());
  }
  std::sort(files->begin(), files->end());
  if (files->empty()) *error = "no *" + std::string(kPayloadSuffix) + " file in " + dir;
  return !files->empty();
}

bool ReadSnappyFile(const std::string& path, std::string* raw, std::string* error) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream compressed;
  if (in.is_open()) compressed << in.rdbuf();
  if (!in.is_open() || in.bad()) {
    *error = "cannot read " + path;
    return false;
  }
  const std::string body = compressed.str();
  if (!snappy::Uncompress(body.data(), body.size(), raw)) {
    *error = path + ": not snappy block format";
    return false;
  }
  return true;
}

bool RefsValid(const google::protobuf::RepeatedField<uint32_t>& refs, int symbols) {
  return std::all_of(refs.begin(), refs.end(),
                     [symbols](uint32_t ref) { return ref < static_cast<uint32_t>(symbols); });
}

// A 2.0 request has a symbols table, every reference points into it, and labels come in pairs.
bool ValidV2(const v2::Request& request) {
  const int symbols = request.symbols_size();
  if (symbols == 0) return false;
  for (const v2::TimeSeries& series : request.timeseries()) {
    if (series.labels_refs_size() % 2 != 0 || !RefsValid(series.labels_refs(), symbols)) return false;
    const uint32_t help_ref = series.metadata().help_ref(), unit_ref = series.metadata().unit_ref();
    if (help_ref >= static_cast<uint32_t>(symbols) || unit_ref >= static_cast<uint32_t>(symbols)) return false;
    for (const v2::Exemplar& exemplar : series.exemplars()) {
      if (!RefsValid(exemplar.labels_refs(), symbols)) return false;
    }
  }
  return true;
}

// A 2.0 body has symbols (field 4) or series (field 5); a 1.0 body has only fields 1 and 3, which
// 2.0 reserves, so it parses as an empty 2.0 request.
bool DecodePayload(const std::string& raw, const std::string& path, std::vector<::prometheus::prompb::WriteRequest>* v1s,
                   std::vector<v2::Request>* v2s, std::string* error) {
  v2::Request as_v2;
  if (as_v2.ParseFromString(raw) && (as_v2.symbols_size() > 0 || as_v2.timeseries_size() > 0)) {
    if (!ValidV2(as_v2)) {
      *error = path + ": 2.0 request without symbols or with a symbol reference out of range";
      return false;
    }
    v2s->push_back(std::move(as_v2));
    return true;
  }
  ::prometheus::prompb::WriteRequest as_v1;
  if (!as_v1.ParseFromString(raw)) {
    *error = path + ": neither a prometheus.WriteRequest nor an io.prometheus.write.v2.Request";
    return false;
  }
  v1s->push_back(std::move(as_v1));
  return true;
}

// What Analyze() tracks per series while walking the corpus in recording order.
struct SeriesHistory {
  std::vector<size_t> requests;  // indexes of the requests holding the series, ascending, unique
  int64_t last_timestamp = 0;
  bool has_timestamp = false;
};

// Accumulates the time range and the spacing of consecutive samples of one series.
class TimeRangeBuilder {
 public:
  void Add(SeriesHistory* history, int64_t timestamp) {
    min_ = std::min(min_, timestamp);
    max_ = std::max(max_, timestamp);
    if (history->has_timestamp && timestamp > history->last_timestamp) {
      ++gap_counts_[timestamp - history->last_timestamp];
    }
    history->last_timestamp = timestamp;
    history->has_timestamp = true;
  }

  // The most common gap is the interval; ties go to the smaller gap.
  TimeRange Build() const {
    TimeRange range;
    if (min_ > max_) return range;
    range.min_ms = min_;
    range.max_ms = max_;
    int64_t best_count = 0;
    for (const auto& [gap, count] : gap_counts_) {
      if (count > best_count) {
        best_count = count;
        range.interval_ms = gap;
      }
    }
    return range;
  }

 private:
  int64_t min_ = INT64_MAX;
  int64_t max_ = INT64_MIN;
  std::map<int64_t, int64_t> gap_counts_;
};

// Distance from each occurrence of a series to its previous one; the first occurrence of a pass
// follows the last occurrence of the previous pass.
void AddPredecessorDistances(const std::vector<size_t>& requests, size_t corpus_size,
                             std::vector<std::vector<int64_t>>* predecessors) {
  for (size_t j = 0; j < requests.size(); ++j) {
    const int64_t current = static_cast<int64_t>(requests[j]);
    const int64_t previous = j > 0 ? static_cast<int64_t>(requests[j - 1])
                                   : static_cast<int64_t>(requests.back()) - static_cast<int64_t>(corpus_size);
    (*predecessors)[requests[j]].push_back(current - previous);
  }
}

void SortUnique(std::vector<int64_t>* values) {
  std::sort(values->begin(), values->end());
  values->erase(std::unique(values->begin(), values->end()), values->end());
}

std::vector<int64_t> TimestampsOf(const ::prometheus::prompb::TimeSeries& series) {
  std::vector<int64_t> timestamps;
  for (const auto& sample : series.samples()) timestamps.push_back(sample.timestamp());
  for (const auto& histogram : series.histograms()) timestamps.push_back(histogram.timestamp());
  std::sort(timestamps.begin(), timestamps.end());
  return timestamps;
}

std::vector<int64_t> TimestampsOf(const v2::TimeSeries& series) {
  std::vector<int64_t> timestamps;
  for (const auto& sample : series.samples()) timestamps.push_back(sample.timestamp());
  for (const auto& histogram : series.histograms()) timestamps.push_back(histogram.timestamp());
  std::sort(timestamps.begin(), timestamps.end());
  return timestamps;
}

bool IsHistogramLike(::prometheus::prompb::MetricMetadata::MetricType type) {
  return type == ::prometheus::prompb::MetricMetadata::HISTOGRAM || type == ::prometheus::prompb::MetricMetadata::GAUGEHISTOGRAM ||
         type == ::prometheus::prompb::MetricMetadata::SUMMARY;
}

// Interns strings into a 2.0 request's symbols table, which starts with "".
class SymbolTable {
 public:
  explicit SymbolTable(v2::Request* request) : request_(request) { Ref(""); }

  uint32_t Ref(const std::string& symbol) {
    auto [it, inserted] = refs_.try_emplace(symbol, static_cast<uint32_t>(request_->symbols_size()));
    if (inserted) request_->add_symbols(symbol);
    return it->second;
  }

 private:
  v2::Request* const request_;
  std::unordered_map<std::string, uint32_t> refs_;
};

void ConvertLabels(const google::protobuf::RepeatedPtrField<::prometheus::prompb::Label>& labels, SymbolTable* symbols,
                   google::protobuf::RepeatedField<uint32_t>* refs) {
  for (const ::prometheus::prompb::Label& label : labels) {
    refs->Add(symbols->Ref(label.name()));
    refs->Add(symbols->Ref(label.value()));
  }
}

template <typename Span>
void ConvertSpans(const google::protobuf::RepeatedPtrField<::prometheus::prompb::BucketSpan>& in,
                  google::protobuf::RepeatedPtrField<Span>* out) {
  for (const ::prometheus::prompb::BucketSpan& span : in) {
    Span* converted = out->Add();
    converted->set_offset(span.offset());
    converted->set_length(span.length());
  }
}

void ConvertHistogram(const ::prometheus::prompb::Histogram& in, v2::Histogram* out) {
  if (in.count_case() == ::prometheus::prompb::Histogram::kCountInt) out->set_count_int(in.count_int());
  if (in.count_case() == ::prometheus::prompb::Histogram::kCountFloat) out->set_count_float(in.count_float());
  out->set_sum(in.sum());
  out->set_schema(in.schema());
  out->set_zero_threshold(in.zero_threshold());
  if (in.zero_count_case() == ::prometheus::prompb::Histogram::kZeroCountInt) out->set_zero_count_int(in.zero_count_int());
  if (in.zero_count_case() == ::prometheus::prompb::Histogram::kZeroCountFloat) {
    out->set_zero_count_float(in.zero_count_float());
  }
  ConvertSpans(in.negative_spans(), out->mutable_negative_spans());
  *out->mutable_negative_deltas() = in.negative_deltas();
  *out->mutable_negative_counts() = in.negative_counts();
  ConvertSpans(in.positive_spans(), out->mutable_positive_spans());
  *out->mutable_positive_deltas() = in.positive_deltas();
  *out->mutable_positive_counts() = in.positive_counts();
  out->set_reset_hint(static_cast<v2::Histogram::ResetHint>(in.reset_hint()));  // same numbering
  out->set_timestamp(in.timestamp());
  *out->mutable_custom_values() = in.custom_values();
}

void ConvertMetadata(const ::prometheus::prompb::MetricMetadata& in, SymbolTable* symbols, v2::Metadata* out) {
  out->set_type(static_cast<v2::Metadata::MetricType>(in.type()));  // same numbering; UNKNOWN is UNSPECIFIED
  out->set_help_ref(symbols->Ref(in.help()));
  out->set_unit_ref(symbols->Ref(in.unit()));
}

const std::string* MetricNameOf(const ::prometheus::prompb::TimeSeries& series) {
  for (const ::prometheus::prompb::Label& label : series.labels()) {
    if (label.name() == "__name__") return &label.value();
  }
  return nullptr;
}

int64_t ShiftIfSet(int64_t timestamp, int64_t delta_ms) { return timestamp == 0 ? 0 : timestamp + delta_ms; }

// The index of the first label whose name is not below kReplicaLabel.
template <typename NameAt>
int ReplicaPosition(int labels, NameAt name_at) {
  int position = 0;
  while (position < labels && name_at(position) < kReplicaLabel) ++position;
  return position;
}

std::string* InsertReplicaLabelInto(::prometheus::prompb::TimeSeries* series) {
  auto* labels = series->mutable_labels();
  const int position =
      ReplicaPosition(labels->size(), [&](int i) -> const std::string& { return labels->Get(i).name(); });
  if (position < labels->size() && labels->Get(position).name() == kReplicaLabel) {
    return labels->Mutable(position)->mutable_value();
  }
  ::prometheus::prompb::Label* label = labels->Add();
  label->set_name(kReplicaLabel);
  // Moves the new element's pointer into place; the Label object itself stays where it is.
  for (int i = labels->size() - 1; i > position; --i) labels->SwapElements(i, i - 1);
  return label->mutable_value();
}

void InsertReplicaRefs(const v2::Request& request, uint32_t name_ref, uint32_t value_ref, v2::TimeSeries* series) {
  const auto& refs = series->labels_refs();
  const int pairs = refs.size() / 2;
  const int position = ReplicaPosition(
      pairs, [&](int i) -> const std::string& { return request.symbols(static_cast<int>(refs[2 * i])); });
  if (position < pairs && request.symbols(static_cast<int>(refs[2 * position])) == kReplicaLabel) {
    series->set_labels_refs(2 * position + 1, value_ref);
    return;
  }
  google::protobuf::RepeatedField<uint32_t> inserted;
  inserted.Reserve(refs.size() + 2);
  for (int i = 0; i < 2 * position; ++i) inserted.Add(refs[i]);
  inserted.Add(name_ref);
  inserted.Add(value_ref);
  for (int i = 2 * position; i < refs.size(); ++i) inserted.Add(refs[i]);
  *series->mutable_labels_refs() = std::move(inserted);
}

}  // namespace

int64_t PassShiftMs(const TimeRange& range, int64_t now_ms, int64_t pass, int64_t planned_passes) {
  const int64_t passes_remaining = planned_passes - 1 - pass;
  return (now_ms - range.max_ms) - passes_remaining * range.period_ms();
}

bool Corpus::Load(const std::string& dir, Corpus* corpus, std::string* error) {
  std::vector<std::string> files;
  if (!ListPayloadFiles(dir, &files, error)) return false;
  std::vector<::prometheus::prompb::WriteRequest> v1s;
  std::vector<v2::Request> v2s;
  for (const std::string& path : files) {
    std::string raw;
    if (!ReadSnappyFile(path, &raw, error) || !DecodePayload(raw, path, &v1s, &v2s, error)) return false;
  }
  if (!v1s.empty() && !v2s.empty()) {
    *error = dir + " mixes 1.0 and 2.0 requests";
    return false;
  }
  *corpus = v2s.empty() ? FromV1(v1s) : FromV2(v2s);
  if (corpus->size() == 0) *error = dir + " holds no request with samples";
  return corpus->size() > 0;
}

Corpus Corpus::FromV1(const std::vector<::prometheus::prompb::WriteRequest>& requests) {
  Corpus corpus;
  corpus.format_ = WireProtocol::kV1;
  for (const ::prometheus::prompb::WriteRequest& request : requests) corpus.AddV1(request);
  corpus.Analyze();
  return corpus;
}

Corpus Corpus::FromV2(const std::vector<v2::Request>& requests) {
  Corpus corpus;
  corpus.format_ = WireProtocol::kV2;
  for (const v2::Request& request : requests) {
    if (request.timeseries_size() > 0) corpus.v2_requests_.push_back(request);
  }
  corpus.Analyze();
  return corpus;
}

// Splits a request into its samples part and its metadata part; either may be absent.
void Corpus::AddV1(const ::prometheus::prompb::WriteRequest& request) {
  if (request.timeseries_size() > 0) {
    ::prometheus::prompb::WriteRequest& samples = v1_requests_.emplace_back();
    *samples.mutable_timeseries() = request.timeseries();
  }
  if (request.metadata_size() > 0) {
    ::prometheus::prompb::WriteRequest& metadata = metadata_requests_.emplace_back();
    *metadata.mutable_metadata() = request.metadata();
    for (const ::prometheus::prompb::MetricMetadata& family : request.metadata()) {
      metadata_by_family_[family.metric_family_name()] = family;
    }
  }
}

void Corpus::Analyze() {
  const size_t requests = format_ == WireProtocol::kV1 ? v1_requests_.size() : v2_requests_.size();
  std::unordered_map<std::string, SeriesHistory> histories;
  TimeRangeBuilder times;
  auto visit = [&](size_t i, const std::string& key, const std::vector<int64_t>& timestamps) {
    SeriesHistory& history = histories[key];
    if (history.requests.empty() || history.requests.back() != i) history.requests.push_back(i);
    for (int64_t timestamp : timestamps) times.Add(&history, timestamp);
  };
  for (size_t i = 0; i < requests; ++i) {
    if (format_ == WireProtocol::kV1) {
      for (const auto& series : v1_requests_[i].timeseries()) visit(i, SeriesKey(series), TimestampsOf(series));
      samples_.push_back(CountSamples(v1_requests_[i]));
    } else {
      const v2::Request& request = v2_requests_[i];
      for (const auto& series : request.timeseries()) visit(i, SeriesKey(request, series), TimestampsOf(series));
      samples_.push_back(CountSamples(request));
    }
    samples_per_pass_ += samples_.back();
  }
  time_range_ = times.Build();
  predecessors_.assign(requests, {});
  for (const auto& [key, history] : histories) AddPredecessorDistances(history.requests, requests, &predecessors_);
  for (std::vector<int64_t>& distances : predecessors_) SortUnique(&distances);
}

const ::prometheus::prompb::MetricMetadata* Corpus::FindMetadata(const std::string& metric_name) const {
  if (auto it = metadata_by_family_.find(metric_name); it != metadata_by_family_.end()) return &it->second;
  for (const std::string_view suffix : {"_bucket", "_sum", "_count"}) {
    if (!metric_name.ends_with(suffix)) continue;
    auto it = metadata_by_family_.find(metric_name.substr(0, metric_name.size() - suffix.size()));
    if (it != metadata_by_family_.end() && IsHistogramLike(it->second.type())) return &it->second;
  }
  return nullptr;
}

v2::Request Corpus::ToV2(size_t i) const {
  v2::Request converted;
  SymbolTable symbols(&converted);
  for (const ::prometheus::prompb::TimeSeries& series : v1_requests_[i].timeseries()) {
    v2::TimeSeries* out = converted.add_timeseries();
    ConvertLabels(series.labels(), &symbols, out->mutable_labels_refs());
    for (const ::prometheus::prompb::Sample& sample : series.samples()) {
      v2::Sample* converted_sample = out->add_samples();
      converted_sample->set_value(sample.value());
      converted_sample->set_timestamp(sample.timestamp());
    }
    for (const ::prometheus::prompb::Histogram& histogram : series.histograms()) {
      ConvertHistogram(histogram, out->add_histograms());
    }
    for (const ::prometheus::prompb::Exemplar& exemplar : series.exemplars()) {
      v2::Exemplar* converted_exemplar = out->add_exemplars();
      ConvertLabels(exemplar.labels(), &symbols, converted_exemplar->mutable_labels_refs());
      converted_exemplar->set_value(exemplar.value());
      converted_exemplar->set_timestamp(exemplar.timestamp());
    }
    const std::string* name = MetricNameOf(series);
    const ::prometheus::prompb::MetricMetadata* metadata = name != nullptr ? FindMetadata(*name) : nullptr;
    if (metadata != nullptr) ConvertMetadata(*metadata, &symbols, out->mutable_metadata());
  }
  return converted;
}

std::string SeriesKey(const ::prometheus::prompb::TimeSeries& series) {
  std::string key;
  for (const ::prometheus::prompb::Label& label : series.labels()) {
    key.append(label.name()).push_back('\0');
    key.append(label.value()).push_back('\0');
  }
  return key;
}

std::string SeriesKey(const v2::Request& request, const v2::TimeSeries& series) {
  std::string key;
  for (uint32_t ref : series.labels_refs()) key.append(request.symbols(static_cast<int>(ref))).push_back('\0');
  return key;
}

int64_t CountSamples(const ::prometheus::prompb::WriteRequest& request) {
  int64_t samples = 0;
  for (const auto& series : request.timeseries()) samples += series.samples_size() + series.histograms_size();
  return samples;
}

int64_t CountSamples(const v2::Request& request) {
  int64_t samples = 0;
  for (const auto& series : request.timeseries()) samples += series.samples_size() + series.histograms_size();
  return samples;
}

void ShiftTimestamps(int64_t delta_ms, ::prometheus::prompb::WriteRequest* request) {
  for (::prometheus::prompb::TimeSeries& series : *request->mutable_timeseries()) {
    for (auto& sample : *series.mutable_samples()) sample.set_timestamp(sample.timestamp() + delta_ms);
    for (auto& histogram : *series.mutable_histograms()) histogram.set_timestamp(histogram.timestamp() + delta_ms);
    for (auto& exemplar : *series.mutable_exemplars()) {
      exemplar.set_timestamp(ShiftIfSet(exemplar.timestamp(), delta_ms));
    }
  }
}

void ShiftTimestamps(int64_t delta_ms, v2::Request* request) {
  for (v2::TimeSeries& series : *request->mutable_timeseries()) {
    for (auto& sample : *series.mutable_samples()) {
      sample.set_timestamp(sample.timestamp() + delta_ms);
      sample.set_start_timestamp(ShiftIfSet(sample.start_timestamp(), delta_ms));
    }
    for (auto& histogram : *series.mutable_histograms()) {
      histogram.set_timestamp(histogram.timestamp() + delta_ms);
      histogram.set_start_timestamp(ShiftIfSet(histogram.start_timestamp(), delta_ms));
    }
    for (auto& exemplar : *series.mutable_exemplars()) {
      exemplar.set_timestamp(ShiftIfSet(exemplar.timestamp(), delta_ms));
    }
    series.set_created_timestamp(ShiftIfSet(series.created_timestamp(), delta_ms));
  }
}

std::vector<std::string*> InsertReplicaLabel(::prometheus::prompb::WriteRequest* request) {
  std::vector<std::string*> values;
  values.reserve(request->timeseries_size());
  for (::prometheus::prompb::TimeSeries& series : *request->mutable_timeseries()) {
    values.push_back(InsertReplicaLabelInto(&series));
  }
  return values;
}

int InsertReplicaLabel(v2::Request* request) {
  if (request->symbols_size() == 0) request->add_symbols("");
  const auto& symbols = request->symbols();
  const auto existing = std::find(symbols.begin(), symbols.end(), kReplicaLabel);
  const uint32_t name_ref = static_cast<uint32_t>(existing - symbols.begin());
  if (existing == symbols.end()) request->add_symbols(kReplicaLabel);
  const uint32_t value_ref = static_cast<uint32_t>(request->symbols_size());
  request->add_symbols("");
  for (v2::TimeSeries& series : *request->mutable_timeseries()) {
    InsertReplicaRefs(*request, name_ref, value_ref, &series);
  }
  return static_cast<int>(value_ref);
}

}  // namespace prom2gcm::loadgen
