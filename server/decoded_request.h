// DecodedRequest is one remote-write request (1.0 or 2.0) decoded into the protocol-neutral form the
// exporter consumes: series with their labels, samples, native histograms and exemplars, type, unit
// and start timestamp, each with a 64-bit hash of its identity that picks its shard.
//
// Zero-copy by design: the request owns the uncompressed body and every string is a view into it.
// Labels, samples, histograms and exemplars of all series live in flat arrays, and a Series refers to
// ranges of them, so decoding allocates nothing per sample and, once the arrays have grown to a
// request's size, nothing per request either (Clear() keeps capacity).
//
// Thread-safety: none; a request is filled by one thread and then read-only.
#ifndef PROM2GCM_SERVER_DECODED_REQUEST_H_
#define PROM2GCM_SERVER_DECODED_REQUEST_H_

#include <array>
#include <cstdint>
#include <cstring>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "server/write_limits.h"

namespace prom2gcm {

enum class Protocol : uint8_t { kV1, kV2 };
const char* ProtocolName(Protocol protocol);  // "1.0" or "2.0"

// The metric type as Prometheus metadata states it; kUnspecified when the sender gave none.
enum class MetricType : uint8_t {
  kUnspecified,
  kCounter,
  kGauge,
  kHistogram,
  kGaugeHistogram,
  kSummary,
  kInfo,
  kStateset,
};
// Maps the wire enum, identical in 1.0 MetricMetadata and 2.0 Metadata; unknown values map to
// kUnspecified.
MetricType MetricTypeFromWire(uint64_t wire_value);
const char* MetricTypeName(MetricType type);

// Prometheus' staleness marker: a NaN with this exact bit pattern ends a series.
inline constexpr uint64_t kStaleMarkerBits = 0x7ff0000000000002ULL;
inline bool IsStaleMarker(double value) {
  uint64_t bits;
  std::memcpy(&bits, &value, sizeof bits);
  return bits == kStaleMarkerBits;
}

struct Label {
  std::string_view name;
  std::string_view value;
};

struct Sample {
  int64_t timestamp_ms = 0;
  double value = 0;
  int64_t start_timestamp_ms = 0;  // 2.0 start (created) timestamp; 0 when not given
};

// A native histogram sample, kept as its encoded message until the histogram transform reads it.
struct HistogramSample {
  int64_t timestamp_ms = 0;
  std::string_view encoded;  // a prometheus.Histogram / io.prometheus.write.v2.Histogram message
};

struct Exemplar {
  int64_t timestamp_ms = 0;
  double value = 0;
  uint32_t labels_begin = 0;  // range in DecodedRequest::exemplar_labels
  uint32_t labels_count = 0;
};

struct Series {
  uint64_t hash = 0;  // of the sorted label set; equal label sets hash equally in 1.0 and 2.0
  uint32_t labels_begin = 0, labels_count = 0;
  uint32_t samples_begin = 0, samples_count = 0;
  uint32_t histograms_begin = 0, histograms_count = 0;
  uint32_t exemplars_begin = 0, exemplars_count = 0;
  MetricType type = MetricType::kUnspecified;  // 2.0 per-series metadata; 1.0 leaves it unspecified
  std::string_view help;
  std::string_view unit;
  int64_t start_timestamp_ms = 0;  // older 2.0 variant's created_timestamp (TimeSeries field 6)
};

// 1.0 metadata, sent in requests of its own and keyed by metric family name.
struct FamilyMetadata {
  std::string_view family_name;
  MetricType type = MetricType::kUnspecified;
  std::string_view help;
  std::string_view unit;
};

class DecodedRequest {
 public:
  // Empties the request but keeps every buffer's capacity for the next one.
  // Empties the request for reuse, keeping every array's capacity; body keeps its bytes too (storage
  // that the next decode resizes and overwrites).
  void Clear();

  std::span<const Label> LabelsOf(const Series& s) const {
    return {labels.data() + s.labels_begin, s.labels_count};
  }
  std::span<const Sample> SamplesOf(const Series& s) const {
    return {samples.data() + s.samples_begin, s.samples_count};
  }
  std::span<const HistogramSample> HistogramsOf(const Series& s) const {
    return {histograms.data() + s.histograms_begin, s.histograms_count};
  }
  std::span<const Exemplar> ExemplarsOf(const Series& s) const {
    return {exemplars.data() + s.exemplars_begin, s.exemplars_count};
  }
  std::span<const Label> LabelsOf(const Exemplar& e) const {
    return {exemplar_labels.data() + e.labels_begin, e.labels_count};
  }
  // The value of label `name` of series s, or an empty view.
  std::string_view LabelValue(const Series& s, std::string_view name) const;

  Protocol protocol = Protocol::kV1;
  uint64_t seq = 0;  // its record in the write-ahead log (durable queue); 0 when not logged
  std::string body;  // the uncompressed request; every view points into it

  std::vector<Series> series;  // accepted series only
  std::vector<Label> labels;
  std::vector<Sample> samples;
  std::vector<HistogramSample> histograms;
  std::vector<Exemplar> exemplars;
  std::vector<Label> exemplar_labels;
  std::vector<FamilyMetadata> metadata;

  // Series the decoder refused (bad labels, bad references); their data is not in the arrays above.
  uint32_t rejected_series = 0;
  std::string first_rejection;  // why the first one was refused
  // Series refused by each limit (counted in rejected_series too); at kSeriesPerRequest, 1 when the
  // decoder stopped because the request holds more series than allowed.
  std::array<uint32_t, kLimitCount> limit_hits{};
  // Exemplars left out because a label of theirs is not valid UTF-8 (their series is kept), and 1.0
  // metadata entries or 2.0 help/unit strings left out for the same reason (an entry whose family name
  // is invalid is dropped; an invalid help or unit is emptied, the rest of the entry kept).
  uint32_t invalid_utf8_exemplars = 0;
  uint32_t invalid_utf8_metadata = 0;

  // Scratch for the 2.0 decoder (its symbol table), kept here so its capacity is reused too.
  std::vector<std::string_view> symbols;
  std::vector<uint32_t> invalid_symbols;  // indices of symbols that are not valid UTF-8, ascending
};

}  // namespace prom2gcm

#endif  // PROM2GCM_SERVER_DECODED_REQUEST_H_
