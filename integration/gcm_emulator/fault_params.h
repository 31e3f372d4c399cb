// Reads a change of the injected faults from the parameters of POST /v1/faults (query string or
// form body):
//   latency_ms=N            added latency per gRPC call, in milliseconds (0 turns it off)
//   unavailable_ratio=R     share of calls answered UNAVAILABLE, 0..1
//   outage_seconds=S        every call UNAVAILABLE for the next S seconds (0 ends an outage)
//   outage_until=T          every call UNAVAILABLE until RFC 3339 time T ("" ends an outage)
//   reject_point_ratio=R    share of points rejected with INVALID_ARGUMENT, 0..1
// Parameters not given keep their value.
//
// A stateless free function; safe from any thread.
#ifndef PROM2GCM_INTEGRATION_GCM_EMULATOR_FAULT_PARAMS_H_
#define PROM2GCM_INTEGRATION_GCM_EMULATOR_FAULT_PARAMS_H_

#include <map>
#include <string>

#include "integration/gcm_emulator/emulator_time.h"
#include "integration/gcm_emulator/fault_injector.h"

namespace prom2gcm::emulator {

// Fills *update from `params`, with `now` as the wall clock for outage_seconds. Returns false with
// *error set on an unknown parameter or a bad value.
bool ParseFaultParams(const std::multimap<std::string, std::string>& params, TimeNs now, FaultUpdate* update,
                      std::string* error);

}  // namespace prom2gcm::emulator

#endif  // PROM2GCM_INTEGRATION_GCM_EMULATOR_FAULT_PARAMS_H_
