// Emulator is the whole GCM emulator in one object: the series store, fault injector and stats,
// the gRPC MetricService server (multi-threaded sync server) and the HTTP JSON API, each on its
// own listen address. main.cc runs one; tests start one in-process on 127.0.0.1:0.
//
// Owns every part. Thread-safety: Start() and Stop() from one thread; the accessors' objects lock
// internally and may be used from any thread while the emulator runs.
#ifndef PROM2GCM_INTEGRATION_GCM_EMULATOR_EMULATOR_H_
#define PROM2GCM_INTEGRATION_GCM_EMULATOR_EMULATOR_H_

#include <grpcpp/server.h>

#include <cstdint>
#include <memory>
#include <string>
#include <thread>

#include "integration/gcm_emulator/emulator_stats.h"
#include "integration/gcm_emulator/fault_injector.h"
#include "integration/gcm_emulator/http_api.h"
#include "integration/gcm_emulator/metric_service.h"
#include "integration/gcm_emulator/series_store.h"

namespace prom2gcm::emulator {

class Emulator {
 public:
  struct Options {
    std::string grpc_address = "127.0.0.1:9092";  // port 0 picks a free port
    std::string http_address = "127.0.0.1:9093";  // port 0 picks a free port
    TimeNs sampling_period = SeriesStore::kDefaultSamplingPeriod;
    bool sink = false;  // count requests and points, accept everything, store nothing
    FaultSettings faults;
    uint64_t fault_seed = 1;
    // Calls served at once on one client connection (HTTP/2 streams), as Google's front ends allow;
    // further calls wait in the client. 0: gRPC's default, no limit.
    int max_concurrent_streams = 100;
  };

  explicit Emulator(const Options& options);
  ~Emulator();

  Emulator(const Emulator&) = delete;
  Emulator& operator=(const Emulator&) = delete;

  // Starts both servers. Returns false with *error set if either cannot listen.
  bool Start(std::string* error);
  // Stops both servers, cancelling calls in flight. Idempotent.
  void Stop();

  // "host:port" with the chosen ports. REQUIRES: Start() succeeded.
  std::string grpc_endpoint() const;
  std::string http_endpoint() const;
  int grpc_port() const { return grpc_port_; }
  int http_port() const { return http_->port(); }

  SeriesStore& store() { return store_; }
  FaultInjector& faults() { return faults_; }
  EmulatorStats& stats() { return stats_; }

 private:
  bool StartGrpc(std::string* error);

  const Options options_;
  SeriesStore store_;
  FaultInjector faults_;
  EmulatorStats stats_;
  EmulatedMetricService service_;
  std::unique_ptr<grpc::Server> grpc_server_;
  int grpc_port_ = 0;
  std::unique_ptr<HttpApi> http_;
  std::thread http_thread_;
};

}  // namespace prom2gcm::emulator

#endif  // PROM2GCM_INTEGRATION_GCM_EMULATOR_EMULATOR_H_
