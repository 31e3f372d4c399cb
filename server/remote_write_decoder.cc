#include "server/remote_write_decoder.h"

#include <algorithm>
#include <cstring>
#include <optional>

#include "server/series_labels.h"
#include "server/utf8.h"
#include "server/wire_reader.h"

namespace prom2gcm {
namespace {

// Where each flat array of the request stood before a series was decoded, so a rejected series can
// be taken back out.
struct ArrayMarks {
  explicit ArrayMarks(const DecodedRequest& r)
      : labels(r.labels.size()),
        samples(r.samples.size()),
        histograms(r.histograms.size()),
        exemplars(r.exemplars.size()),
        exemplar_labels(r.exemplar_labels.size()) {}

  void Restore(DecodedRequest* r) const {
    r->labels.resize(labels);
    r->samples.resize(samples);
    r->histograms.resize(histograms);
    r->exemplars.resize(exemplars);
    r->exemplar_labels.resize(exemplar_labels);
  }

  void Fill(const DecodedRequest& r, Series* s) const {
    s->labels_begin = static_cast<uint32_t>(labels);
    s->labels_count = static_cast<uint32_t>(r.labels.size() - labels);
    s->samples_begin = static_cast<uint32_t>(samples);
    s->samples_count = static_cast<uint32_t>(r.samples.size() - samples);
    s->histograms_begin = static_cast<uint32_t>(histograms);
    s->histograms_count = static_cast<uint32_t>(r.histograms.size() - histograms);
    s->exemplars_begin = static_cast<uint32_t>(exemplars);
    s->exemplars_count = static_cast<uint32_t>(r.exemplars.size() - exemplars);
  }

