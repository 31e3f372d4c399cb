// Drives the Replayer against real in-process httplib servers on 127.0.0.1 that decode and count
// what arrives.
#include "integration/loadgen/replayer.h"

#include <gtest/gtest.h>
#include <httplib.h>
#include <snappy.h>

#include <map>
#include <set>
#include <sstream>
#include <thread>

namespace prom2gcm::loadgen {
namespace {

using namespace std::chrono_literals;

const Corpus& LoadCorpus(const std::string& relative_dir) {
  static std::map<std::string, Corpus>* corpora = new std::map<std::string, Corpus>;
  auto [it, inserted] = corpora->try_emplace(relative_dir);
  if (inserted) {
    std::string error;
    EXPECT_TRUE(Corpus::Load(std::string(PROM2GCM_SOURCE_DIR) + "/" + relative_dir, &it->second, &error)) << error;
  }
  return it->second;
}

// The samples sent when the request reaching `limit` is the last one: requests go in corpus order,
// every replica of a request before the next request.
int64_t SamplesUpToLimit(const Corpus& corpus, int cardinality, int64_t limit) {
  int64_t total = 0;
  for (size_t position = 0;; ++position) {
    for (int replica = 0; replica < cardinality; ++replica) {
      total += corpus.samples(position % corpus.size());
      if (total >= limit) return total;
    }
  }
}

// A remote-write endpoint that decodes every request and records each (series, timestamp) it
// accepts, noting duplicates and series that go back in time.
class RecordingServer {
 public:
  enum class Mode { kAccept, kFailFirstAttempt, kReject };

  explicit RecordingServer(Mode mode) : mode_(mode) {
    server_.Post("/api/v1/write", [this](const httplib::Request& request, httplib::Response& response) {
      response.status = Handle(request);
    });
    port_ = server_.bind_to_any_port("127.0.0.1");
    serving_ = std::thread([this] { server_.listen_after_bind(); });
    while (!server_.is_running()) std::this_thread::sleep_for(1ms);
  }
  ~RecordingServer() {
    server_.stop();
    serving_.join();
  }

  template <typename Read>
  auto Locked(Read read) const {
    std::lock_guard lock(mutex_);
    return read();
  }

  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_) + "/api/v1/write"; }
  int port() const { return port_; }

  int64_t samples() const {
    return Locked([this] { return samples_; });
  }
  int64_t duplicates() const {
    return Locked([this] { return duplicates_; });
  }
  int64_t out_of_order() const {
    return Locked([this] { return out_of_order_; });
  }
  int64_t metadata_entries() const {
    return Locked([this] { return metadata_entries_; });
  }
  int64_t series_with_metadata() const {
    return Locked([this] { return series_with_metadata_; });
  }
  std::set<std::string> header_values() const {
    return Locked([this] { return header_values_; });
  }

 private:
  int Handle(const httplib::Request& request) {
    std::lock_guard lock(mutex_);
    header_values_.insert(request.get_header_value("Content-Type") + " | " +
                          request.get_header_value("Content-Encoding") + " | " +
                          request.get_header_value("X-Prometheus-Remote-Write-Version"));
    if (mode_ == Mode::kReject) return 400;
    if (mode_ == Mode::kFailFirstAttempt && attempts_[request.body]++ == 0) return 503;
    std::string raw;
    if (!snappy::Uncompress(request.body.data(), request.body.size(), &raw)) return 400;
    const bool v2 =
        request.get_header_value("Content-Type").find("io.prometheus.write.v2.Request") != std::string::npos;
    return v2 ? RecordV2(raw) : RecordV1(raw);
  }

  int RecordV1(const std::string& raw) {
    ::prometheus::prompb::WriteRequest message;
    if (!message.ParseFromString(raw)) return 400;
    metadata_entries_ += message.metadata_size();
    for (const auto& series : message.timeseries()) {
      for (const auto& sample : series.samples()) RecordSample(SeriesKey(series), sample.timestamp());
    }
    return 204;
  }

  int RecordV2(const std::string& raw) {
    v2::Request message;
    if (!message.ParseFromString(raw) || message.symbols_size() == 0 || !message.symbols(0).empty()) return 400;
    for (const auto& series : message.timeseries()) {
      const std::string key = SeriesKey(message, series);
      for (const auto& sample : series.samples()) RecordSample(key, sample.timestamp());
      for (const auto& histogram : series.histograms()) RecordSample(key, histogram.timestamp());
      if (series.metadata().type() != v2::Metadata::METRIC_TYPE_UNSPECIFIED) ++series_with_metadata_;
    }
    return 204;
  }

