// Shared helpers of the fuzz targets.
#ifndef PROM2GCM_FUZZ_FUZZ_INPUT_H_
#define PROM2GCM_FUZZ_FUZZ_INPUT_H_

#include <snappy.h>

#include <cstddef>
#include <cstdint>
#include <string>

#include "server/decoded_request.h"

namespace prom2gcm::fuzz {

// The input uncompressed if it is valid snappy (as recorded payloads are), else the input itself.
inline std::string BodyFromInput(const uint8_t* data, size_t size) {
  const char* bytes = reinterpret_cast<const char*>(data);
  size_t length = 0;
  std::string body;
  if (snappy::GetUncompressedLength(bytes, size, &length) && length < (8 << 20) &&
      snappy::Uncompress(bytes, size, &body)) {
    return body;
  }
  return std::string(bytes, size);
}

// Reads every view and range of a decoded request, so AddressSanitizer sees any that points outside
// the body or the arrays.
inline void TouchEverything(const DecodedRequest& request) {
  volatile size_t sum = 0;
  for (const Series& s : request.series) {
    for (const Label& l : request.LabelsOf(s)) sum = sum + l.name.size() + (l.value.empty() ? 0 : l.value.back());
    for (const Sample& x : request.SamplesOf(s)) sum = sum + static_cast<size_t>(x.timestamp_ms);
    for (const HistogramSample& h : request.HistogramsOf(s)) sum = sum + h.encoded.size();
    for (const Exemplar& e : request.ExemplarsOf(s)) {
      for (const Label& l : request.LabelsOf(e)) sum = sum + l.name.size() + l.value.size();
    }
    sum = sum + s.help.size() + s.unit.size();
  }
  for (const FamilyMetadata& m : request.metadata) sum = sum + m.family_name.size() + m.help.size();
  (void)sum;
}

}  // namespace prom2gcm::fuzz

#endif  // PROM2GCM_FUZZ_FUZZ_INPUT_H_
