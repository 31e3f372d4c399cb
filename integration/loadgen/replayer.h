// Replayer replays a Corpus against a remote-write endpoint and measures how the endpoint keeps up.
// N worker threads, each with its own keep-alive httplib::Client (one connection), take requests from
// a RequestScheduler (replay order, ordering rule, rate limit, stop rules: see request_scheduler.h),
// encode them with an encoder borrowed from an EncoderPool (time shift and replica: see corpus.h and
// payload_encoder.h), POST them and record the outcome.
//
// Requests: POST with Content-Encoding: snappy and, for 1.0, Content-Type: application/x-protobuf and
// X-Prometheus-Remote-Write-Version: 0.1.0; for 2.0, Content-Type:
// application/x-protobuf;proto=io.prometheus.write.v2.Request and X-Prometheus-Remote-Write-Version:
// 2.0.0. The corpus' metadata-only requests go first, once, when sending 1.0 (2.0 carries the
// metadata in every series instead).
//
// Retries, as Prometheus does: a 5xx answer or a connection error is retried after a backoff that
// doubles from min_backoff up to max_backoff, up to max_attempts attempts in all; any other answer is
// final (2xx acknowledged, 4xx rejected). A request that is given up still releases the requests
// waiting for it. Latency is measured per answered attempt.
//
// Owns its worker threads, encoders, scheduler and statistics. Thread-safety: Start(), Wait(),
// WaitFor() and Result() are for one controlling thread; Stop() and Progress() may be called from any
// thread. The destructor stops the replay and joins the workers.
#ifndef PROM2GCM_INTEGRATION_LOADGEN_REPLAYER_H_
#define PROM2GCM_INTEGRATION_LOADGEN_REPLAYER_H_

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "integration/loadgen/corpus.h"
#include "integration/loadgen/latency_stats.h"
#include "integration/loadgen/payload_encoder.h"
#include "integration/loadgen/request_scheduler.h"

namespace httplib {
class Client;
}

namespace prom2gcm::loadgen {

struct ReplayOptions {
  std::string url = "http://127.0.0.1:9201/api/v1/write";
  WireProtocol protocol = WireProtocol::kV1;
  int connections = 4;
  int cardinality = 1;
  double rate = 0;                        // samples/s; 0: as fast as possible
  std::chrono::milliseconds duration{0};  // 0: no time limit
  int64_t sample_limit = 0;               // 0: none
  int64_t passes = 0;                     // 0: PlannedPasses() decides
  OrderingRule ordering = OrderingRule::kSeries;
  bool send_metadata = true;
  int max_attempts = 5;
  std::chrono::milliseconds min_backoff{30};
  std::chrono::milliseconds max_backoff{1000};
  std::chrono::milliseconds timeout{10000};  // connect, read and write timeout of one attempt
  int64_t now_ms = 0;                        // "now" of the time shift; 0: the wall clock at Start()
  // The last planned pass ends this long before now, so that a later run's passes are all newer
  // than this run's (a second replay into the same process is not refused as duplicates).
  std::chrono::milliseconds end_ago{0};
};

// With a flat-out --duration run the number of passes is unknown in advance; the time shift then
// plans for as many passes as fit in this much data time, so the oldest data stays under a day old
// (Cloud Monitoring refuses points older than 25 hours).
inline constexpr int64_t kMaxDataAgeMs = 24 * 3600 * 1000;

// The passes the time shift plans for (the run never goes past them): --passes if set; else enough
// for --samples; else enough for --duration at --rate; else kMaxDataAgeMs worth of corpus periods for
// a flat-out --duration run; else 1 (replay the corpus once).
int64_t PlannedPasses(const ReplayOptions& options, int64_t samples_per_pass, int64_t period_ms);

// Splits "http://host:port/path" into "http://host:port" and "/path" ("/" if absent). Accepts http
// and https. Returns false on anything else.
bool SplitUrl(const std::string& url, std::string* origin, std::string* path);

// Parses a duration such as "30s", "1500ms", "2m", "1h" or "0". Returns false on malformed input.
bool ParseDuration(const std::string& text, std::chrono::milliseconds* duration);

struct ReplayProgress {
  double elapsed_seconds = 0;
  int64_t samples_sent = 0;
  int64_t samples_acked = 0;
  int64_t in_flight = 0;  // requests handed out and not done
  int64_t errors = 0;     // attempts answered non-2xx or without an answer
};

struct ReplayResult {
  int64_t samples_sent = 0;   // samples of the requests sent at least once
  int64_t samples_acked = 0;  // samples of the requests answered 2xx
  int64_t requests = 0;       // HTTP requests made, retries included
  int64_t retries = 0;
  int64_t connection_errors = 0;                          // attempts that got no HTTP answer
  std::map<int, int64_t> responses;                       // attempts by HTTP status
  double p50_ms = 0, p90_ms = 0, p99_ms = 0, max_ms = 0;  // answered attempts
  double elapsed_seconds = 0;
  double cpu_seconds = 0;         // CPU time of the whole process from Start() to the end
  double encode_cpu_seconds = 0;  // of which encoding payloads
  int64_t passes_started = 0;
  int64_t planned_passes = 0;
  StopReason stop_reason = StopReason::kRunning;

