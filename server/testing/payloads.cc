#include "server/testing/payloads.h"

#include <snappy.h>

#include <cstring>
#include <fstream>
#include <sstream>
#include <stdexcept>

namespace prom2gcm::testing {

std::string SnappyCompress(const std::string& raw) {
  std::string compressed;
  snappy::Compress(raw.data(), raw.size(), &compressed);
  return compressed;
}

std::string SnappyCompress(const google::protobuf::MessageLite& message) {
  return SnappyCompress(message.SerializeAsString());
}

::prometheus::prompb::TimeSeries* AddSeriesV1(::prometheus::prompb::WriteRequest* request, const LabelPairs& labels,
                                      const std::vector<std::pair<int64_t, double>>& samples) {
  ::prometheus::prompb::TimeSeries* series = request->add_timeseries();
  for (const auto& [name, value] : labels) {
    ::prometheus::prompb::Label* label = series->add_labels();
    label->set_name(name);
    label->set_value(value);
  }
  for (const auto& [timestamp, value] : samples) {
    ::prometheus::prompb::Sample* sample = series->add_samples();
    sample->set_timestamp(timestamp);
    sample->set_value(value);
  }
  return series;
}

V2Builder::V2Builder() { request_.add_symbols(""); }

uint32_t V2Builder::Symbol(const std::string& s) {
  for (int i = 0; i < request_.symbols_size(); ++i) {
    if (request_.symbols(i) == s) return static_cast<uint32_t>(i);
  }
  request_.add_symbols(s);
  return static_cast<uint32_t>(request_.symbols_size() - 1);
}

io::prometheus::write::v2::TimeSeries* V2Builder::AddSeries(
    const LabelPairs& labels, const std::vector<std::pair<int64_t, double>>& samples) {
  io::prometheus::write::v2::TimeSeries* series = request_.add_timeseries();
  for (const auto& [name, value] : labels) {
    series->add_labels_refs(Symbol(name));
    series->add_labels_refs(Symbol(value));
  }
  for (const auto& [timestamp, value] : samples) {
    io::prometheus::write::v2::Sample* sample = series->add_samples();
    sample->set_timestamp(timestamp);
    sample->set_value(value);
  }
  return series;
}

double StaleMarker() {
  const uint64_t bits = 0x7ff0000000000002ULL;
  double value;
  std::memcpy(&value, &bits, sizeof value);
  return value;
}

std::string ReadSourceFile(const std::string& relative_path) {
  const std::string path = std::string(PROM2GCM_SOURCE_DIR) + "/" + relative_path;
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot read " + path);
  std::ostringstream contents;
  contents << in.rdbuf();
  return contents.str();
}

}  // namespace prom2gcm::testing