  size_t labels, samples, histograms, exemplars, exemplar_labels;
};

// Finishes a decoded series: checks its labels against the limits, UTF-8 and the rules, then keeps it
// or takes it back out. label_span (1.0): the bytes of the series' Label messages, from the first to the
// last; when all ASCII, so are the labels, else each is checked. Null for 2.0, which checks each symbol
// once instead. encoded_labels: the labels' canonical encoding where it lies in the body (see
// HashLabels), hashed in place; empty when the series was not sent that way.
void FinishSeries(const ArrayMarks& marks, Series series, const char* rejection, const WriteLimits& limits,
                  const std::string_view* label_span, std::string_view encoded_labels, DecodedRequest* r) {
  marks.Fill(*r, &series);
  if (rejection == nullptr) {
    Limit broken;
    rejection = CheckLabelLimits(r->LabelsOf(series), limits, &broken);
    if (rejection != nullptr) ++r->limit_hits[static_cast<size_t>(broken)];
  }
  if (rejection == nullptr && label_span != nullptr && !IsAscii(*label_span)) {
    rejection = CheckLabelsUtf8(r->LabelsOf(series));
  }
  if (rejection == nullptr) {
    if (encoded_labels.empty()) {
      rejection = CheckLabelsAndHash(r->LabelsOf(series), &series.hash);
    } else {
      rejection = CheckLabels(r->LabelsOf(series));
      series.hash = HashEncodedLabels(encoded_labels);
    }
  }
  if (rejection != nullptr) {
    if (r->rejected_series++ == 0) r->first_rejection = rejection;
    marks.Restore(r);
    return;
  }
  r->series.push_back(series);
}

// The layout Prometheus sends a sample in: value (tag 0x09, 8 bytes) then timestamp (tag 0x10, a
// varint) and nothing else, or the timestamp alone when the value is zero (left out, as protobuf
// does; *sample keeps its zero value then). Returns false when the message is laid out otherwise; the
// general walk then decodes it, with the result this would have had. A fast path because the general
// walk costs several times more, once per sample. Always inlined into its two callers: GCC kept it
// out of line, a call per sample (-40 instructions per sample together with DecodeCompactLabelV1's).
[[gnu::always_inline]] inline bool DecodeCompactSample(std::string_view bytes, Sample* sample) {
  constexpr size_t kTimestampOffset = 10;  // tag, 8 value bytes, tag
  const auto* p = reinterpret_cast<const uint8_t*>(bytes.data());
  const uint8_t* end = p + bytes.size();
  const bool has_value = bytes.size() > kTimestampOffset && p[0] == 0x09 && p[9] == 0x10;
  const bool zero_value = !bytes.empty() && p[0] == 0x10;
  if (!has_value && !zero_value) return false;
  uint64_t timestamp = 0;
  const uint8_t* q = p + (has_value ? kTimestampOffset : 1);
  for (int shift = 0; q != end && shift < 64; shift += 7) {  // at most 10 bytes, as WireReader
    const uint8_t byte = *q++;
    timestamp |= static_cast<uint64_t>(byte & 0x7f) << shift;
    if ((byte & 0x80) != 0) continue;
    if (q != end) return false;  // more fields follow
    if (has_value) std::memcpy(&sample->value, p + 1, sizeof sample->value);
    sample->timestamp_ms = static_cast<int64_t>(timestamp);
    return true;
  }
  return false;
}

// Sample (1.0 and 2.0): value = 1 (double), timestamp = 2, start_timestamp = 3 (2.0 only).
bool DecodeSample(std::string_view bytes, Sample* sample) {
  if (DecodeCompactSample(bytes, sample)) [[likely]] return true;
  WireReader r(bytes);
  while (r.Next()) {
    switch (r.field()) {
      case 1:
        if (!r.Expect(WireType::kFixed64)) return false;
        sample->value = r.as_double();
        break;
      case 2:
        if (!r.Expect(WireType::kVarint)) return false;
        sample->timestamp_ms = static_cast<int64_t>(r.varint());
        break;
      case 3:
        if (!r.Expect(WireType::kVarint)) return false;
        sample->start_timestamp_ms = static_cast<int64_t>(r.varint());
        break;
    }
  }
  return !r.failed();
}

// Histogram (1.0 and 2.0): only the timestamp (field 15) is read now; the message is kept whole.
bool DecodeHistogram(std::string_view bytes, HistogramSample* histogram) {
  histogram->encoded = bytes;
  WireReader r(bytes);
  while (r.Next()) {
    if (r.field() == 15) {
      if (!r.Expect(WireType::kVarint)) return false;
      histogram->timestamp_ms = static_cast<int64_t>(r.varint());
    }
  }
  return !r.failed();
}

// The layout Prometheus sends a 1.0 label in: name (tag 0x0a) then value (tag 0x12), each with a
// one-byte length, and nothing else. Returns false when the message is laid out otherwise (an empty
// value left out, a string of 128 bytes or more, another order); the general walk then decodes it,
// with the result this would have had. Always inlined, as DecodeCompactSample.
[[gnu::always_inline]] inline bool DecodeCompactLabelV1(std::string_view bytes, Label* label) {
  const auto* p = reinterpret_cast<const uint8_t*>(bytes.data());
  const size_t size = bytes.size();
  if (size < 4 || p[0] != 0x0a || p[1] >= 0x80) return false;
  const size_t name_size = p[1];
  if (size < 4 + name_size) return false;  // also keeps the value's tag and length inside the message
  const uint8_t* value_tag = p + 2 + name_size;
  if (value_tag[0] != 0x12 || value_tag[1] >= 0x80 || size != 4 + name_size + value_tag[1]) return false;
  label->name = std::string_view(bytes.data() + 2, name_size);
  label->value = std::string_view(bytes.data() + 4 + name_size, value_tag[1]);
  return true;
}

// 1.0 Label: name = 1, value = 2.
bool DecodeLabelV1(std::string_view bytes, Label* label) {
  if (DecodeCompactLabelV1(bytes, label)) [[likely]] return true;
  WireReader r(bytes);
  while (r.Next()) {
    if (r.field() == 1 || r.field() == 2) {
      if (!r.Expect(WireType::kLengthDelimited)) return false;
      (r.field() == 1 ? label->name : label->value) = r.bytes();
    }
  }
  return !r.failed();
}

// 1.0 Exemplar: labels = 1, value = 2, timestamp = 3.
bool DecodeExemplarV1(std::string_view bytes, DecodedRequest* request) {
  Exemplar exemplar;
  exemplar.labels_begin = static_cast<uint32_t>(request->exemplar_labels.size());
  WireReader r(bytes);
  while (r.Next()) {
    switch (r.field()) {
      case 1:
        if (!r.Expect(WireType::kLengthDelimited)) return false;
        if (!DecodeLabelV1(r.bytes(), &request->exemplar_labels.emplace_back())) return false;
        break;
      case 2:
        if (!r.Expect(WireType::kFixed64)) return false;
        exemplar.value = r.as_double();
        break;
      case 3:
        if (!r.Expect(WireType::kVarint)) return false;
        exemplar.timestamp_ms = static_cast<int64_t>(r.varint());
        break;
    }
  }
  exemplar.labels_count = static_cast<uint32_t>(request->exemplar_labels.size() - exemplar.labels_begin);
  if (CheckLabelsUtf8(request->LabelsOf(exemplar), request->body) != nullptr) {
    // Only the exemplar is left out: its series' samples are fine.
    request->exemplar_labels.resize(exemplar.labels_begin);
    ++request->invalid_utf8_exemplars;
    return !r.failed();
  }
  request->exemplars.push_back(exemplar);
  return !r.failed();
}

// Extends *span (null at first) to end at the end of `field`, a label message of the series.
void ExtendLabelSpan(std::string_view field, std::string_view* span) {
  const char* begin = span->data() == nullptr ? field.data() : span->data();
  *span = std::string_view(begin, static_cast<size_t>(field.data() + field.size() - begin));
}

// A 1.0 TimeSeries laid out as Prometheus sends one without exemplars or histograms: only labels (tag
// 0x0a) and samples (tag 0x12), each with a one-byte length and in the layout of DecodeCompactLabelV1
// and DecodeCompactSample. Appends them and sets *label_span as DecodeTimeSeriesFieldsV1 would; returns
// false at the first field laid out otherwise, and the caller takes what was appended back out and
// decodes the series the general way. *encoded_labels: the labels' fields, tags included, when they
// are all next to each other (no sample between two labels): then they are their canonical encoding.
bool DecodeCompactTimeSeriesV1(std::string_view bytes, DecodedRequest* request, std::string_view* label_span,
                               std::string_view* encoded_labels) {
  const char* p = bytes.data();
  const char* end = p + bytes.size();
  const char* labels_begin = nullptr;
  const char* labels_end = nullptr;
  bool labels_split = false;
  while (p != end) {
    if (end - p < 2) return false;
    const auto tag = static_cast<uint8_t>(p[0]);
    const auto size = static_cast<uint8_t>(p[1]);
    if (size >= 0x80 || size > end - p - 2) return false;
    const std::string_view field(p + 2, size);
    p += 2 + size;
    // Decoded into locals, then appended: push_back inlines where emplace_back() did not.
    if (tag == 0x0a) {
      ExtendLabelSpan(field, label_span);
      Label label;
      if (!DecodeCompactLabelV1(field, &label)) return false;
      request->labels.push_back(label);
      if (labels_begin == nullptr) labels_begin = field.data() - 2;
      labels_split |= labels_end != nullptr && labels_end != field.data() - 2;
      labels_end = p;
    } else if (tag == 0x12) {
      Sample sample;
      if (!DecodeCompactSample(field, &sample)) return false;
      request->samples.push_back(sample);
    } else {
      return false;
    }
  }
  if (labels_begin != nullptr && !labels_split) {
    *encoded_labels = std::string_view(labels_begin, static_cast<size_t>(labels_end - labels_begin));
  }
  return true;
}

// 1.0 TimeSeries: labels = 1, samples = 2, exemplars = 3, histograms = 4. Appends them and sets
// *label_span to the bytes from the first label message to the end of the last.
bool DecodeTimeSeriesFieldsV1(std::string_view bytes, DecodedRequest* request, std::string_view* label_span) {
  WireReader r(bytes);
  while (r.Next()) {
    const uint32_t field = r.field();
    if (field < 1 || field > 4) continue;  // unknown fields are skipped, as protobuf does
    if (!r.Expect(WireType::kLengthDelimited)) return false;
    bool ok = true;
    switch (field) {
      case 1:
        ExtendLabelSpan(r.bytes(), label_span);
        ok = DecodeLabelV1(r.bytes(), &request->labels.emplace_back());
        break;
      case 2: ok = DecodeSample(r.bytes(), &request->samples.emplace_back()); break;
      case 3: ok = DecodeExemplarV1(r.bytes(), request); break;
      case 4: ok = DecodeHistogram(r.bytes(), &request->histograms.emplace_back()); break;
    }
    if (!ok) return false;
  }
  return !r.failed();
}

bool DecodeTimeSeriesV1(std::string_view bytes, const WriteLimits& limits, DecodedRequest* request) {
  const ArrayMarks marks(*request);
  std::string_view label_span, encoded_labels;
  if (!DecodeCompactTimeSeriesV1(bytes, request, &label_span, &encoded_labels)) {
    marks.Restore(request);
    label_span = encoded_labels = {};
    if (!DecodeTimeSeriesFieldsV1(bytes, request, &label_span)) return false;
  }
  FinishSeries(marks, Series{}, nullptr, limits, &label_span, encoded_labels, request);
  return true;
}

// 1.0 MetricMetadata: type = 1, metric_family_name = 2, help = 4, unit = 5. An entry whose family name
// is not valid UTF-8 is left out; an invalid help or unit is emptied.
bool DecodeMetadataV1(std::string_view bytes, DecodedRequest* request) {
  FamilyMetadata* metadata = &request->metadata.emplace_back();
  WireReader r(bytes);
  while (r.Next()) {
    switch (r.field()) {
      case 1:
        if (!r.Expect(WireType::kVarint)) return false;
        metadata->type = MetricTypeFromWire(r.varint());
        break;
      case 2:
      case 4:
      case 5: {
        if (!r.Expect(WireType::kLengthDelimited)) return false;
        std::string_view& target = r.field() == 2   ? metadata->family_name
                                   : r.field() == 4 ? metadata->help
                                                    : metadata->unit;
        target = r.bytes();
        break;
      }
    }
  }
  if (!IsValidUtf8(metadata->family_name)) {
    request->metadata.pop_back();
    ++request->invalid_utf8_metadata;
    return !r.failed();
  }
  for (std::string_view* text : {&metadata->help, &metadata->unit}) {
    if (IsValidUtf8(*text)) continue;
    *text = {};
    ++request->invalid_utf8_metadata;
  }
  return !r.failed();
}

// Symbol-table references of one 2.0 series, resolved as they are read.
class SymbolResolver {
 public:
  explicit SymbolResolver(const DecodedRequest& request)
      : symbols_(request.symbols), invalid_(request.invalid_symbols) {}

