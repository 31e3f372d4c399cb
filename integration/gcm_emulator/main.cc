// gcm-emulator: an emulator of Google Cloud Monitoring's MetricService (CreateTimeSeries with
// GCM's rules, ListTimeSeries) for tests and for users without a cloud account, with an HTTP JSON
// API to inspect what was written and inject faults. This file parses flags, starts the emulator,
// prints the chosen ports on the first line of stdout and waits for SIGTERM or SIGINT.
#include <glog/logging.h>

#include <CLI/CLI.hpp>
#include <csignal>
#include <iostream>
#include <string>

#include "integration/gcm_emulator/emulator.h"
#include "integration/gcm_emulator/emulator_time.h"
#include "server/signals.h"

namespace prom2gcm::emulator {
namespace {

struct Flags {
  Emulator::Options options;
  std::string sampling_period = "5s";
  double outage_seconds = 0;
};

void AddServerFlags(CLI::App& app, Flags* flags) {
  app.add_option("--grpc.listen-address", flags->options.grpc_address,
                 "Address of the gRPC MetricService (port 0 picks a free port)")
      ->capture_default_str();
  app.add_option("--web.listen-address", flags->options.http_address,
                 "Address of the HTTP JSON API (port 0 picks a free port)")
      ->capture_default_str();
  app.add_option("--sampling-period", flags->sampling_period,
                 "Shortest time between two points of a series, e.g. 5s or 10ms")
      ->capture_default_str();
  app.add_option("--grpc.max-concurrent-streams", flags->options.max_concurrent_streams,
                 "Calls served at once on one client connection, 100 as at Google's front ends (0: no limit)")
      ->capture_default_str()
      ->check(CLI::Range(0, 1 << 20));
  app.add_flag("--sink", flags->options.sink,
               "Only count requests and points: accept everything, check and store nothing");
}

void AddFaultFlags(CLI::App& app, Flags* flags) {
  FaultSettings& faults = flags->options.faults;
  app.add_option("--fault.latency-ms", faults.latency_ms, "Latency added to every gRPC call, in ms")
      ->capture_default_str()
      ->check(CLI::Range(int64_t{0}, int64_t{3600000}));
  app.add_option("--fault.unavailable-ratio", faults.unavailable_ratio,
                 "Share of gRPC calls answered UNAVAILABLE, 0..1")
      ->capture_default_str()
      ->check(CLI::Range(0.0, 1.0));
  app.add_option("--fault.outage-seconds", flags->outage_seconds,
                 "Answer every gRPC call UNAVAILABLE for this many seconds after start")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  app.add_option("--fault.reject-point-ratio", faults.reject_point_ratio,
                 "Share of points rejected with INVALID_ARGUMENT, 0..1")
      ->capture_default_str()
      ->check(CLI::Range(0.0, 1.0));
  app.add_option("--fault.seed", flags->options.fault_seed, "Seed of the fault injector's random draws")
      ->capture_default_str();
}

int Run(Flags flags) {
  if (!ParseDuration(flags.sampling_period, &flags.options.sampling_period)) {
    std::cerr << "--sampling-period: want a duration such as 5s or 100ms, got " << flags.sampling_period << "\n";
    return 2;
  }
  if (flags.outage_seconds > 0) {
    flags.options.faults.outage_until = WallClockNow() + static_cast<TimeNs>(flags.outage_seconds * kNanosPerSecond);
  }
  const sigset_t shutdown_signals = prom2gcm::BlockSignals({SIGTERM, SIGINT});  // sigwait takes them
  Emulator emulator(flags.options);
  std::string error;
  if (!emulator.Start(&error)) {
    LOG(ERROR) << error;
    return 1;
  }
  std::cout << "gcm-emulator grpc=" << emulator.grpc_endpoint() << " http=" << emulator.http_endpoint() << std::endl;
  LOG(INFO) << "gcm-emulator serving" << (flags.options.sink ? " in sink mode" : "");
  int signal = 0;
  sigwait(&shutdown_signals, &signal);
  LOG(INFO) << "received signal " << signal << ", shutting down";
  emulator.Stop();
  return 0;
}

}  // namespace
}  // namespace prom2gcm::emulator

int main(int argc, char** argv) {
  FLAGS_logtostderr = true;
  google::InitGoogleLogging(argv[0]);
  CLI::App app{"gcm-emulator: an emulator of Google Cloud Monitoring's CreateTimeSeries and ListTimeSeries"};
  prom2gcm::emulator::Flags flags;
  prom2gcm::emulator::AddServerFlags(app, &flags);
  prom2gcm::emulator::AddFaultFlags(app, &flags);
  CLI11_PARSE(app, argc, argv);
  return prom2gcm::emulator::Run(flags);
}
