// prom2gcm: receives Prometheus remote-write and (with the exporter) writes it to Google Cloud
// Monitoring. This file parses flags, wires the parts together and handles signals.
#include <cctype>
#include <chrono>
#include <csignal>
#include <iostream>
#include <cstdlib>
#include <memory>
#include <string>
#include <thread>

#include <CLI/CLI.hpp>
#include <absl/synchronization/mutex.h>
#include <glog/logging.h>
#include <prometheus/registry.h>
#include <snappy.h>

#include "exporter/delivery_check.h"
#include "exporter/durable_queue.h"
#include "exporter/exporter.h"
#include "exporter/gcm_client.h"
#include "exporter/send_journal.h"
#include "server/http_server.h"
#include "server/metadata_cache.h"
#include "server/series_sink.h"
#include "server/signals.h"
#include "server/write_handler.h"

namespace prom2gcm {
namespace {

struct Flags {
  HttpServer::Options http;
  WriteHandler::Options write;
  size_t metadata_max_families = 100000;
  Exporter::Options exporter;
  GcmClient::Options client;
  bool export_disabled = false;
  std::vector<std::string> match;
  std::string ha_failover_timeout = "30s";
  DurableQueue::Options storage;
  std::string flush_interval = "50ms", series_ttl = "10m", metadata_wait = "90s", sampling_period = "5s", histogram_wait = "15s",
              send_timeout = "30s", shutdown_timeout = "30s", group_commit_delay = "0ms";
};

// Parses a Prometheus-style duration ("50ms", "30s", "10m", "1h") into milliseconds; -1 if malformed.
int64_t ParseDurationMs(const std::string& text) {
  size_t digits = 0;
  while (digits < text.size() && std::isdigit(static_cast<unsigned char>(text[digits]))) ++digits;
  if (digits == 0 || digits > 12) return -1;
  const int64_t value = std::stoll(text.substr(0, digits));
  const std::string unit = text.substr(digits);
  if (unit == "ms") return value;
  if (unit == "s") return value * 1000;
  if (unit == "m") return value * 60 * 1000;
  if (unit == "h") return value * 60 * 60 * 1000;
  return -1;
}

// A CLI11 validator for durations.
const CLI::Validator kDuration(
    [](std::string& text) { return ParseDurationMs(text) < 0 ? "not a duration like 50ms, 30s, 10m: " + text : ""; },
    "DURATION");

int64_t Clock() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

void AddExportFlags(CLI::App& app, Flags* flags) {
  Exporter::Options& e = flags->exporter;
  GcmClient::Options& c = flags->client;
  app.add_option("--export.endpoint", c.endpoint, "Cloud Monitoring gRPC endpoint")->capture_default_str();
  app.add_flag("--export.insecure", c.insecure, "Plaintext gRPC without credentials (for the emulator)");
  app.add_option("--export.credentials-file", c.credentials_file,
                 "Service-account key file; default: Google Application Default Credentials");
  app.add_option("--export.compression", c.compression, "gzip or none")->capture_default_str();
  app.add_option("--export.channels", c.channels,
                 "gRPC connections to the endpoint, taken in turn (Google serves at most 100 calls at once on one)")
      ->capture_default_str()->check(CLI::Range(1, GcmClient::kMaxChannels));
  app.add_option("--export.timeout", flags->send_timeout, "Deadline of one CreateTimeSeries call")
      ->capture_default_str()->check(kDuration);
  app.add_flag("--export.disable", flags->export_disabled, "Run everything but the sends to Cloud Monitoring");
  app.add_option("--export.label.project-id", e.transform.project_id,
                 "project_id of series that carry no project_id label");
  app.add_option("--export.label.location", e.transform.location,
                 "location of series that carry no location label");
  app.add_option("--export.label.cluster", e.transform.cluster, "cluster of series that carry no cluster label");
  app.add_option("--export.untyped-as-counter", e.transform.untyped_as_counter,
                 "Also write untyped series as NAME/unknown:counter")->capture_default_str();
  app.add_option("--export.exemplars", e.transform.exemplars,
                 "Write histogram exemplars with their distribution points (trace_id/span_id as span context)")
      ->capture_default_str();
  app.add_option("--export.match", flags->match,
                 "Prometheus series selector, repeatable: export only series matching one of them "
                 "(e.g. '{job=\"node\", __name__=~\"node_cpu.*\"}')");
  app.add_option("--export.drop-label", e.transform.drop_labels,
                 "Label removed from every series' metric labels before export, repeatable");
  app.add_option("--export.sampling-period", flags->sampling_period,
                 "Least time between two points of a GCM series; sooner ones are dropped")
      ->capture_default_str()->check(kDuration);
  app.add_option("--export.shards", e.shards, "Number of shards")->capture_default_str()->check(CLI::Range(1, 1 << 20));
  app.add_option("--export.shard-capacity", e.shard_capacity, "Points a shard queues before writes get 503")
      ->capture_default_str()->check(CLI::Range(2, 1 << 24));
  app.add_option("--export.batch-size", e.max_batch, "Series per CreateTimeSeries call (GCM allows 200)")
      ->capture_default_str()->check(CLI::Range(1, 200));
  app.add_option("--export.flush-interval", flags->flush_interval, "How long a partial batch may wait")
      ->capture_default_str()->check(kDuration);
  app.add_option("--export.max-in-flight", e.max_in_flight, "CreateTimeSeries calls in flight at most")
      ->capture_default_str()->check(CLI::Range(1, 100000));
  app.add_option("--export.series-ttl", flags->series_ttl, "Evict series not seen for this long")
      ->capture_default_str()->check(kDuration);
  app.add_option("--export.metadata-wait", flags->metadata_wait,
                 "After start, how long series of unknown type wait (503) for remote-write 1.0 metadata")
      ->capture_default_str()->check(kDuration);
  app.add_option("--export.histogram-wait", flags->histogram_wait,
                 "How long a classic histogram's scrape waits for its missing _bucket/_sum/_count parts")
      ->capture_default_str()->check(kDuration);
  app.add_option("--ha.cluster-label", e.ha.cluster_label, "Label naming the cluster of an HA Prometheus pair")
      ->capture_default_str();
  app.add_option("--ha.replica-label", e.ha.replica_label,
                 "Label naming the replica; one replica per cluster is exported, and the label is removed")
      ->capture_default_str();
  app.add_option("--ha.failover-timeout", flags->ha_failover_timeout,
                 "Silence of the elected replica after which the next replica that writes takes over")
      ->capture_default_str()->check(kDuration);
  app.add_option("--shutdown.timeout", flags->shutdown_timeout, "On SIGTERM, how long to flush queued points")
      ->capture_default_str()->check(kDuration);
}

void ResolveDurations(Flags* flags) {
  flags->exporter.flush_interval_ms = ParseDurationMs(flags->flush_interval);
  flags->exporter.series_ttl_ms = ParseDurationMs(flags->series_ttl);
  flags->exporter.metadata_wait_ms = ParseDurationMs(flags->metadata_wait);
  flags->exporter.histogram_wait_ms = ParseDurationMs(flags->histogram_wait);
  flags->exporter.transform.sampling_period_ms = ParseDurationMs(flags->sampling_period);
  flags->exporter.transform.max_point_age_ms = prom2gcm::kGcmMaxPointAgeMs;
  flags->exporter.transform.max_point_future_ms = prom2gcm::kGcmMaxPointFutureMs;
  flags->client.timeout_ms = ParseDurationMs(flags->send_timeout);
  flags->storage.group_commit_delay_us = ParseDurationMs(flags->group_commit_delay) * 1000;
  flags->exporter.ha.failover_timeout_ms = ParseDurationMs(flags->ha_failover_timeout);
}

void AddLimitFlags(CLI::App& app, WriteHandler::Options* write) {
  WriteLimits& limits = write->limits;
  app.add_option("--web.max-series-per-request", limits.max_series_per_request,
                 "Series a write request may hold; more get 413")
      ->capture_default_str()->check(CLI::Range(1u, 100000000u));
  app.add_option("--web.max-labels-per-series", limits.max_labels_per_series,
                 "Labels a series may have, __name__ included; a series with more is refused (400)")
      ->capture_default_str()->check(CLI::Range(1u, 100000u));
  app.add_option("--web.max-label-name-length", limits.max_label_name_bytes,
                 "Bytes a label name may have; a series with a longer one is refused (400)")
      ->capture_default_str()->check(CLI::Range(1u, 1u << 24));
  app.add_option("--web.max-label-value-length", limits.max_label_value_bytes,
                 "Bytes a label value may have; a series with a longer one is refused (400)")
      ->capture_default_str()->check(CLI::Range(1u, 1u << 24));
  app.add_option("--web.max-in-flight-writes", write->max_in_flight_writes,
                 "Write requests handled at once; more are answered 503 with Retry-After")
      ->capture_default_str()->check(CLI::Range(1u, 100000u));
  app.add_option("--web.slow-down-status", write->slow_down_status,
                 "Status asking senders to slow down (queues or log full): 503, or 429 for senders that retry "
                 "429 (Prometheus' retry_on_http_429)")
      ->capture_default_str()->check(CLI::IsMember({503, 429}));
}

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
                 "Seconds a request may take to arrive in full, from its first byte (plain HTTP; with TLS, "
                 "per read); then the connection is closed")
      ->capture_default_str()
      ->check(CLI::Range(1, 3600));
  AddLimitFlags(app, &flags->write);
  app.add_option("--web.bearer-token-file", flags->http.auth.bearer_token_file,
                 "File holding the bearer token writes must carry (re-read on SIGHUP)");
  app.add_option("--web.basic-auth-file", flags->http.auth.basic_auth_file,
                 "File of `user: bcrypt-hash` lines, as Prometheus' web config basic_auth_users; writes must "
                 "carry one of these users (re-read on SIGHUP)");
  app.add_option("--web.tls-cert-file", flags->http.tls_cert_file,
                 "PEM certificate (then any intermediates) to serve HTTPS with; needs --web.tls-key-file "
                 "(both re-read on SIGHUP)");
  app.add_option("--web.tls-key-file", flags->http.tls_key_file, "PEM private key of --web.tls-cert-file");
  app.add_flag("--web.auth-metrics-and-health", flags->http.auth_metrics_and_health,
               "Also require the credentials on /metrics, /-/healthy and /-/ready");
  app.add_option("--metadata.max-families", flags->metadata_max_families,
                 "Metric families whose remote-write 1.0 metadata is cached")
      ->capture_default_str();
  AddExportFlags(app, flags);
  app.add_option("--storage.path", flags->storage.dir,
                 "Directory of the durable queue: accepted writes are logged there before they are answered, "
                 "and replayed after a restart until Cloud Monitoring confirmed them. Empty: memory only")
      ->capture_default_str();
  app.add_option("--storage.max-bytes", flags->storage.max_bytes,
                 "Disk the durable queue's log may use; past it writes are answered 503")
      ->capture_default_str()
      ->check(CLI::Range(size_t{1} << 20, size_t{1} << 50));
  app.add_option("--storage.group-commit-delay", flags->group_commit_delay,
                 "How long the log waits before each fdatasync to gather more write requests into it "
                 "(group commit; requests arriving during an fdatasync share the next one anyway)")
      ->capture_default_str()
      ->check(kDuration);
}

