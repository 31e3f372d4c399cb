// Rejection is why the emulator refused a TimeSeries (or a whole request): the gRPC status code
// GCM answers with, a short machine-readable reason (the key of /v1/stats' points_rejected) and a
// message close to GCM's own wording.
//
// A plain value type.
#ifndef PROM2GCM_INTEGRATION_GCM_EMULATOR_REJECTION_H_
#define PROM2GCM_INTEGRATION_GCM_EMULATOR_REJECTION_H_

#include <grpcpp/support/status_code_enum.h>

#include <string>
#include <string_view>

namespace prom2gcm::emulator {

struct Rejection {
  grpc::StatusCode code = grpc::StatusCode::INVALID_ARGUMENT;
  std::string reason;
  std::string message;
};

inline Rejection InvalidArgument(std::string reason, std::string message) {
  return Rejection{grpc::StatusCode::INVALID_ARGUMENT, std::move(reason), std::move(message)};
}

// Client text for a message, cut to at most 128 bytes (at a UTF-8 character boundary) with "..."
// appended if cut, so that messages and the gRPC trailers carrying them stay small.
std::string Abbreviated(std::string_view text);

// Abbreviated(text) in double quotes.
inline std::string Quoted(std::string_view text) { return "\"" + Abbreviated(text) + "\""; }

}  // namespace prom2gcm::emulator

#endif  // PROM2GCM_INTEGRATION_GCM_EMULATOR_REJECTION_H_
