// loadgen: replays the recorded remote-write payloads of testdata/ against an endpoint, pass after
// pass with shifted timestamps (see corpus.h), over N keep-alive connections (see replayer.h). This
// file parses flags, loads the corpus, prints a progress line on stderr once a second and a summary
// plus one machine-readable "loadgen_result ..." line on stdout. SIGINT/SIGTERM end the replay early.
// Exit status: 0 when every sample sent was acknowledged, 1 when the corpus does not load, 2 on bad
// flags, 3 when some samples were not acknowledged.
#include <pthread.h>
#include <signal.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <iostream>
#include <string>

#include "integration/loadgen/corpus.h"
#include "integration/loadgen/replayer.h"
#include "server/signals.h"

namespace prom2gcm::loadgen {
namespace {

struct Flags {
  std::string corpus = "testdata/v1";
  ReplayOptions options;
  int protocol = 1;
  std::string ordering = "series";
  std::string duration = "0";
  std::string end_ago = "0";
  std::string min_backoff = "30ms";
  std::string max_backoff = "1s";
  std::string timeout = "10s";
  bool skip_metadata = false;
};

void AddReplayFlags(CLI::App& app, Flags* flags) {
  ReplayOptions& options = flags->options;
  app.add_option("--corpus", flags->corpus,
                 "Folder of *.pb.snappy payloads replayed in name order (testdata/v1 or testdata/v2; a relative "
                 "path missing here is looked up in the source tree)")
      ->capture_default_str();
  app.add_option("--url", options.url, "Remote-write endpoint")->capture_default_str();
  app.add_option("--protocol", flags->protocol, "Remote-write protocol to send: 1 (1.0) or 2 (2.0)")
      ->capture_default_str()
      ->check(CLI::IsMember({1, 2}));
  app.add_option("--connections", options.connections, "Worker threads, one keep-alive connection each")
      ->capture_default_str()
      ->check(CLI::Range(1, 1024));
  app.add_option("--cardinality", options.cardinality,
                 "Replicas of every series, told apart by a loadgen_replica=\"0\"..\"K-1\" label (none when 1)")
      ->capture_default_str()
      ->check(CLI::Range(1, 1000000));
  app.add_option("--ordering", flags->ordering,
                 "series: a request waits for the earlier requests holding its series; pass: a pass waits for "
                 "the previous pass")
      ->capture_default_str()
      ->check(CLI::IsMember({"series", "pass"}));
  app.add_flag("--skip-metadata", flags->skip_metadata, "Do not send the corpus' metadata-only 1.0 requests first");
}

void AddLimitFlags(CLI::App& app, Flags* flags) {
  ReplayOptions& options = flags->options;
  app.add_option("--rate", options.rate, "Samples per second; 0 sends as fast as the endpoint answers")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  app.add_option("--duration", flags->duration, "Stop sending after this long, e.g. 30s; 0: no time limit")
      ->capture_default_str();
  app.add_option("--samples", options.sample_limit,
                 "Stop after the request that reaches this many samples sent; 0: no limit")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  app.add_option("--passes", options.passes,
                 "Passes over the corpus the time shift plans for, and the most that are sent; 0: derived from "
                 "--samples, --duration and --rate (one pass when no limit is given)")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  app.add_option("--end-ago", flags->end_ago,
                 "The last planned pass ends this long before now (e.g. 10m), so that a later run's passes are "
                 "newer than this run's")
      ->capture_default_str();
  app.add_option("--max-attempts", options.max_attempts, "Attempts per request on 5xx or connection errors")
      ->capture_default_str()
      ->check(CLI::Range(1, 1000));
  app.add_option("--min-backoff", flags->min_backoff, "Backoff before the first retry; doubles per retry")
      ->capture_default_str();
  app.add_option("--max-backoff", flags->max_backoff, "Longest backoff between retries")->capture_default_str();
  app.add_option("--timeout", flags->timeout, "Connect, read and write timeout of one attempt")->capture_default_str();
}

bool ParseDurationFlag(const std::string& name, const std::string& text, std::chrono::milliseconds* duration) {
  if (ParseDuration(text, duration)) return true;
  std::cerr << "--" << name << ": want a duration such as 30s or 100ms, got " << text << "\n";
  return false;
}

bool FinishOptions(Flags* flags) {
  ReplayOptions& options = flags->options;
  options.protocol = flags->protocol == 2 ? WireProtocol::kV2 : WireProtocol::kV1;
  options.ordering = flags->ordering == "pass" ? OrderingRule::kPass : OrderingRule::kSeries;
  options.send_metadata = !flags->skip_metadata;
  return ParseDurationFlag("duration", flags->duration, &options.duration) &&
         ParseDurationFlag("end-ago", flags->end_ago, &options.end_ago) &&
         ParseDurationFlag("min-backoff", flags->min_backoff, &options.min_backoff) &&
         ParseDurationFlag("max-backoff", flags->max_backoff, &options.max_backoff) &&
         ParseDurationFlag("timeout", flags->timeout, &options.timeout);
}

std::string ResolveCorpus(const std::string& dir) {
  const std::filesystem::path path(dir);
  if (std::filesystem::exists(path) || path.is_absolute()) return dir;
  const std::filesystem::path in_source_tree = std::filesystem::path(LOADGEN_SOURCE_DIR) / path;
  return std::filesystem::exists(in_source_tree) ? in_source_tree.string() : dir;
}

bool ShutdownRequested(const sigset_t& signals) {
  const timespec no_wait{0, 0};
  return sigtimedwait(&signals, nullptr, &no_wait) > 0;
}

void PrintProgress(const ReplayProgress& progress, int64_t* last_acked, double* last_elapsed) {
  const double interval = progress.elapsed_seconds - *last_elapsed;
  const double rate = interval > 0 ? static_cast<double>(progress.samples_acked - *last_acked) / interval : 0;
  std::fprintf(stderr, "\r[%7.1fs] acked %lld samples  %.0f samples/s  in-flight %lld  errors %lld   ",
               progress.elapsed_seconds, static_cast<long long>(progress.samples_acked), rate,
               static_cast<long long>(progress.in_flight), static_cast<long long>(progress.errors));
  std::fflush(stderr);
  *last_acked = progress.samples_acked;
  *last_elapsed = progress.elapsed_seconds;
}

// Runs the replay to its end, printing progress each second; a shutdown signal stops it early.
void Supervise(Replayer* replayer, const sigset_t& signals) {
  int64_t last_acked = 0;
  double last_elapsed = 0;
  auto next_progress = Clock::now() + std::chrono::seconds(1);
  while (!replayer->WaitFor(std::chrono::milliseconds(100))) {
    if (ShutdownRequested(signals)) replayer->Stop();
    if (Clock::now() < next_progress) continue;
    PrintProgress(replayer->Progress(), &last_acked, &last_elapsed);
    next_progress += std::chrono::seconds(1);
  }
  PrintProgress(replayer->Progress(), &last_acked, &last_elapsed);
  std::fprintf(stderr, "\n");
}

void PrintCorpus(const std::string& dir, const Corpus& corpus, const Flags& flags) {
  std::printf("corpus         %s: %zu sample requests, %lld samples per pass, %zu metadata requests (%s)\n",
              dir.c_str(), corpus.size(), static_cast<long long>(corpus.samples_per_pass()),
              corpus.metadata_requests().size(), corpus.format() == WireProtocol::kV1 ? "1.0" : "2.0");
  char rate[64] = "unlimited";
  if (flags.options.rate > 0) std::snprintf(rate, sizeof rate, "%g samples/s", flags.options.rate);
  std::printf("replay         protocol %d, cardinality %d, %d connections, ordering %s, rate %s\n", flags.protocol,
              flags.options.cardinality, flags.options.connections, flags.ordering.c_str(), rate);
}

// startup_cpu_seconds: loading the corpus and building the encoders, before the replay.
void PrintSummary(const ReplayResult& r, double startup_cpu_seconds) {
  const double acked_rate = r.elapsed_seconds > 0 ? static_cast<double>(r.samples_acked) / r.elapsed_seconds : 0;
  const double per_cpu = r.cpu_seconds > 0 ? static_cast<double>(r.samples_sent) / r.cpu_seconds : 0;
  std::printf("passes         %lld of %lld planned (stopped by %s)\n", static_cast<long long>(r.passes_started),
              static_cast<long long>(r.planned_passes), StopReasonName(r.stop_reason));
  std::printf("samples        sent %lld, acknowledged %lld (%.0f samples/s over %.3f s)\n",
              static_cast<long long>(r.samples_sent), static_cast<long long>(r.samples_acked), acked_rate,
              r.elapsed_seconds);
  std::printf("requests       %lld (retries %lld, connection errors %lld)\n", static_cast<long long>(r.requests),
              static_cast<long long>(r.retries), static_cast<long long>(r.connection_errors));
  std::printf("latency ms     p50 %.3f  p90 %.3f  p99 %.3f  max %.3f\n", r.p50_ms, r.p90_ms, r.p99_ms, r.max_ms);
  std::printf("responses     ");
  for (const auto& [status, count] : r.responses) std::printf(" %d: %lld", status, static_cast<long long>(count));
  std::printf("%s\n", r.responses.empty() ? " none" : "");
  std::printf("generator cpu  %.3f s (encoding %.3f s) = %.0f samples sent per CPU-second; startup %.3f s\n",
              r.cpu_seconds, r.encode_cpu_seconds, per_cpu, startup_cpu_seconds);
  std::printf("%s\n", FormatResultLine(r).c_str());
}

// CPU time of every thread of the process so far.
double ProcessCpuSeconds() { return static_cast<double>(std::clock()) / CLOCKS_PER_SEC; }

int Run(Flags flags) {
  if (!FinishOptions(&flags)) return 2;
  // Blocked in every thread started afterwards; the main loop polls for them.
  const sigset_t signals = prom2gcm::BlockSignals({SIGINT, SIGTERM});
  signal(SIGPIPE, SIG_IGN);
  const std::string dir = ResolveCorpus(flags.corpus);
  Corpus corpus;
  std::string error;
  if (!Corpus::Load(dir, &corpus, &error)) {
    std::cerr << "loadgen: " << error << "\n";
    return 1;
  }
  PrintCorpus(dir, corpus, flags);
  std::fflush(stdout);
  Replayer replayer(corpus, flags.options);
  if (!replayer.Start(&error)) {
    std::cerr << "loadgen: " << error << "\n";
    return 2;
  }
  Supervise(&replayer, signals);
  const ReplayResult result = replayer.Result();
  PrintSummary(result, ProcessCpuSeconds() - result.cpu_seconds);
  return result.samples_acked == result.samples_sent ? 0 : 3;
}

}  // namespace
}  // namespace prom2gcm::loadgen

int main(int argc, char** argv) {
  CLI::App app{"loadgen: replays recorded remote-write payloads against an endpoint"};
  prom2gcm::loadgen::Flags flags;
  prom2gcm::loadgen::AddReplayFlags(app, &flags);
  prom2gcm::loadgen::AddLimitFlags(app, &flags);
  CLI11_PARSE(app, argc, argv);
  return prom2gcm::loadgen::Run(flags);
}
