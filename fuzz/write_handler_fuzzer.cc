// libFuzzer target: the whole write handler (headers + body), as the HTTP server calls it. The first
// input byte picks the Content-Type and Content-Encoding; when its top bit is set the rest is snappy-
// compressed first, so the fuzzer reaches the decoders through a valid body as well as a broken one.
#include <snappy.h>

#include <cstddef>
#include <cstdint>
#include <string>

#include <prometheus/registry.h>

#include "server/metadata_cache.h"
#include "server/write_handler.h"

namespace {

class CheckingSink : public prom2gcm::SeriesSink {
 public:
  prom2gcm::AppendResult Append(const prom2gcm::DecodedRequest& request) override {
    // Refuse some requests so the 503 path runs too.
    return {request.series.size() % 7 != 3, "fuzz backpressure", 1};
  }
};

const char* const kContentTypes[] = {
    "application/x-protobuf",
    "application/x-protobuf;proto=io.prometheus.write.v2.Request",
    "application/x-protobuf; proto=prometheus.WriteRequest",
    "",
    "application/json",
    "application/x-protobuf;proto=unknown",
    "APPLICATION/X-PROTOBUF ; proto=\"io.prometheus.write.v2.Request\"",
    "application/x-protobuf;proto=",
};
const char* const kEncodings[] = {"snappy", "", "gzip", "SNAPPY"};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static prometheus::Registry registry;
  static CheckingSink sink;
  static prom2gcm::MetadataCache metadata(1000);
  static prom2gcm::WriteHandler handler(prom2gcm::WriteHandler::Options{.max_uncompressed_bytes = 4 << 20},
                                        &sink, &metadata, registry);
  if (size == 0) return 0;
  const uint8_t selector = data[0];
  std::string body(reinterpret_cast<const char*>(data + 1), size - 1);
  if (selector & 0x80) {
    std::string compressed;
    snappy::Compress(body.data(), body.size(), &compressed);
    body.swap(compressed);
  }
  const prom2gcm::WriteHttpResponse response =
      handler.Handle({kContentTypes[selector & 7], kEncodings[(selector >> 3) & 3], body});
  if (response.status < 200 || response.status >= 600) __builtin_trap();
  if (response.status >= 400 && response.body.empty()) __builtin_trap();  // every refusal says why
  if (response.body.find('\n') != std::string::npos) __builtin_trap();    // in one line
  return 0;
}
