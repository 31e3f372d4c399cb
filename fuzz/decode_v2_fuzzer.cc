// libFuzzer target: the remote-write 2.0 decoder (symbol references, packed refs, metadata) on
// arbitrary bytes; valid snappy inputs are uncompressed first.
#include <cstddef>
#include <cstdint>

#include "fuzz/fuzz_input.h"
#include "server/remote_write_decoder.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  prom2gcm::DecodedRequest request;
  request.body = prom2gcm::fuzz::BodyFromInput(data, size);
  if (prom2gcm::DecodeRemoteWriteV2(&request) == nullptr) prom2gcm::fuzz::TouchEverything(request);
  return 0;
}
