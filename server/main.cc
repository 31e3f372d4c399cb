// prom2gcm: receives Prometheus remote-write and (with the exporter) writes it to Google Cloud
// Monitoring. This file parses flags, wires the parts together and handles signals.
#include <csignal>
#include <cstdlib>
#include <memory>
#include <string>
#include <thread>

#include <CLI/CLI.hpp>
#include <glog/logging.h>
#include <prometheus/registry.h>
#include <snappy.h>

#include "server/http_server.h"
#include "server/metadata_cache.h"
#include "server/series_sink.h"
#include "server/write_handler.h"

namespace prom2gcm {
namespace {

struct Flags {
  HttpServer::Options http;
  WriteHandler::Options write;
  size_t metadata_max_families = 100000;
};

// Until the exporter core is wired in, accepted series go nowhere: this runs the endpoint alone.
class DiscardingSink : public SeriesSink {
 public:
  AppendResult Append(const DecodedRequest&) override { return {}; }
};

void AddFlags(CLI::App& app, Flags* flags) {
  app.add_option("--web.listen-address", flags->http.listen_address,
                 "Address to listen on for remote-write, /metrics and health checks")
      ->capture_default_str();
  app.add_option("--web.max-uncompressed-bytes", flags->write.max_uncompressed_bytes,
                 "Largest uncompressed write request accepted; larger ones get 413")
      ->capture_default_str()
      ->check(CLI::Range(size_t{1024}, size_t{1} << 30));
  app.add_option("--web.worker-threads", flags->http.worker_threads, "HTTP worker threads")
      ->capture_default_str()
      ->check(CLI::Range(1, 1024));
  app.add_option("--web.read-timeout", flags->http.read_timeout_seconds,
                 "Seconds to wait for a request's bytes before closing the connection")
      ->capture_default_str()
      ->check(CLI::Range(1, 3600));
  app.add_option("--metadata.max-families", flags->metadata_max_families,
                 "Metric families whose remote-write 1.0 metadata is cached")
      ->capture_default_str();
}

// Blocks SIGTERM and SIGINT in every thread; WaitForShutdownSignal takes them synchronously.
sigset_t BlockShutdownSignals() {
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  return signals;
}

int Run(const Flags& flags) {
  const sigset_t shutdown_signals = BlockShutdownSignals();
  auto registry = std::make_shared<prometheus::Registry>();
  MetadataCache metadata(flags.metadata_max_families);
  DiscardingSink sink;
  WriteHandler handler(flags.write, &sink, &metadata, *registry);
  HttpServer::Options http = flags.http;
  // Snappy may make incompressible data slightly larger; allow for it so the 413 comes from the
  // declared-length check, which names the limit.
  http.max_body_bytes = snappy::MaxCompressedLength(flags.write.max_uncompressed_bytes);
  HttpServer server(http, &handler, registry);
  std::string error;
  if (!server.Bind(&error)) {
    LOG(ERROR) << error;
    return 1;
  }
  LOG(INFO) << "prom2gcm listening on " << flags.http.listen_address << " (port " << server.port() << ")";
  std::thread serving([&server] { server.Serve(); });

  int signal = 0;
  sigwait(&shutdown_signals, &signal);
  LOG(INFO) << "received signal " << signal << ", shutting down";
  server.set_ready(false);
  handler.set_accepting(false);
  server.Stop();
  serving.join();
  LOG(INFO) << "prom2gcm stopped";
  return 0;
}

}  // namespace
}  // namespace prom2gcm

int main(int argc, char** argv) {
  FLAGS_logtostderr = true;
  google::InitGoogleLogging(argv[0]);
  CLI::App app{"prom2gcm: a Prometheus remote-write endpoint that writes to Google Cloud Monitoring"};
  prom2gcm::Flags flags;
  prom2gcm::AddFlags(app, &flags);
  CLI11_PARSE(app, argc, argv);
  return prom2gcm::Run(flags);
}
