// Decoders of the two remote-write wire formats into DecodedRequest, walking the uncompressed body
// in place (see wire_reader.h): no string is copied and nothing is allocated per sample.
//
// Both return nullptr when the body is well-formed protobuf, or a one-line reason when it is not (then
// nothing of it may be used). A well-formed body can still hold series that break the label rules or,
// in 2.0, refer past the symbol table: those are left out, counted in rejected_series, and the first
// reason is kept, so one bad series never costs the rest of its request. So are series over a
// per-series limit of `limits` (counted by limit in limit_hits); a request with more series than
// allowed stops decoding with limit_hits[kSeriesPerRequest] set and a reason returned.
#ifndef PROM2GCM_SERVER_REMOTE_WRITE_DECODER_H_
#define PROM2GCM_SERVER_REMOTE_WRITE_DECODER_H_

#include "server/decoded_request.h"

namespace prom2gcm {

// prometheus.WriteRequest (remote-write 1.0), from request->body.
const char* DecodeRemoteWriteV1(DecodedRequest* request, const WriteLimits& limits = WriteLimits{});

// io.prometheus.write.v2.Request (remote-write 2.0), from request->body.
const char* DecodeRemoteWriteV2(DecodedRequest* request, const WriteLimits& limits = WriteLimits{});

}  // namespace prom2gcm

#endif  // PROM2GCM_SERVER_REMOTE_WRITE_DECODER_H_
