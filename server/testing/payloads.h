// Helpers for tests: build remote-write payloads with the generated protobuf classes (an encoder
// independent of the decoder under test) and read files from the source tree.
#ifndef PROM2GCM_SERVER_TESTING_PAYLOADS_H_
#define PROM2GCM_SERVER_TESTING_PAYLOADS_H_

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include <google/protobuf/message_lite.h>

#include "io/prometheus/write/v2/types.pb.h"
#include "prometheus/remote.pb.h"

namespace prom2gcm::testing {

using LabelPairs = std::vector<std::pair<std::string, std::string>>;

// The Content-Types of remote-write 1.0 and 2.0 requests.
inline constexpr char kV1Type[] = "application/x-protobuf";
inline constexpr char kV2Type[] = "application/x-protobuf;proto=io.prometheus.write.v2.Request";

// The serialized message, snappy-compressed (block format) as remote-write sends it.
std::string SnappyCompress(const google::protobuf::MessageLite& message);
std::string SnappyCompress(const std::string& raw);

// Adds a 1.0 series with the given labels (in the given order) and (timestamp, value) samples.
::prometheus::prompb::TimeSeries* AddSeriesV1(::prometheus::prompb::WriteRequest* request, const LabelPairs& labels,
                                      const std::vector<std::pair<int64_t, double>>& samples);

// Builds 2.0 requests, interning strings into the symbol table (symbols[0] is "").
class V2Builder {
 public:
  V2Builder();
  uint32_t Symbol(const std::string& s);
  io::prometheus::write::v2::TimeSeries* AddSeries(const LabelPairs& labels,
                                                   const std::vector<std::pair<int64_t, double>>& samples);
  io::prometheus::write::v2::Request& request() { return request_; }

 private:
  io::prometheus::write::v2::Request request_;
};

double StaleMarker();

// The whole file at path relative to the source tree.
std::string ReadSourceFile(const std::string& relative_path);

}  // namespace prom2gcm::testing

#endif  // PROM2GCM_SERVER_TESTING_PAYLOADS_H_
