// libFuzzer target: the remote-write 1.0 decoder on arbitrary bytes. Inputs that are valid snappy are
// uncompressed first, so the recorded payloads in testdata/ serve directly as seeds.
#include <cstddef>
#include <cstdint>

#include "fuzz/fuzz_input.h"
#include "server/remote_write_decoder.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  prom2gcm::DecodedRequest request;
  request.body = prom2gcm::fuzz::BodyFromInput(data, size);
  if (prom2gcm::DecodeRemoteWriteV1(&request) == nullptr) prom2gcm::fuzz::TouchEverything(request);
  return 0;
}
