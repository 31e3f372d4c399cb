#include "integration/loadgen/replayer.h"

#include <httplib.h>
#include <snappy.h>
#include <sys/resource.h>
#include <time.h>

#include <algorithm>
#include <cmath>
#include <cstdio>

namespace prom2gcm::loadgen {
namespace {

constexpr char kUserAgent[] = "prom2gcm-loadgen/0.1.0";

double ProcessCpuSeconds() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  auto seconds = [](const timeval& t) { return static_cast<double>(t.tv_sec) + t.tv_usec / 1e6; };
  return seconds(usage.ru_utime) + seconds(usage.ru_stime);
}

int64_t ThreadCpuNanos() {
  timespec now{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &now);
  return static_cast<int64_t>(now.tv_sec) * 1000000000 + now.tv_nsec;
}

int64_t WallClockMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

double Seconds(Clock::duration duration) { return std::chrono::duration<double>(duration).count(); }

int64_t CeilDiv(int64_t numerator, int64_t denominator) { return (numerator + denominator - 1) / denominator; }

const char* ContentType(WireProtocol protocol) {
  return protocol == WireProtocol::kV1 ? "application/x-protobuf"
                                       : "application/x-protobuf;proto=io.prometheus.write.v2.Request";
}

const char* VersionHeader(WireProtocol protocol) { return protocol == WireProtocol::kV1 ? "0.1.0" : "2.0.0"; }

void ConfigureClient(const ReplayOptions& options, httplib::Client* client) {
  client->set_keep_alive(true);
  client->set_tcp_nodelay(true);  // headers and body go out in separate writes: no Nagle delay
  client->set_connection_timeout(options.timeout);
  client->set_read_timeout(options.timeout);
  client->set_write_timeout(options.timeout);
}

}  // namespace

int64_t PlannedPasses(const ReplayOptions& options, int64_t samples_per_pass, int64_t period_ms) {
  if (options.passes > 0) return options.passes;
  if (options.sample_limit > 0) return CeilDiv(options.sample_limit, samples_per_pass);
  if (options.duration.count() > 0 && options.rate > 0) {
    const double samples = std::chrono::duration<double>(options.duration).count() * options.rate;
    return std::max<int64_t>(1, static_cast<int64_t>(std::ceil(samples / static_cast<double>(samples_per_pass))));
  }
  if (options.duration.count() > 0) return std::max<int64_t>(1, kMaxDataAgeMs / period_ms);
  return 1;
}

bool SplitUrl(const std::string& url, std::string* origin, std::string* path) {
  const size_t scheme_end = url.find("://");
  if (scheme_end == std::string::npos) return false;
  const std::string scheme = url.substr(0, scheme_end);
  if (scheme != "http" && scheme != "https") return false;
  const size_t path_start = url.find('/', scheme_end + 3);
  if (path_start == scheme_end + 3) return false;  // no host
  *origin = url.substr(0, path_start);
  *path = path_start == std::string::npos ? "/" : url.substr(path_start);
  return true;
}

bool ParseDuration(const std::string& text, std::chrono::milliseconds* duration) {
  double value = 0;
  int consumed = 0;
  if (std::sscanf(text.c_str(), "%lf%n", &value, &consumed) != 1 || !std::isfinite(value) || value < 0) return false;
  const std::string unit = text.substr(static_cast<size_t>(consumed));
  static const std::map<std::string, double> kMillisPerUnit = {{"ms", 1}, {"s", 1e3}, {"m", 60e3}, {"h", 3600e3}};
  const auto it = kMillisPerUnit.find(unit);
  if (it == kMillisPerUnit.end() && !(unit.empty() && value == 0)) return false;
  const double millis = unit.empty() ? 0 : value * it->second;
  *duration = std::chrono::milliseconds(static_cast<int64_t>(std::llround(millis)));
  return true;
}

int64_t ReplayResult::StatusClass(int digit) const {
  int64_t total = 0;
  for (const auto& [status, count] : responses) {
    if (status / 100 == digit) total += count;
  }
  return total;
}

