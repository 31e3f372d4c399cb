#include "exporter/exporter.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <map>
#include <set>
#include <thread>
#include <tuple>

#include "google/monitoring/v3/metric_service.pb.h"
#include "server/remote_write_decoder.h"
#include "server/testing/payloads.h"

namespace prom2gcm {
namespace {

using google::monitoring::v3::CreateTimeSeriesRequest;

// Records every call; the test completes them when it chooses.
class FakeSender : public BatchSender {
 public:
  struct Call {
    std::string project;
    CreateTimeSeriesRequest request;
    std::function<void(SendResult)> done;
  };
  void Send(const std::string& project, std::shared_ptr<const std::string> time_series, int points,
            std::function<void(SendResult)> done) override {
    Call call{project, {}, std::move(done)};
    EXPECT_TRUE(call.request.ParseFromString(*time_series));
    EXPECT_EQ(call.request.time_series_size(), points);
    std::lock_guard lock(mutex);
    calls.push_back(std::move(call));
  }
  // Completes call i successfully if it exists yet; safe from another thread.
  bool CompleteFromAnotherThread(size_t i) {
    std::function<void(SendResult)> done;
    SendResult result;
    {
      std::lock_guard lock(mutex);
      if (i >= calls.size()) return false;
      done = calls[i].done;
      result.succeeded = calls[i].request.time_series_size();
    }
    done(result);
    return true;
  }
  std::mutex mutex;
  void Complete(size_t i, SendResult::Outcome outcome = SendResult::Outcome::kOk) {
    SendResult result;
    result.outcome = outcome;
    if (outcome == SendResult::Outcome::kOk) result.succeeded = calls[i].request.time_series_size();
    calls[i].done(result);
  }
  std::vector<Call> calls;
};

class ExporterTest : public ::testing::Test {
 protected:
  void Make(Exporter::Options options = Options()) {
    exporter_ = std::make_unique<Exporter>(options, &sender_, &metadata_, [this] { return now_; }, registry_);
  }
  static Exporter::Options Options() {
    Exporter::Options options;
    options.shards = 16;
    options.metadata_wait_ms = 0;
    options.transform.project_id = "p";
    options.transform.location = "l";
    return options;
  }
  // Appends a 1.0 request of gauges "g<i>" for i in [first, last), each with the given samples.
  AppendResult AppendGauges(int first, int last, std::vector<std::pair<int64_t, double>> samples) {
    ::prometheus::prompb::WriteRequest message;
    for (int i = first; i < last; ++i) {
      testing::AddSeriesV1(&message, {{"__name__", "g" + std::to_string(i)}}, samples);
    }
    return AppendMessage(message);
  }
  AppendResult AppendMessage(const ::prometheus::prompb::WriteRequest& message, uint64_t seq = 0) {
    DecodedRequest request;
    request.body = message.SerializeAsString();
    EXPECT_EQ(DecodeRemoteWriteV1(&request), nullptr);
    request.seq = seq;
    return exporter_->Append(request);
  }
  void SetGaugeMetadata() {
    std::vector<FamilyMetadata> families;
    for (int i = 0; i < 500; ++i) families.push_back({names_.emplace_back("g" + std::to_string(i)), MetricType::kGauge, "", ""});
    metadata_.Update(families);
  }
  double Metric(const std::string& name, const std::string& label_value = "") {
    double total = 0;
    for (const auto& family : registry_.Collect()) {
      if (family.name != name) continue;
      for (const auto& m : family.metric) {
        bool match = label_value.empty();
        for (const auto& l : m.label) match |= l.value == label_value;
        if (match) total += m.counter.value + m.gauge.value;
      }
    }
    return total;
  }