  void RecordSample(const std::string& key, int64_t timestamp) {
    ++samples_;
    if (!seen_.insert({key, timestamp}).second) ++duplicates_;
    auto [last, first_time] = last_timestamp_.try_emplace(key, timestamp);
    if (!first_time && timestamp <= last->second) ++out_of_order_;
    last->second = std::max(last->second, timestamp);
  }

  const Mode mode_;
  httplib::Server server_;
  int port_ = 0;
  std::thread serving_;
  mutable std::mutex mutex_;
  std::map<std::string, int> attempts_;
  std::set<std::pair<std::string, int64_t>> seen_;
  std::map<std::string, int64_t> last_timestamp_;
  std::set<std::string> header_values_;
  int64_t samples_ = 0, duplicates_ = 0, out_of_order_ = 0, metadata_entries_ = 0, series_with_metadata_ = 0;
};

ReplayResult RunReplay(const Corpus& corpus, const ReplayOptions& options) {
  Replayer replayer(corpus, options);
  ReplayResult result;
  std::string error;
  EXPECT_TRUE(replayer.Run(&result, &error)) << error;
  return result;
}

// The value of key=... in the result line.
std::string Field(const std::string& line, const std::string& key) {
  std::istringstream words(line);
  std::string word;
  while (words >> word) {
    if (word.starts_with(key + "=")) return word.substr(key.size() + 1);
  }
  return "";
}

TEST(ReplayerTest, SendsExactlyTheSamplesUpToTheLimitInSeriesOrder) {
  RecordingServer server(RecordingServer::Mode::kAccept);
  const Corpus& corpus = LoadCorpus("testdata/v1");
  ReplayOptions options;
  options.url = server.url();
  options.cardinality = 2;
  options.connections = 4;
  options.sample_limit = 30000;  // two passes of 27100, the second one partial
  const ReplayResult result = RunReplay(corpus, options);

  const int64_t expected = SamplesUpToLimit(corpus, 2, 30000);
  EXPECT_EQ(result.samples_sent, expected);
  EXPECT_EQ(result.samples_acked, expected);
  EXPECT_EQ(server.samples(), expected);
  EXPECT_EQ(server.duplicates(), 0);
  EXPECT_EQ(server.out_of_order(), 0);
  EXPECT_EQ(server.metadata_entries(), 4024);  // every metadata request once (manifest.tsv)
  EXPECT_EQ(result.passes_started, 2);
  EXPECT_EQ(result.stop_reason, StopReason::kSampleLimit);
  EXPECT_EQ(result.StatusClass(2), result.requests);
  EXPECT_EQ(result.retries, 0);
  EXPECT_EQ(server.header_values(), std::set<std::string>({"application/x-protobuf | snappy | 0.1.0"}));
  EXPECT_GT(result.max_ms, 0);
}

// Two runs against one endpoint repeat each other's timestamps, unless the first one ends --end-ago
// before now: then every sample of the second is newer than the first's.
TEST(ReplayerTest, EndAgoLeavesRoomForALaterRun) {
  const Corpus& corpus = LoadCorpus("testdata/v1");
  ReplayOptions options;
  options.connections = 2;
  options.sample_limit = 10000;  // within one pass
  options.now_ms = 1'800'000'000'000;
  {
    RecordingServer server(RecordingServer::Mode::kAccept);
    options.url = server.url();
    RunReplay(corpus, options);
    RunReplay(corpus, options);
    EXPECT_GT(server.duplicates(), 0);
  }
  RecordingServer server(RecordingServer::Mode::kAccept);
  options.url = server.url();
  options.end_ago = 10min;
  RunReplay(corpus, options);
  options.end_ago = 0ms;
  RunReplay(corpus, options);
  EXPECT_EQ(server.samples(), 2 * SamplesUpToLimit(corpus, 1, 10000));
  EXPECT_EQ(server.duplicates(), 0);
  EXPECT_EQ(server.out_of_order(), 0);
}