  // Attempts answered with a status in [100 * digit, 100 * digit + 99].
  int64_t StatusClass(int digit) const;
};

// One line for scripts: "loadgen_result samples_acked=N samples_sent=N requests=N p50_ms=X p90_ms=X
// p99_ms=X max_ms=X status_2xx=N status_4xx=N status_5xx=N errors=N cpu_seconds=X" followed by
// "retries=N passes=N elapsed_seconds=X encode_cpu_seconds=X stop=REASON". errors counts attempts
// without an answer.
std::string FormatResultLine(const ReplayResult& result);

class Replayer {
 public:
  // `corpus` must outlive the Replayer.
  Replayer(const Corpus& corpus, const ReplayOptions& options);
  ~Replayer();
  Replayer(const Replayer&) = delete;
  Replayer& operator=(const Replayer&) = delete;

  // Checks the options, builds the encoders and starts the workers. Returns false with *error set.
  bool Start(std::string* error);
  // Wait for every worker to finish (WaitFor: at most `timeout`; returns whether they did).
  void Wait();
  bool WaitFor(std::chrono::milliseconds timeout);
  void Stop();

  ReplayProgress Progress() const;
  ReplayResult Result() const;  // REQUIRES: the replay finished

  // Start() + Wait() + Result().
  bool Run(ReplayResult* result, std::string* error);

 private:
  enum class Outcome { kAcked, kRetry, kRejected };
  struct Counts {
    int64_t samples_sent = 0;
    int64_t samples_acked = 0;
    int64_t requests = 0;
    int64_t retries = 0;
    int64_t connection_errors = 0;
    std::map<int, int64_t> responses;
    int64_t encode_cpu_ns = 0;
  };

  bool CheckOptions(std::string* error);  // also sets origin_ and path_
  void EncodeMetadata();
  std::unique_ptr<RequestScheduler> MakeScheduler() const;  // deadline counted from started_at_
  void WorkerLoop();
  std::string EncodeSamples(const Job& job);
  void Deliver(httplib::Client* client, const std::string& body, const Job& job);
  Outcome Attempt(httplib::Client* client, const std::string& body);
  std::chrono::milliseconds Backoff(int attempt) const;
  void WorkerFinished();

  const Corpus& corpus_;
  const ReplayOptions options_;
  std::string origin_;  // scheme://host:port
  std::string path_;
  int64_t planned_passes_ = 1;
  int64_t now_ms_ = 0;
  std::vector<std::string> metadata_bodies_;
  std::unique_ptr<EncoderPool> encoders_;
  std::unique_ptr<RequestScheduler> scheduler_;
  LatencyStats latency_;
  std::vector<std::thread> workers_;

  mutable std::mutex mutex_;
  std::condition_variable finished_;
  Counts counts_;                  // guarded by mutex_
  int running_workers_ = 0;        // guarded by mutex_
  Clock::time_point started_at_;   // set by Start()
  Clock::time_point finished_at_;  // guarded by mutex_
  double cpu_at_start_ = 0;        // set by Start()
  double cpu_at_finish_ = 0;       // guarded by mutex_
};

}  // namespace prom2gcm::loadgen

#endif  // PROM2GCM_INTEGRATION_LOADGEN_REPLAYER_H_
