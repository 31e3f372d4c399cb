// HttpApi is the emulator's HTTP JSON face (cpp-httplib), on its own port:
//   GET    /v1/timeseries[?metric_type=T][&filter=F]  stored series and points (json_views.h)
//   DELETE /v1/timeseries                             forgets all series and metric descriptors
//   GET    /v1/stats                                  request and point counters
//   GET    /v1/faults                                 the injected faults in force
//   POST   /v1/faults?PARAMS                          changes them (fault_params.h); answers GET's JSON
//   DELETE /v1/faults                                 turns every fault off
//   GET    /-/ready, GET /-/healthy                   200 while serving
//
// Owns the httplib server and its worker pool; borrows the store, fault injector and stats.
// Thread-safety: Serve() blocks in one thread; Stop() may be called from any other. Handlers run
// on the worker threads and touch shared state only through its locking methods.
#ifndef PROM2GCM_INTEGRATION_GCM_EMULATOR_HTTP_API_H_
#define PROM2GCM_INTEGRATION_GCM_EMULATOR_HTTP_API_H_

#include <memory>
#include <string>

#include "integration/gcm_emulator/emulator_stats.h"
#include "integration/gcm_emulator/fault_injector.h"
#include "integration/gcm_emulator/series_store.h"

namespace httplib {
class Server;
}

namespace prom2gcm::emulator {

class HttpApi {
 public:
  HttpApi(bool sink, SeriesStore* store, FaultInjector* faults, EmulatorStats* stats);
  ~HttpApi();

  HttpApi(const HttpApi&) = delete;
  HttpApi& operator=(const HttpApi&) = delete;

  // Binds "host:port"; port 0 picks a free port (see port()). Returns false with *error set.
  bool Bind(const std::string& address, std::string* error);
  int port() const { return port_; }
  bool is_running() const;
  void Serve();  // REQUIRES: Bind() succeeded. Returns after Stop().
  void Stop();

 private:
  void RouteData();
  void RouteFaults();
  void RouteHealth();

  const bool sink_;
  SeriesStore* const store_;
  FaultInjector* const faults_;
  EmulatorStats* const stats_;
  std::unique_ptr<httplib::Server> server_;
  int port_ = 0;
};


}  // namespace prom2gcm::emulator

#endif  // PROM2GCM_INTEGRATION_GCM_EMULATOR_HTTP_API_H_