std::string FormatResultLine(const ReplayResult& r) {
  char line[1024];
  std::snprintf(line, sizeof line,
                "loadgen_result samples_acked=%lld samples_sent=%lld requests=%lld p50_ms=%.3f p90_ms=%.3f "
                "p99_ms=%.3f max_ms=%.3f status_2xx=%lld status_4xx=%lld status_5xx=%lld errors=%lld "
                "cpu_seconds=%.3f retries=%lld passes=%lld elapsed_seconds=%.3f encode_cpu_seconds=%.3f stop=%s",
                static_cast<long long>(r.samples_acked), static_cast<long long>(r.samples_sent),
                static_cast<long long>(r.requests), r.p50_ms, r.p90_ms, r.p99_ms, r.max_ms,
                static_cast<long long>(r.StatusClass(2)), static_cast<long long>(r.StatusClass(4)),
                static_cast<long long>(r.StatusClass(5)), static_cast<long long>(r.connection_errors), r.cpu_seconds,
                static_cast<long long>(r.retries), static_cast<long long>(r.passes_started), r.elapsed_seconds,
                r.encode_cpu_seconds, StopReasonName(r.stop_reason));
  return line;
}

Replayer::Replayer(const Corpus& corpus, const ReplayOptions& options) : corpus_(corpus), options_(options) {}

Replayer::~Replayer() {
  if (scheduler_) scheduler_->Stop();
  for (std::thread& worker : workers_) worker.join();
}

bool Replayer::Start(std::string* error) {
  if (!CheckOptions(error)) return false;
  const int64_t samples_per_pass = corpus_.samples_per_pass() * options_.cardinality;
  planned_passes_ = PlannedPasses(options_, samples_per_pass, corpus_.time_range().period_ms());
  now_ms_ = (options_.now_ms != 0 ? options_.now_ms : WallClockMs()) - options_.end_ago.count();
  EncodeMetadata();
  const int cores = std::max(1, static_cast<int>(std::thread::hardware_concurrency()));
  encoders_ = std::make_unique<EncoderPool>(corpus_, options_.protocol, options_.cardinality,
                                            std::min(options_.connections, cores));
  started_at_ = Clock::now();
  cpu_at_start_ = ProcessCpuSeconds();
  scheduler_ = MakeScheduler();
  running_workers_ = options_.connections;
  for (int i = 0; i < options_.connections; ++i) workers_.emplace_back([this] { WorkerLoop(); });
  return true;
}

std::unique_ptr<RequestScheduler> Replayer::MakeScheduler() const {
  ScheduleLimits limits;
  limits.passes = planned_passes_;
  limits.sample_limit = options_.sample_limit;
  limits.rate = options_.rate;
  if (options_.duration.count() > 0) limits.deadline = started_at_ + options_.duration;
  return std::make_unique<RequestScheduler>(corpus_, metadata_bodies_.size(), options_.cardinality, options_.ordering,
                                            limits);
}

bool Replayer::CheckOptions(std::string* error) {
  if (options_.connections < 1 || options_.cardinality < 1 || options_.max_attempts < 1) {
    *error = "connections, cardinality and max attempts must be at least 1";
  } else if (options_.protocol == WireProtocol::kV1 && corpus_.format() == WireProtocol::kV2) {
    *error = "a 2.0 corpus can only be sent with protocol 2";
  } else if (!SplitUrl(options_.url, &origin_, &path_)) {
    *error = "not an http(s)://host[:port]/path URL: " + options_.url;
  } else if (!httplib::Client(origin_).is_valid()) {
    *error = "cpp-httplib cannot connect to " + origin_;
  } else {
    return true;
  }
  return false;
}

void Replayer::EncodeMetadata() {
  if (options_.protocol != WireProtocol::kV1 || !options_.send_metadata) return;
  for (const ::prometheus::prompb::WriteRequest& request : corpus_.metadata_requests()) {
    const std::string raw = request.SerializeAsString();
    std::string& body = metadata_bodies_.emplace_back();
    snappy::Compress(raw.data(), raw.size(), &body);
  }
}

void Replayer::Wait() {
  std::unique_lock lock(mutex_);
  finished_.wait(lock, [this] { return running_workers_ == 0; });
}

bool Replayer::WaitFor(std::chrono::milliseconds timeout) {
  std::unique_lock lock(mutex_);
  return finished_.wait_for(lock, timeout, [this] { return running_workers_ == 0; });
}

void Replayer::Stop() {
  if (scheduler_) scheduler_->Stop();
}

bool Replayer::Run(ReplayResult* result, std::string* error) {
  if (!Start(error)) return false;
  Wait();
  *result = Result();
  return true;
}

ReplayProgress Replayer::Progress() const {
  ReplayProgress progress;
  progress.in_flight = scheduler_ ? scheduler_->in_flight() : 0;
  std::lock_guard lock(mutex_);
  const Clock::time_point end = running_workers_ == 0 ? finished_at_ : Clock::now();
  progress.elapsed_seconds = Seconds(end - started_at_);
  progress.samples_sent = counts_.samples_sent;
  progress.samples_acked = counts_.samples_acked;
  progress.errors = counts_.connection_errors;
  for (const auto& [status, count] : counts_.responses) {
    if (status / 100 != 2) progress.errors += count;
  }
  return progress;
}