  int64_t now_ = 1'000'000;
  prometheus::Registry registry_;
  MetadataCache metadata_;
  std::deque<std::string> names_;
  FakeSender sender_;
  std::unique_ptr<Exporter> exporter_;
};

TEST_F(ExporterTest, FullBatchGoesAtOnceAndTimerFlushesTheRest) {
  Make();
  SetGaugeMetadata();
  ASSERT_TRUE(AppendGauges(0, 250, {{1000, 1}}).accepted);
  exporter_->RunOnce();
  ASSERT_EQ(sender_.calls.size(), 1u);
  EXPECT_EQ(sender_.calls[0].request.time_series_size(), 200);
  EXPECT_EQ(sender_.calls[0].project, "projects/p");
  now_ += 49;
  exporter_->RunOnce();
  EXPECT_EQ(sender_.calls.size(), 1u);  // the partial batch has not waited long enough
  now_ += 1;
  exporter_->RunOnce();
  ASSERT_EQ(sender_.calls.size(), 2u);
  // 50 points remain after the full batch, unless a shard held by the first batch kept some back.
  size_t total = 200 + sender_.calls[1].request.time_series_size();
  sender_.Complete(0);
  sender_.Complete(1);
  for (int i = 0; i < 5 && total < 250; ++i) {
    now_ += 50;
    exporter_->RunOnce();
    exporter_->RunOnce();
    for (size_t c = 2; c < sender_.calls.size(); ++c) {
      if (sender_.calls[c].done) {
        total += sender_.calls[c].request.time_series_size();
        sender_.Complete(c);
        sender_.calls[c].done = nullptr;
      }
    }
  }
  EXPECT_EQ(total, 250u);
  exporter_->RunOnce();
  EXPECT_EQ(Metric("prom2gcm_exporter_points_sent_total"), 250);
}

TEST_F(ExporterTest, OnePointPerSeriesPerRequestInOrder) {
  Make();
  SetGaugeMetadata();
  ASSERT_TRUE(AppendGauges(0, 1, {{10'000, 1}, {20'000, 2}, {30'000, 3}}).accepted);
  std::vector<double> values;
  for (int round = 0; round < 3; ++round) {
    exporter_->RunOnce();  // opens a batch with the shard's first point
    now_ += 50;
    exporter_->RunOnce();  // the flush interval has passed: sent
    ASSERT_EQ(sender_.calls.size(), static_cast<size_t>(round + 1));
    const auto& request = sender_.calls.back().request;
    ASSERT_EQ(request.time_series_size(), 1);
    values.push_back(request.time_series(0).points(0).value().double_value());
    now_ += 100;
    exporter_->RunOnce();
    EXPECT_EQ(sender_.calls.size(), static_cast<size_t>(round + 1)) << "shard must wait for its batch";
    sender_.Complete(round);
  }
  EXPECT_EQ(values, (std::vector<double>{1, 2, 3}));
}

TEST_F(ExporterTest, QueuedPointsKeepTheirSeriesThroughEviction) {
  Exporter::Options options = Options();
  options.series_ttl_ms = 1000;
  Make(options);
  SetGaugeMetadata();
  ASSERT_TRUE(AppendGauges(0, 1, {{10'000, 1}, {20'000, 2}}).accepted);
  exporter_->RunOnce();
  now_ += 50;
  exporter_->RunOnce();  // the first point is sent; the second waits in the queue for its shard
  ASSERT_EQ(sender_.calls.size(), 1u);
  now_ += 120'000;  // the series is long past its TTL, and eviction is due
  exporter_->RunOnce();
  EXPECT_EQ(Metric("prom2gcm_exporter_series_cache_entries"), 1) << "a queued point still points at the entry";
  sender_.Complete(0);
  exporter_->RunOnce();
  now_ += 50;
  exporter_->RunOnce();
  ASSERT_EQ(sender_.calls.size(), 2u);
  const auto& series = sender_.calls[1].request.time_series(0);
  EXPECT_EQ(series.metric().type(), "prometheus.googleapis.com/g0/gauge");
  EXPECT_EQ(series.points(0).value().double_value(), 2);
  sender_.Complete(1);
  now_ += 120'000;
  exporter_->RunOnce();
  EXPECT_EQ(Metric("prom2gcm_exporter_series_cache_entries"), 0) << "nothing queued: evicted";
}

TEST_F(ExporterTest, RetryKeepsOrderAndResendsTheSameBatch) {
  Exporter::Options options = Options();
  options.retry_initial_backoff_ms = 100;
  Make(options);
  SetGaugeMetadata();
  ASSERT_TRUE(AppendGauges(0, 1, {{10'000, 1}, {20'000, 2}}).accepted);
  exporter_->RunOnce();
  now_ += 50;
  exporter_->RunOnce();
  ASSERT_EQ(sender_.calls.size(), 1u);
  sender_.Complete(0, SendResult::Outcome::kRetryable);
  exporter_->RunOnce();
  now_ += 10;
  exporter_->RunOnce();
  EXPECT_EQ(sender_.calls.size(), 1u) << "no later point may overtake the failed one";
  now_ += 200;  // past the backoff (100 ms with jitter of at most 1.5x)
  exporter_->RunOnce();
  ASSERT_EQ(sender_.calls.size(), 2u);
  EXPECT_EQ(sender_.calls[1].request.time_series(0).points(0).value().double_value(), 1);
  sender_.Complete(1);
  exporter_->RunOnce();
  now_ += 100;
  exporter_->RunOnce();
  ASSERT_EQ(sender_.calls.size(), 3u);
  EXPECT_EQ(sender_.calls[2].request.time_series(0).points(0).value().double_value(), 2);
  EXPECT_EQ(Metric("prom2gcm_exporter_send_retries_total"), 1);
}

TEST_F(ExporterTest, FullShardAnswersRetryLaterAndRetryIsIdempotent) {
  Exporter::Options options = Options();
  options.shards = 1;
  options.shard_capacity = 10;
  Make(options);
  SetGaugeMetadata();
  AppendResult result = AppendGauges(0, 20, {{1000, 1}});
  EXPECT_FALSE(result.accepted);
  EXPECT_EQ(Metric("prom2gcm_exporter_points_queued_total"), 10);
  // Drain, then the sender retries the whole request: only the points not taken before are queued.
  exporter_->RunOnce();
  now_ += 50;
  exporter_->RunOnce();
  sender_.Complete(0);
  exporter_->RunOnce();
  EXPECT_TRUE(AppendGauges(0, 20, {{1000, 1}}).accepted);
  EXPECT_EQ(Metric("prom2gcm_exporter_points_queued_total"), 20);
  EXPECT_EQ(Metric("prom2gcm_exporter_points_dropped_total", "duplicate"), 10);
}

TEST_F(ExporterTest, UnknownTypeIsHeldUntilMetadataArrives) {
  Exporter::Options options = Options();
  options.metadata_wait_ms = 60'000;
  Make(options);
  // Acknowledged, but held: not typed by a guess.
  EXPECT_TRUE(AppendGauges(0, 1, {{1000, 1}}).accepted);
  EXPECT_TRUE(AppendGauges(0, 1, {{6000, 2}}).accepted);
  exporter_->RunOnce();
  now_ += 250;
  exporter_->RunOnce();
  EXPECT_TRUE(sender_.calls.empty());
  EXPECT_EQ(exporter_->PendingPoints(), 2u);
  SetGaugeMetadata();
  now_ += 250;
  exporter_->RunOnce();  // released into the shard
  now_ += 50;
  exporter_->RunOnce();
  ASSERT_EQ(sender_.calls.size(), 1u);
  EXPECT_EQ(sender_.calls[0].request.time_series(0).metric().type(), "prometheus.googleapis.com/g0/gauge");
  EXPECT_EQ(sender_.calls[0].request.time_series(0).points(0).value().double_value(), 1);
  sender_.Complete(0);
  now_ += 50;
  exporter_->RunOnce();
  now_ += 50;
  exporter_->RunOnce();
  ASSERT_EQ(sender_.calls.size(), 2u);
  EXPECT_EQ(sender_.calls[1].request.time_series(0).points(0).value().double_value(), 2);

  // A family without metadata waits metadata_wait after its series was first seen, then is untyped.
  ::prometheus::prompb::WriteRequest late;
  testing::AddSeriesV1(&late, {{"__name__", "late_family"}}, {{1000, 1}});
  EXPECT_TRUE(AppendMessage(late).accepted);
  now_ += 59'000;
  exporter_->RunOnce();
  EXPECT_EQ(sender_.calls.size(), 2u);
  now_ += 1'000;
  exporter_->RunOnce();
  now_ += 50;
  exporter_->RunOnce();
  ASSERT_EQ(sender_.calls.size(), 3u);
  EXPECT_EQ(sender_.calls[2].request.time_series(0).metric().type(), "prometheus.googleapis.com/late_family/unknown");
  sender_.Complete(2);
  // Prometheus' synthetic series never get metadata: they are gauges at once.
  ::prometheus::prompb::WriteRequest up;
  testing::AddSeriesV1(&up, {{"__name__", "up"}, {"job", "x"}}, {{1000, 1}});
  EXPECT_TRUE(AppendMessage(up).accepted);
  exporter_->RunOnce();
  now_ += 50;
  exporter_->RunOnce();
  ASSERT_EQ(sender_.calls.size(), 4u);
  EXPECT_EQ(sender_.calls[3].request.time_series(0).metric().type(), "prometheus.googleapis.com/up/gauge");
}

TEST_F(ExporterTest, HeldSamplesAreBoundedAndFlushedAtShutdown) {
  Exporter::Options options = Options();
  options.max_held_samples = 3;
  Make(options);
  EXPECT_TRUE(AppendGauges(0, 3, {{1000, 1}}).accepted);
  EXPECT_FALSE(AppendGauges(3, 4, {{1000, 1}}).accepted);  // over the bound: 503, Prometheus keeps it
  std::atomic<bool> stop{false};
  std::thread completer([this, &stop] {
    size_t next = 0;
    while (!stop) {
      if (sender_.CompleteFromAnotherThread(next)) ++next;
      else std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
  });
  EXPECT_TRUE(exporter_->Shutdown(now_ + 1));
  stop = true;
  completer.join();
  EXPECT_EQ(Metric("prom2gcm_exporter_points_sent_total"), 3);
}

TEST_F(ExporterTest, ShutdownFlushesEverything) {
  Make();
  SetGaugeMetadata();
  ASSERT_TRUE(AppendGauges(0, 30, {{1000, 1}}).accepted);
  std::atomic<bool> stop{false};
  std::thread completer([this, &stop] {  // completes calls from another thread, as gRPC does
    size_t next = 0;
    while (!stop) {
      if (!sender_.CompleteFromAnotherThread(next)) {
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
      } else {
        ++next;
      }
    }
  });
  EXPECT_TRUE(exporter_->Shutdown(now_ + 1));  // draining sends partial batches at once
  stop = true;
  completer.join();
  EXPECT_EQ(Metric("prom2gcm_exporter_points_sent_total"), 30);
  EXPECT_FALSE(AppendGauges(100, 101, {{1000, 1}}).accepted);
}

// Endpoint threads append while the loop thread batches and another thread completes calls: every
// point arrives once, in order per series. Run under ThreadSanitizer in CI.
TEST_F(ExporterTest, ConcurrentIntakeLoopAndCompletions) {
  Exporter::Options options = Options();
  options.flush_interval_ms = 1;
  options.shard_capacity = 1 << 20;
  auto clock = [] {
    return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now().time_since_epoch())
        .count();
  };
  exporter_ = std::make_unique<Exporter>(options, &sender_, &metadata_, clock, registry_);
  SetGaugeMetadata();
  exporter_->Start();
  std::atomic<bool> stop{false};
  std::thread completer([this, &stop] {
    size_t next = 0;
    while (!stop) {
      if (sender_.CompleteFromAnotherThread(next)) ++next;
      else std::this_thread::sleep_for(std::chrono::microseconds(200));
    }
  });
  constexpr int kThreads = 4, kSeriesPerThread = 50, kSamples = 20;
  std::vector<std::thread> writers;
  for (int w = 0; w < kThreads; ++w) {
    writers.emplace_back([this, w] {
      for (int i = 0; i < kSamples; ++i) {
        EXPECT_TRUE(AppendGauges(w * kSeriesPerThread, (w + 1) * kSeriesPerThread, {{(i + 1) * 5000, double(i)}})
                        .accepted);
      }
    });
  }
  for (auto& t : writers) t.join();
  EXPECT_TRUE(exporter_->Shutdown(clock() + 10000));
  stop = true;
  completer.join();
  std::map<std::string, std::vector<double>> values;
  for (const auto& call : sender_.calls) {
    for (const auto& ts : call.request.time_series()) values[ts.metric().type()].push_back(ts.points(0).value().double_value());
  }
  ASSERT_EQ(values.size(), static_cast<size_t>(kThreads * kSeriesPerThread));
  for (const auto& [type, v] : values) {
    ASSERT_EQ(v.size(), static_cast<size_t>(kSamples)) << type;
    for (int i = 0; i < kSamples; ++i) EXPECT_EQ(v[i], i) << type;
  }
}

// Two Prometheus replicas write the same counter: one is exported, the other answered 2xx and dropped,
// until the elected one goes silent; the takeover starts the counter anew after the last point sent.
TEST_F(ExporterTest, HaPairExportsOneReplicaAndFailsOver) {
  Exporter::Options options = Options();
  options.ha.failover_timeout_ms = 30'000;
  Make(options);
  metadata_.Update(std::vector<FamilyMetadata>{{"jobs_total", MetricType::kCounter, "", ""}});
  auto write = [this](const char* replica, int64_t ts, double value) {
    ::prometheus::prompb::WriteRequest message;
    testing::AddSeriesV1(&message, {{"__name__", "jobs_total"}, {"__replica__", replica}, {"cluster", "c1"}},
                         {{ts, value}});
    EXPECT_TRUE(AppendMessage(message).accepted);
    exporter_->RunOnce();
    now_ += 50;
    exporter_->RunOnce();
    for (size_t i = 0; i < sender_.calls.size(); ++i) {
      if (sender_.calls[i].done) {
        sender_.Complete(i);
        sender_.calls[i].done = nullptr;
      }
    }
    exporter_->RunOnce();
  };
  write("A", 10'000, 100);
  write("B", 10'500, 7);  // not elected
  write("A", 20'000, 110);
  write("B", 20'500, 9);
  ASSERT_EQ(sender_.calls.size(), 1u);
  const auto& first = sender_.calls[0].request.time_series(0);
  EXPECT_EQ(first.metric().type(), "prometheus.googleapis.com/jobs_total/counter");
  EXPECT_EQ(first.metric().labels().count("__replica__"), 0u) << "the replica label is removed";
  EXPECT_EQ(first.resource().labels().at("cluster"), "c1");
  EXPECT_EQ(first.points(0).value().double_value(), 10);
  EXPECT_EQ(Metric("prom2gcm_ha_samples_not_elected_total"), 2);
  now_ += 30'000;  // A is silent for the failover timeout
  write("B", 60'500, 15);  // B takes over: a new baseline
  write("B", 70'500, 18);
  ASSERT_EQ(sender_.calls.size(), 2u);
  const auto& takeover = sender_.calls[1].request.time_series(0).points(0);
  EXPECT_EQ(takeover.interval().start_time().seconds(), 60);
  EXPECT_EQ(takeover.interval().end_time().seconds(), 70);
  EXPECT_EQ(takeover.value().double_value(), 3);
  EXPECT_EQ(Metric("prom2gcm_ha_failovers_total"), 1);
}

TEST_F(ExporterTest, RejectedPointsAreCountedByReason) {
  Make();
  SetGaugeMetadata();
  ASSERT_TRUE(AppendGauges(0, 3, {{1000, 1}}).accepted);
  exporter_->RunOnce();
  now_ += 50;
  exporter_->RunOnce();
  ASSERT_EQ(sender_.calls.size(), 1u);
  SendResult result;
  result.outcome = SendResult::Outcome::kRejected;
  result.succeeded = 2;
  result.failed = {{"out_of_order", 1}};
  sender_.calls[0].done(result);
  exporter_->RunOnce();
  EXPECT_EQ(Metric("prom2gcm_exporter_points_sent_total"), 2);
  EXPECT_EQ(Metric("prom2gcm_exporter_points_failed_total", "out_of_order"), 1);
}

// Parts of a classic histogram in three requests, as Prometheus' shards send them; a gauge in each
// request too. The assembled histogram is written once per scrape, as a delta from the first.
TEST_F(ExporterTest, ClassicHistogramAssembledAcrossRequests) {
  Exporter::Options options = Options();
  options.histogram_wait_ms = 10'000;
  Make(options);
  const std::vector<FamilyMetadata> families = {{"lat", MetricType::kHistogram, "", ""},
                                                 {"g0", MetricType::kGauge, "", ""}};
  metadata_.Update(families);
  auto scrape = [this](int64_t ts, double a, double b, double sum) {
    ::prometheus::prompb::WriteRequest buckets, sums, counts;
    testing::AddSeriesV1(&buckets, {{"__name__", "lat_bucket"}, {"le", "0.5"}}, {{ts, a}});
    testing::AddSeriesV1(&buckets, {{"__name__", "lat_bucket"}, {"le", "+Inf"}}, {{ts, b}});
    testing::AddSeriesV1(&sums, {{"__name__", "lat_sum"}}, {{ts, sum}});
    testing::AddSeriesV1(&counts, {{"__name__", "lat_count"}}, {{ts, b}});
    testing::AddSeriesV1(&counts, {{"__name__", "g0"}}, {{ts, 1}});
    for (const auto* message : {&counts, &sums, &buckets}) ASSERT_TRUE(AppendMessage(*message).accepted);
  };
  scrape(10'000, 1, 2, 0.7);  // the first set waits out histogram_wait, then is the baseline
  now_ += 10'000;
  exporter_->RunOnce();
  scrape(20'000, 4, 6, 2.7);  // complete on arrival now that the layout is known
  now_ += 100;
  exporter_->RunOnce();
  std::vector<google::monitoring::v3::TimeSeries> histograms;
  for (const auto& call : sender_.calls) {
    for (const auto& ts : call.request.time_series()) {
      if (ts.metric().type() == "prometheus.googleapis.com/lat/histogram") histograms.push_back(ts);
    }
  }
  ASSERT_EQ(histograms.size(), 1u);
  const auto& point = histograms[0].points(0);
  EXPECT_EQ(point.interval().start_time().seconds(), 10);
  EXPECT_EQ(point.interval().end_time().seconds(), 20);
  const auto& d = point.value().distribution_value();
  EXPECT_EQ(d.count(), 4);
  EXPECT_DOUBLE_EQ(d.mean(), 0.5);
  EXPECT_EQ(d.bucket_options().explicit_buckets().bounds_size(), 1);
  EXPECT_EQ(std::vector<int64_t>(d.bucket_counts().begin(), d.bucket_counts().end()), (std::vector<int64_t>{3, 1}));
  EXPECT_EQ(Metric("prom2gcm_exporter_points_dropped_total", "counter_baseline"), 1);
}

// With a durable queue, a request's log record stays needed until every point made of it is
// confirmed: through retries, while its samples wait for metadata, and while a histogram's parts wait.
TEST_F(ExporterTest, LedgerReferencesFollowPointsUntilConfirmed) {
  Exporter::Options options = Options();
  options.metadata_wait_ms = 60'000;
  options.histogram_wait_ms = 1'000;
  Make(options);
  ConfirmationLedger ledger;
  exporter_->set_ledger(&ledger);
  SetGaugeMetadata();
  auto append = [&](const ::prometheus::prompb::WriteRequest& message, uint64_t seq) {
    ledger.Register(seq, now_);
    ASSERT_TRUE(AppendMessage(message, seq).accepted);
    ledger.Release(seq, 1);  // the endpoint's reference
  };
  ::prometheus::prompb::WriteRequest gauges, unknown, histogram;
  testing::AddSeriesV1(&gauges, {{"__name__", "g1"}}, {{1000, 1}});
  testing::AddSeriesV1(&gauges, {{"__name__", "g2"}}, {{1000, 2}});
  testing::AddSeriesV1(&unknown, {{"__name__", "no_metadata_yet"}}, {{1000, 3}});
  testing::AddSeriesV1(&histogram, {{"__name__", "lat_bucket"}, {"le", "+Inf"}}, {{1000, 3}});
  append(gauges, 1);
  append(unknown, 2);
  EXPECT_EQ(ledger.Watermark(), 1u);

  exporter_->RunOnce();
  now_ += 100;
  exporter_->RunOnce();
  ASSERT_EQ(sender_.calls.size(), 1u);
  sender_.Complete(0, SendResult::Outcome::kRetryable);
  exporter_->RunOnce();
  EXPECT_EQ(ledger.Watermark(), 1u);  // a retry keeps the references
  now_ += 60'000;
  exporter_->RunOnce();  // the retry goes; the held series' wait runs out
  ASSERT_GE(sender_.calls.size(), 2u);
  sender_.Complete(1);
  exporter_->RunOnce();
  EXPECT_EQ(ledger.Watermark(), 2u);  // request 1 done; request 2's sample is now a point
  now_ += 100;
  exporter_->RunOnce();
  now_ += 100;
  exporter_->RunOnce();
  ASSERT_EQ(sender_.calls.size(), 3u);
  sender_.Complete(2);
  exporter_->RunOnce();
  EXPECT_EQ(ledger.Watermark(), 3u);

  const std::vector<FamilyMetadata> families = {{"lat", MetricType::kHistogram, "", ""}};
  metadata_.Update(families);
  append(histogram, 3);  // one part of a set that never completes
  EXPECT_EQ(ledger.Watermark(), 3u);
  now_ += 1'000;
  exporter_->RunOnce();
  EXPECT_EQ(ledger.Watermark(), 4u);  // dropped as incomplete: nothing left to deliver
  EXPECT_EQ(ledger.pending(), 0u);
}

TEST_F(ExporterTest, InvalidNativeHistogramIsReportedToTheEndpoint) {
  Make();
  ::prometheus::prompb::WriteRequest message;
  auto* histogram = testing::AddSeriesV1(&message, {{"__name__", "lat"}}, {})->add_histograms();
  histogram->set_timestamp(1000);
  histogram->set_count_int(5);  // no buckets hold them
  AppendResult result = AppendMessage(message);
  EXPECT_TRUE(result.accepted);
  EXPECT_EQ(result.invalid, 1u);
  EXPECT_NE(result.invalid_reason.find("native histogram"), std::string::npos) << result.invalid_reason;
}

}  // namespace
}  // namespace prom2gcm

namespace prom2gcm {
namespace {

// Says every point asked about is delivered (or none), and remembers what was asked.
class FakeChecker : public DeliveryChecker {
 public:
  explicit FakeChecker(bool delivered) : delivered_(delivered) {}
  bool Check(const std::vector<PointToCheck>& points, std::vector<bool>* delivered, std::string*) override {
    std::lock_guard lock(mutex_);
    for (const PointToCheck& point : points) asked_.push_back(point.end_ms);
    delivered->assign(points.size(), delivered_);
    return true;
  }
  std::vector<int64_t> asked() {
    std::lock_guard lock(mutex_);
    return asked_;
  }

 private:
  const bool delivered_;
  std::mutex mutex_;
  std::vector<int64_t> asked_;
};

// A counter and a gauge written by one run that is killed with a call in flight, then replayed into
// a second run reading the first one's send journal.
class RestartTest : public ExporterTest {
 protected:
  void SetUp() override {
    char pattern[] = "/tmp/exporter_restart_test.XXXXXX";
    ASSERT_NE(mkdtemp(pattern), nullptr);
    dir_ = pattern;
    const std::vector<FamilyMetadata> families = {{"c_total", MetricType::kCounter, "", ""},
                                                  {"g", MetricType::kGauge, "", ""}};
    metadata_.Update(families);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  void OpenJournal(DeliveryChecker* checker) {
    SendJournal::Options options;
    options.dir = dir_;
    std::string error;
    journal_ = SendJournal::Open(options, [this] { return now_; }, &error);
    ASSERT_NE(journal_, nullptr) << error;
    Make();
    exporter_->set_send_journal(journal_.get(), checker);
  }
  void Crash() {
    exporter_.reset();
    journal_.reset();
    sender_.calls.clear();
  }
  // Appends the scrape at t seconds: c_total = counter, g = t.
  void Scrape(int t, double counter) {
    ::prometheus::prompb::WriteRequest message;
    testing::AddSeriesV1(&message, {{"__name__", "c_total"}}, {{t * 1000LL, counter}});
    testing::AddSeriesV1(&message, {{"__name__", "g"}}, {{t * 1000LL, static_cast<double>(t)}});
    ASSERT_TRUE(AppendMessage(message).accepted);
  }
  // Runs the loop until a call is sent (the replay guard's checker answers on its own thread).
  void RunUntilCall(size_t calls) {
    for (int i = 0; i < 400 && sender_.calls.size() < calls; ++i) {
      now_ += 50;
      exporter_->RunOnce();
      if (sender_.calls.size() < calls) std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    ASSERT_EQ(sender_.calls.size(), calls);
  }
  // (metric type, start s (0: none, a gauge), end s, value) of call i's points, sorted.
  std::set<std::tuple<std::string, int64_t, int64_t, double>> PointsOf(size_t i) {
    std::set<std::tuple<std::string, int64_t, int64_t, double>> points;
    for (const auto& series : sender_.calls[i].request.time_series()) {
      const auto& point = series.points(0);
      points.emplace(series.metric().type(), point.interval().start_time().seconds(),
                     point.interval().end_time().seconds(), point.value().double_value());
    }
    return points;
  }
  // The first run: scrapes at 10, 20, 30 s; the call with the 30 s points is in flight at the kill.
  void FirstRun() {
    OpenJournal(nullptr);
    Scrape(10, 100);
    RunUntilCall(1);
    sender_.Complete(0);
    Scrape(20, 110);
    RunUntilCall(2);
    sender_.Complete(1);
    Scrape(30, 125);
    RunUntilCall(3);
    Crash();
  }

  static constexpr char kCounter[] = "prometheus.googleapis.com/c_total/counter";
  static constexpr char kGauge[] = "prometheus.googleapis.com/g/gauge";
  std::string dir_;
  std::unique_ptr<SendJournal> journal_;
};

TEST_F(RestartTest, PointsGcmHoldsAreNotSentAgainAndTheCounterContinues) {
  FirstRun();
  FakeChecker checker(/*delivered=*/true);
  OpenJournal(&checker);
  Scrape(20, 110);  // the replay: requests not confirmed before the kill
  Scrape(30, 125);
  Scrape(40, 130);
  RunUntilCall(1);
  EXPECT_EQ(PointsOf(0), (std::set<std::tuple<std::string, int64_t, int64_t, double>>{
                             {kCounter, 10, 40, 30}, {kGauge, 0, 40, 40}}))
      << "only the points after what GCM holds; the counter keeps its start and baseline";
  EXPECT_EQ(checker.asked(), (std::vector<int64_t>{30'000, 30'000}));
  EXPECT_EQ(Metric("prom2gcm_exporter_points_dropped_total", "already_delivered"), 2);
}

TEST_F(RestartTest, PointsGcmLacksAreSentAgainInOrder) {
  FirstRun();
  FakeChecker checker(/*delivered=*/false);
  OpenJournal(&checker);
  Scrape(20, 110);
  Scrape(30, 125);
  Scrape(40, 130);
  RunUntilCall(1);
  EXPECT_EQ(PointsOf(0), (std::set<std::tuple<std::string, int64_t, int64_t, double>>{
                             {kCounter, 10, 30, 25}, {kGauge, 0, 30, 30}}));
  sender_.Complete(0);
  RunUntilCall(2);
  EXPECT_EQ(PointsOf(1), (std::set<std::tuple<std::string, int64_t, int64_t, double>>{
                             {kCounter, 10, 40, 30}, {kGauge, 0, 40, 40}}));
}

TEST_F(RestartTest, WithoutACheckerAmbiguousPointsAreSent) {
  FirstRun();
  OpenJournal(nullptr);  // --export.disable has no GCM to ask
  Scrape(30, 125);
  RunUntilCall(1);
  EXPECT_EQ(PointsOf(0), (std::set<std::tuple<std::string, int64_t, int64_t, double>>{
                             {kCounter, 10, 30, 25}, {kGauge, 0, 30, 30}}));
}

}  // namespace
}  // namespace prom2gcm
