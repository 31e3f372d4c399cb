#include "server/decoded_request.h"

namespace prom2gcm {

const char* ProtocolName(Protocol protocol) { return protocol == Protocol::kV1 ? "1.0" : "2.0"; }

MetricType MetricTypeFromWire(uint64_t wire_value) {
  return wire_value <= static_cast<uint64_t>(MetricType::kStateset) ? static_cast<MetricType>(wire_value)
                                                                      : MetricType::kUnspecified;
}

const char* MetricTypeName(MetricType type) {
  switch (type) {
    case MetricType::kUnspecified: return "unspecified";
    case MetricType::kCounter: return "counter";
    case MetricType::kGauge: return "gauge";
    case MetricType::kHistogram: return "histogram";
    case MetricType::kGaugeHistogram: return "gaugehistogram";
    case MetricType::kSummary: return "summary";
    case MetricType::kInfo: return "info";
    case MetricType::kStateset: return "stateset";
  }
  return "unspecified";
}

void DecodedRequest::Clear() {
  seq = 0;
  // body keeps its bytes: it is only storage for the next request, which resizes it (views into it are
  // all cleared below). A resize from empty zero-filled the whole body before snappy overwrote it:
  // 2% of prom2gcm's instructions. Shrinking writes nothing, and growing fills only what is added.
  series.clear();
  labels.clear();
  samples.clear();
  histograms.clear();
  exemplars.clear();
  exemplar_labels.clear();
  metadata.clear();
  rejected_series = 0;
  first_rejection.clear();
  limit_hits.fill(0);
  invalid_utf8_exemplars = 0;
  invalid_utf8_metadata = 0;
  symbols.clear();
  invalid_symbols.clear();
}

std::string_view DecodedRequest::LabelValue(const Series& s, std::string_view name) const {
  for (const Label& label : LabelsOf(s)) {
    if (label.name == name) return label.value;
  }
  return {};
}

}  // namespace prom2gcm