// Hands every request the durable queue kept from the last run to the exporter again, waiting
// while the exporter's queues are full.
void ReplayDurableQueue(DurableQueue* queue, WriteHandler* handler) {
  const size_t replayed = queue->Replay([handler](uint64_t seq, Protocol protocol, std::string_view body) {
    for (int attempt = 0;; ++attempt) {
      const WriteHttpResponse response = handler->Redeliver(seq, protocol, body);
      if (response.status != 503 && response.status != 429) break;
      LOG_EVERY_N(INFO, 50) << "replay waits for the export queues: " << response.body;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
  });
  LOG(INFO) << "durable queue: replayed " << replayed << " unconfirmed write requests";
}

// Reloads the server's files on each SIGHUP; returns the signal that asks for shutdown.
int WaitForShutdown(const sigset_t& signals, HttpServer& server) {
  while (true) {
    int signal = 0;
    sigwait(&signals, &signal);
    if (signal != SIGHUP) return signal;
    std::string error;
    if (server.Reload(&error)) {
      LOG(INFO) << "SIGHUP: reloaded credential and TLS files"
                << (server.tls() ? "; serving certificate " + server.TlsSubject() : "");
    } else {
      LOG(ERROR) << "SIGHUP: reload failed, keeping what was loaded before: " << error;
    }
  }
}

int Run(const Flags& flags) {
  const sigset_t handled_signals = BlockSignals({SIGTERM, SIGINT, SIGHUP});  // WaitForShutdown takes them
  auto registry = std::make_shared<prometheus::Registry>();
  MetadataCache metadata(flags.metadata_max_families);
  std::string error;
  std::unique_ptr<GcmClient> client;
  if (!flags.export_disabled) {
    client = GcmClient::Create(flags.client, &error);
    if (!client) {
      LOG(ERROR) << error;
      return 1;
    }
  }
  LOG_IF(WARNING, flags.exporter.transform.project_id.empty() || flags.exporter.transform.location.empty())
      << "--export.label.project-id or --export.label.location is not set: series that do not carry "
         "project_id and location labels are dropped (prom2gcm_exporter_series_dropped_total)";
  // Declared first: they outlive the exporter, which uses them.
  std::unique_ptr<DurableQueue> queue;
  std::unique_ptr<SendJournal> journal;
  std::unique_ptr<DeliveryChecker> checker;
  if (!flags.storage.dir.empty()) {
    queue = DurableQueue::Open(flags.storage, Clock, *registry, &error);
    SendJournal::Options journal_options;
    journal_options.dir = flags.storage.dir;
    if (queue) journal = SendJournal::Open(journal_options, Clock, &error);
    if (!queue || !journal) {
      LOG(ERROR) << "--storage.path: " << error;
      return 1;
    }
    if (client) checker = std::make_unique<GcmDeliveryChecker>(client->channel(), client->options().timeout_ms);
  }
  Exporter exporter(flags.exporter, client.get(), &metadata, Clock, *registry);
  if (queue) {
    exporter.set_ledger(queue->ledger());
    exporter.set_send_journal(journal.get(), checker.get());
  }
  exporter.Start();
  WriteHandler handler(flags.write, &exporter, &metadata, *registry);
  if (queue) {
    const std::string snapshot = queue->ReadSnapshot("metadata");
    LOG_IF(WARNING, !snapshot.empty() && !metadata.Restore(snapshot)) << "durable queue: metadata snapshot unreadable";
    queue->KeepSnapshot("metadata", [&metadata] { return metadata.version(); },
                        [&metadata] { return metadata.Snapshot(); });
    ReplayDurableQueue(queue.get(), &handler);
    handler.set_request_log(queue.get());
  }
  HttpServer::Options http = flags.http;
  // Snappy may make incompressible data slightly larger; allow for it so the 413 comes from the
  // declared-length check, which names the limit.
  http.max_body_bytes = snappy::MaxCompressedLength(flags.write.max_uncompressed_bytes);
  HttpServer server(http, &handler, registry);
  if (!server.Bind(&error)) {
    LOG(ERROR) << error;
    return 1;
  }
  LOG(INFO) << "prom2gcm listening on " << flags.http.listen_address << " (port " << server.port() << "), exporting to "
            << (flags.export_disabled ? "nowhere (--export.disable)" : flags.client.endpoint);
  LOG_IF(INFO, server.tls()) << "serving HTTPS with certificate " << server.TlsSubject();
  LOG_IF(INFO, !flags.http.auth.bearer_token_file.empty() || !flags.http.auth.basic_auth_file.empty())
      << "writes" << (flags.http.auth_metrics_and_health ? ", /metrics and health checks" : "")
      << " need credentials";
  std::thread serving([&server] { server.Serve(); });

  const int signal = WaitForShutdown(handled_signals, server);
  LOG(INFO) << "received signal " << signal << ", shutting down";
  server.set_ready(false);
  handler.set_accepting(false);  // from now on writes are answered 503: nothing new is acknowledged
  const bool flushed = exporter.Shutdown(Clock() + ParseDurationMs(flags.shutdown_timeout));
  LOG_IF(WARNING, !flushed) << "shutdown timeout reached with " << exporter.PendingPoints()
                            << " points not delivered";
  server.Stop();
  serving.join();
  const Exporter::Totals totals = exporter.totals();
  LOG(INFO) << "prom2gcm stopped: points queued=" << totals.queued << " sent=" << totals.sent
            << " failed=" << totals.failed << " undelivered=" << exporter.PendingPoints();
  return 0;
}

}  // namespace
}  // namespace prom2gcm

int main(int argc, char** argv) {
  FLAGS_logtostderr = true;
  google::InitGoogleLogging(argv[0]);
  // Debian's Abseil keeps deadlock detection on: every absl::Mutex acquisition (gRPC's, on each call
  // and completion) updates a lock-order graph (GraphCycles, about 1% of the CPU under load).
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  CLI::App app{"prom2gcm: a Prometheus remote-write endpoint that writes to Google Cloud Monitoring"};
  prom2gcm::Flags flags;
  prom2gcm::AddFlags(app, &flags);
  CLI11_PARSE(app, argc, argv);
  prom2gcm::ResolveDurations(&flags);
  if (!flags.match.empty()) {
    std::string error;
    flags.exporter.transform.filter = prom2gcm::SeriesFilter::Parse(flags.match, &error);
    if (!flags.exporter.transform.filter) {
      std::cerr << "--export.match: " << error << "\n";
      return 2;
    }
  }
  return prom2gcm::Run(flags);
}