TEST(ReplayerTest, RetriesDeliverEverySampleExactlyOnce) {
  RecordingServer server(RecordingServer::Mode::kFailFirstAttempt);
  const Corpus& corpus = LoadCorpus("testdata/v1");
  ReplayOptions options;
  options.url = server.url();
  options.sample_limit = 20000;   // one pass of 13550 and part of a second
  options.send_metadata = false;  // identical metadata bodies would share their first attempt
  options.min_backoff = 1ms;
  const ReplayResult result = RunReplay(corpus, options);

  const int64_t expected = SamplesUpToLimit(corpus, 1, 20000);
  EXPECT_EQ(server.samples(), expected);
  EXPECT_EQ(result.samples_acked, expected);
  EXPECT_EQ(result.samples_sent, expected);
  EXPECT_EQ(server.duplicates(), 0);
  EXPECT_EQ(server.out_of_order(), 0);
  EXPECT_EQ(result.passes_started, 2);
  // Every request: a 503, then a 204 on its one retry.
  EXPECT_EQ(result.StatusClass(5), result.requests / 2);
  EXPECT_EQ(result.StatusClass(2), result.requests / 2);
  EXPECT_EQ(result.retries, result.requests / 2);
  EXPECT_GT(result.requests, 2 * static_cast<int64_t>(corpus.size()));
}

TEST(ReplayerTest, ClientErrorsAreNotRetried) {
  RecordingServer server(RecordingServer::Mode::kReject);
  const Corpus& corpus = LoadCorpus("testdata/v1");
  ReplayOptions options;
  options.url = server.url();
  options.send_metadata = false;
  options.sample_limit = 1000;
  const ReplayResult result = RunReplay(corpus, options);

  EXPECT_EQ(result.samples_sent, SamplesUpToLimit(corpus, 1, 1000));
  EXPECT_EQ(result.samples_acked, 0);
  EXPECT_EQ(result.StatusClass(4), result.requests);
  EXPECT_EQ(result.requests, 4);  // 397 + 500 + 10 + 500 samples: the fourth request reaches 1000
}

TEST(ReplayerTest, ConnectionErrorsAreRetriedUpToMaxAttempts) {
  int closed_port = 0;
  {
    RecordingServer gone(RecordingServer::Mode::kAccept);
    closed_port = gone.port();
  }
  const Corpus& corpus = LoadCorpus("testdata/v1");
  ReplayOptions options;
  options.url = "http://127.0.0.1:" + std::to_string(closed_port) + "/api/v1/write";
  options.send_metadata = false;
  options.sample_limit = 1;  // one request
  options.max_attempts = 3;
  options.min_backoff = 1ms;
  const ReplayResult result = RunReplay(corpus, options);

  EXPECT_EQ(result.requests, 3);
  EXPECT_EQ(result.connection_errors, 3);
  EXPECT_EQ(result.retries, 2);
  EXPECT_EQ(result.samples_sent, corpus.samples(0));
  EXPECT_EQ(result.samples_acked, 0);
}

TEST(ReplayerTest, SendsTheV1CorpusAsV2WithMetadata) {
  RecordingServer server(RecordingServer::Mode::kAccept);
  const Corpus& corpus = LoadCorpus("testdata/v1");
  ReplayOptions options;
  options.url = server.url();
  options.protocol = WireProtocol::kV2;
  options.passes = 1;
  const ReplayResult result = RunReplay(corpus, options);

  EXPECT_EQ(server.samples(), corpus.samples_per_pass());
  EXPECT_EQ(result.samples_acked, corpus.samples_per_pass());
  EXPECT_EQ(server.metadata_entries(), 0);  // no 1.0 metadata requests with 2.0
  EXPECT_GT(server.series_with_metadata(), 10000);
  EXPECT_EQ(server.out_of_order(), 0);
  EXPECT_EQ(server.header_values(),
            std::set<std::string>({"application/x-protobuf;proto=io.prometheus.write.v2.Request | snappy | 2.0.0"}));
}

TEST(ReplayerTest, ReplaysTheV2CorpusWithReplicasAndPassOrdering) {
  RecordingServer server(RecordingServer::Mode::kAccept);
  const Corpus& corpus = LoadCorpus("testdata/v2");
  ReplayOptions options;
  options.url = server.url();
  options.protocol = WireProtocol::kV2;
  options.cardinality = 3;
  options.passes = 2;
  options.ordering = OrderingRule::kPass;
  const ReplayResult result = RunReplay(corpus, options);

  EXPECT_EQ(server.samples(), 2 * 3 * 110);
  EXPECT_EQ(result.samples_acked, 2 * 3 * 110);
  // testdata/v2's files are independent examples: 01, 06 and 07 share series and timestamps, 12
  // repeated samples per pass. Passes and replicas add none.
  EXPECT_EQ(server.duplicates(), 2 * 3 * 12);
}