  // Resolves ref, or records why it cannot be (the series is then rejected).
  std::string_view Resolve(uint64_t ref, const char* what) {
    if (ref < symbols_.size()) return symbols_[ref];
    if (rejection_ == nullptr) rejection_ = what;
    return {};
  }
  // Whether symbol ref (in range) is valid UTF-8; nearly always no symbol is invalid.
  bool Utf8(uint64_t ref) const {
    return invalid_.empty() || !std::binary_search(invalid_.begin(), invalid_.end(), ref);
  }
  void Reject(const char* why) {
    if (rejection_ == nullptr) rejection_ = why;
  }
  const char* rejection() const { return rejection_; }

 private:
  const std::vector<std::string_view>& symbols_;
  const std::vector<uint32_t>& invalid_;
  const char* rejection_ = nullptr;
};

// Appends the labels named by a (possibly packed) labels_refs field to *out, pairing names with values
// across chunks through *pending_name. Sets *invalid_utf8 when a symbol is not valid UTF-8.
bool AppendLabelRefs(WireReader& r, SymbolResolver& resolver, std::vector<Label>* out,
                     std::optional<std::string_view>* pending_name, const char* out_of_range,
                     bool* invalid_utf8) {
  return ForEachVarint(r, [&](uint64_t ref) {
    const std::string_view symbol = resolver.Resolve(ref, out_of_range);
    if (!resolver.Utf8(ref)) *invalid_utf8 = true;
    if (pending_name->has_value()) {
      out->push_back(Label{**pending_name, symbol});
      pending_name->reset();
    } else {
      *pending_name = symbol;
    }
  });
}

// 2.0 Exemplar: labels_refs = 1, value = 2, timestamp = 3.
bool DecodeExemplarV2(std::string_view bytes, SymbolResolver& resolver, DecodedRequest* request) {
  Exemplar exemplar;
  exemplar.labels_begin = static_cast<uint32_t>(request->exemplar_labels.size());
  std::optional<std::string_view> pending_name;
  bool invalid_utf8 = false;
  WireReader r(bytes);
  while (r.Next()) {
    switch (r.field()) {
      case 1:
        if (!AppendLabelRefs(r, resolver, &request->exemplar_labels, &pending_name,
                             "exemplar label reference past the symbol table", &invalid_utf8)) {
          return false;
        }
        break;
      case 2:
        if (!r.Expect(WireType::kFixed64)) return false;
        exemplar.value = r.as_double();
        break;
      case 3:
        if (!r.Expect(WireType::kVarint)) return false;
        exemplar.timestamp_ms = static_cast<int64_t>(r.varint());
        break;
    }
  }
  if (pending_name.has_value()) resolver.Reject("odd number of exemplar label references");
  exemplar.labels_count = static_cast<uint32_t>(request->exemplar_labels.size() - exemplar.labels_begin);
  if (invalid_utf8) {
    request->exemplar_labels.resize(exemplar.labels_begin);
    ++request->invalid_utf8_exemplars;
    return !r.failed();
  }
  request->exemplars.push_back(exemplar);
  return !r.failed();
}

// 2.0 Metadata: type = 1, help_ref = 3, unit_ref = 4. A help or unit that is not valid UTF-8 is left
// out (the series is kept).
bool DecodeMetadataV2(std::string_view bytes, SymbolResolver& resolver, Series* series, DecodedRequest* request) {
  WireReader r(bytes);
  while (r.Next()) {
    if (r.field() != 1 && r.field() != 3 && r.field() != 4) continue;
    if (!r.Expect(WireType::kVarint)) return false;
    if (r.field() == 1) {
      series->type = MetricTypeFromWire(r.varint());
    } else {
      std::string_view& target = r.field() == 3 ? series->help : series->unit;
      target = resolver.Resolve(r.varint(), "metadata reference past the symbol table");
      if (!resolver.Utf8(r.varint())) {
        target = {};
        ++request->invalid_utf8_metadata;
      }
    }
  }
  return !r.failed();
}

// 2.0 TimeSeries: labels_refs = 1, samples = 2, histograms = 3, exemplars = 4, metadata = 5,
// created_timestamp = 6 (older variant).
bool DecodeTimeSeriesV2(std::string_view bytes, const WriteLimits& limits, DecodedRequest* request) {
  const ArrayMarks marks(*request);
  SymbolResolver resolver(*request);
  std::optional<std::string_view> pending_name;
  bool invalid_utf8 = false;
  Series series;
  WireReader r(bytes);
  while (r.Next()) {
    bool ok = true;
    switch (r.field()) {
      case 1:
        ok = AppendLabelRefs(r, resolver, &request->labels, &pending_name,
                             "label reference past the symbol table", &invalid_utf8);
        break;
      case 2:
        ok = r.Expect(WireType::kLengthDelimited) && DecodeSample(r.bytes(), &request->samples.emplace_back());
        break;
      case 3:
        ok = r.Expect(WireType::kLengthDelimited) &&
             DecodeHistogram(r.bytes(), &request->histograms.emplace_back());
        break;
      case 4:
        ok = r.Expect(WireType::kLengthDelimited) && DecodeExemplarV2(r.bytes(), resolver, request);
        break;
      case 5:
        ok = r.Expect(WireType::kLengthDelimited) && DecodeMetadataV2(r.bytes(), resolver, &series, request);
        break;
      case 6:
        ok = r.Expect(WireType::kVarint);
        series.start_timestamp_ms = static_cast<int64_t>(r.varint());
        break;
    }
    if (!ok) return false;
  }
  if (r.failed()) return false;
  if (pending_name.has_value()) resolver.Reject("odd number of label references");
  if (invalid_utf8) resolver.Reject("label name or value is not valid UTF-8");
  FinishSeries(marks, series, resolver.rejection(), limits, /*label_span=*/nullptr, /*encoded_labels=*/{}, request);
  return true;
}

const char* MalformedReason(const WireReader& r, const char* fallback) {
  return r.failed() ? r.error() : fallback;
}

// True (and counted) when the request already holds as many series as it may.
bool SeriesLimitReached(const WriteLimits& limits, DecodedRequest* request) {
  if (request->series.size() + request->rejected_series < limits.max_series_per_request) return false;
  request->limit_hits[static_cast<size_t>(Limit::kSeriesPerRequest)] = 1;
  return true;
}

constexpr char kTooManySeries[] = "more series than --web.max-series-per-request";

}  // namespace

const char* DecodeRemoteWriteV1(DecodedRequest* request, const WriteLimits& limits) {
  WireReader r(request->body);
  while (r.Next()) {
    if (r.field() != 1 && r.field() != 3) continue;
    if (!r.Expect(WireType::kLengthDelimited)) break;
    if (r.field() == 1 && SeriesLimitReached(limits, request)) return kTooManySeries;
    const bool ok = r.field() == 1 ? DecodeTimeSeriesV1(r.bytes(), limits, request)
                                   : DecodeMetadataV1(r.bytes(), request);
    if (!ok) return r.field() == 1 ? "malformed time series" : "malformed metadata";
  }
  return MalformedReason(r, nullptr);
}

const char* DecodeRemoteWriteV2(DecodedRequest* request, const WriteLimits& limits) {
  // Symbols first: a sender may place them anywhere, and every series refers to them.
  WireReader symbols(request->body);
  while (symbols.Next()) {
    if (symbols.field() != 4) continue;
    if (!symbols.Expect(WireType::kLengthDelimited)) break;
    // Each symbol is checked once here rather than at every reference to it.
    if (!IsValidUtf8(symbols.bytes())) request->invalid_symbols.push_back(static_cast<uint32_t>(request->symbols.size()));
    request->symbols.push_back(symbols.bytes());
  }
  if (symbols.failed()) return symbols.error();

  WireReader r(request->body);
  while (r.Next()) {
    if (r.field() != 5) continue;
    if (!r.Expect(WireType::kLengthDelimited)) break;
    if (SeriesLimitReached(limits, request)) return kTooManySeries;
    if (!DecodeTimeSeriesV2(r.bytes(), limits, request)) return "malformed time series";
  }
  return MalformedReason(r, nullptr);
}

}  // namespace prom2gcm