ReplayResult Replayer::Result() const {
  ReplayResult result;
  result.p50_ms = latency_.QuantileMs(0.50);
  result.p90_ms = latency_.QuantileMs(0.90);
  result.p99_ms = latency_.QuantileMs(0.99);
  result.max_ms = latency_.MaxMs();
  result.passes_started = scheduler_->passes_started();
  result.planned_passes = planned_passes_;
  result.stop_reason = scheduler_->stop_reason();
  std::lock_guard lock(mutex_);
  result.samples_sent = counts_.samples_sent;
  result.samples_acked = counts_.samples_acked;
  result.requests = counts_.requests;
  result.retries = counts_.retries;
  result.connection_errors = counts_.connection_errors;
  result.responses = counts_.responses;
  result.elapsed_seconds = Seconds(finished_at_ - started_at_);
  result.cpu_seconds = cpu_at_finish_ - cpu_at_start_;
  result.encode_cpu_seconds = counts_.encode_cpu_ns / 1e9;
  return result;
}

void Replayer::WorkerLoop() {
  httplib::Client client(origin_);
  ConfigureClient(options_, &client);
  Job job;
  while (scheduler_->Next(&job)) {
    if (scheduler_->WaitForSendTime(job)) {
      const std::string body = job.metadata ? metadata_bodies_[job.request] : EncodeSamples(job);
      Deliver(&client, body, job);
    }
    scheduler_->Done(job);
  }
  WorkerFinished();
}

std::string Replayer::EncodeSamples(const Job& job) {
  const int64_t shift_ms = PassShiftMs(corpus_.time_range(), now_ms_, job.pass, planned_passes_);
  const int64_t cpu_before = ThreadCpuNanos();
  std::unique_ptr<PayloadEncoder> encoder = encoders_->Acquire();
  std::string body = encoder->Encode(job.request, job.replica, shift_ms);
  encoders_->Release(std::move(encoder));
  const int64_t cpu_used = ThreadCpuNanos() - cpu_before;
  std::lock_guard lock(mutex_);
  counts_.encode_cpu_ns += cpu_used;
  return body;
}

void Replayer::Deliver(httplib::Client* client, const std::string& body, const Job& job) {
  {
    std::lock_guard lock(mutex_);
    counts_.samples_sent += job.samples;
  }
  for (int attempt = 1;; ++attempt) {
    const Outcome outcome = Attempt(client, body);
    if (outcome == Outcome::kAcked) {
      std::lock_guard lock(mutex_);
      counts_.samples_acked += job.samples;
      return;
    }
    if (outcome == Outcome::kRejected || attempt >= options_.max_attempts || scheduler_->stopped()) return;
    {
      std::lock_guard lock(mutex_);
      ++counts_.retries;
    }
    std::this_thread::sleep_for(Backoff(attempt));
  }
}

Replayer::Outcome Replayer::Attempt(httplib::Client* client, const std::string& body) {
  const httplib::Headers headers = {{"Content-Encoding", "snappy"},
                                    {"X-Prometheus-Remote-Write-Version", VersionHeader(options_.protocol)},
                                    {"User-Agent", kUserAgent}};
  const Clock::time_point start = Clock::now();
  const httplib::Result response = client->Post(path_, headers, body, ContentType(options_.protocol));
  const Clock::duration latency = Clock::now() - start;
  std::lock_guard lock(mutex_);
  ++counts_.requests;
  if (!response) {
    ++counts_.connection_errors;
    return Outcome::kRetry;
  }
  latency_.Record(latency);
  ++counts_.responses[response->status];
  if (response->status / 100 == 2) return Outcome::kAcked;
  return response->status / 100 == 5 ? Outcome::kRetry : Outcome::kRejected;
}

std::chrono::milliseconds Replayer::Backoff(int attempt) const {
  const int doublings = std::min(attempt - 1, 30);
  return std::min(options_.max_backoff, options_.min_backoff * (int64_t{1} << doublings));
}

void Replayer::WorkerFinished() {
  {
    std::lock_guard lock(mutex_);
    if (--running_workers_ > 0) return;
    finished_at_ = Clock::now();
    cpu_at_finish_ = ProcessCpuSeconds();
  }
  finished_.notify_all();
}

}  // namespace prom2gcm::loadgen