TEST(ReplayerTest, RefusesToSendAV2CorpusAsV1) {
  Replayer replayer(LoadCorpus("testdata/v2"), ReplayOptions{});
  std::string error;
  EXPECT_FALSE(replayer.Start(&error));
  EXPECT_NE(error.find("protocol 2"), std::string::npos) << error;
}

TEST(ReplayerTest, RateAndDurationBoundTheReplay) {
  RecordingServer server(RecordingServer::Mode::kAccept);
  const Corpus& corpus = LoadCorpus("testdata/v1");
  ReplayOptions options;
  options.url = server.url();
  options.send_metadata = false;
  options.rate = 5000;
  options.duration = 400ms;
  const ReplayResult result = RunReplay(corpus, options);

  EXPECT_EQ(result.stop_reason, StopReason::kDeadline);
  EXPECT_LT(result.elapsed_seconds, 3.0);
  // Slots every 1/rate per sample: what went out before the deadline is at most 400 ms worth plus
  // the request in that slot.
  EXPECT_GT(result.samples_acked, 0);
  EXPECT_LE(result.samples_acked, 2000 + 500);
  EXPECT_EQ(server.samples(), result.samples_acked);
}

TEST(ReplayerTest, ResultLineHasEveryField) {
  ReplayResult result;
  result.samples_acked = 10;
  result.samples_sent = 12;
  result.requests = 3;
  result.responses = {{204, 2}, {503, 1}};
  result.connection_errors = 1;
  result.cpu_seconds = 0.25;
  result.p99_ms = 1.5;
  const std::string line = FormatResultLine(result);
  EXPECT_TRUE(line.starts_with("loadgen_result samples_acked=10 samples_sent=12 requests=3 p50_ms=")) << line;
  EXPECT_EQ(Field(line, "p99_ms"), "1.500");
  EXPECT_EQ(Field(line, "status_2xx"), "2");
  EXPECT_EQ(Field(line, "status_4xx"), "0");
  EXPECT_EQ(Field(line, "status_5xx"), "1");
  EXPECT_EQ(Field(line, "errors"), "1");
  EXPECT_EQ(Field(line, "cpu_seconds"), "0.250");
}

TEST(ReplayerTest, PlannedPassesFollowTheLimits) {
  ReplayOptions options;
  EXPECT_EQ(PlannedPasses(options, 100, 85000), 1);
  options.duration = 10s;
  EXPECT_EQ(PlannedPasses(options, 100, 85000), kMaxDataAgeMs / 85000);
  options.rate = 25;
  EXPECT_EQ(PlannedPasses(options, 100, 85000), 3);  // 250 samples
  options.sample_limit = 1001;
  EXPECT_EQ(PlannedPasses(options, 100, 85000), 11);
  options.passes = 4;
  EXPECT_EQ(PlannedPasses(options, 100, 85000), 4);
}

TEST(ReplayerTest, ParsesUrlsAndDurations) {
  std::string origin, path;
  ASSERT_TRUE(SplitUrl("http://127.0.0.1:9201/api/v1/write", &origin, &path));
  EXPECT_EQ(origin, "http://127.0.0.1:9201");
  EXPECT_EQ(path, "/api/v1/write");
  ASSERT_TRUE(SplitUrl("https://example.com", &origin, &path));
  EXPECT_EQ(path, "/");
  EXPECT_FALSE(SplitUrl("127.0.0.1:9201/api/v1/write", &origin, &path));
  EXPECT_FALSE(SplitUrl("ftp://host/x", &origin, &path));

  std::chrono::milliseconds duration;
  ASSERT_TRUE(ParseDuration("30s", &duration));
  EXPECT_EQ(duration, 30s);
  ASSERT_TRUE(ParseDuration("1500ms", &duration));
  EXPECT_EQ(duration, 1500ms);
  ASSERT_TRUE(ParseDuration("2m", &duration));
  EXPECT_EQ(duration, 120s);
  ASSERT_TRUE(ParseDuration("0", &duration));
  EXPECT_EQ(duration, 0ms);
  EXPECT_FALSE(ParseDuration("30", &duration));
  EXPECT_FALSE(ParseDuration("-1s", &duration));
  EXPECT_FALSE(ParseDuration("fast", &duration));
}

}  // namespace
}  // namespace prom2gcm::loadgen
