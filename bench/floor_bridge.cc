// floor_bridge: prom2gcm without its exporter core, for issue #6's question of how far below prom2gcm
// a bridge built on the same libraries could go in CPU per sample. It is NOT a bridge anyone should
// run. It keeps the parts every bridge needs: prom2gcm's HTTP server, snappy and zero-copy decode with
// its checks, the transform into prebuilt GCM identities, AppendTimeSeries, and GcmClient's calls of at
// most 200 points made from one thread. It leaves out the exporter core:
//   - no shards and no per-series order: each endpoint thread fills a batch of its own and hands it to
//     the sender thread when full (partial ones after 50 ms), so a call may carry a series twice;
//   - no backpressure, no retries, no durable queue, no flush at shutdown; answers are not looked at;
//   - no metadata wait (a series whose type is unknown is a gauge), no histograms (the parts of a
//     classic histogram and native histogram samples are not exported), no HA election, no eviction.
// --floor.stage (see Stage) splits the cost: each stage does a part more than another, so the difference
// of two stages' CPU per sample is what that part costs.
// bench/ab.py runs it like a prom2gcm binary: it takes --web.listen-address, --export.endpoint and
// --export.label.*, ignores prom2gcm's other flags, and serves /-/ready and the /metrics the bench
// reads (prom2gcm_exporter_queued_points, _calls_in_flight, _series_cache_entries).
//
// Thread-safety: the series map is split in kMapShards parts, each under its own mutex; each endpoint
// thread's batch has a mutex shared only with the sender thread, which makes every call.
#include <httplib.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <csignal>
#include <map>
#include <memory>
#include <mutex>
#include <thread>
#include <unordered_map>
#include <vector>

#include <CLI/CLI.hpp>
#include <absl/synchronization/mutex.h>
#include <glog/logging.h>
#include <prometheus/gauge.h>
#include <prometheus/registry.h>

#include "exporter/gcm_client.h"
#include "exporter/project_table.h"
#include "exporter/series_cache.h"
#include "exporter/transform.h"
#include "server/http_server.h"
#include "server/metadata_cache.h"
#include "server/signals.h"
#include "server/write_handler.h"

namespace prom2gcm {
namespace {

constexpr int kMaxBatchPoints = 200;  // GCM's limit per call
constexpr auto kFlushInterval = std::chrono::milliseconds(50);
constexpr size_t kMapShards = 64;
constexpr size_t kReserveBytes = kMaxBatchPoints * 320;  // a batch's bytes, so they are not copied as they grow

// How far each request goes (--floor.stage):
//   kDecode: answered once decoded;
//   kCount:  also finds each series' entry and transforms its samples into points, and counts them;
//   kEncode: also writes the points' bytes into batches of 200, then drops them;
//   kCalls:  as kCount, but every 200 points one call is made, with the bytes of the first full batch
//            (written once, then sent again, a partial batch's call too): the calls' cost without the
//            bytes' writing;
//   kSend:   kEncode's batches are sent.
enum class Stage { kDecode, kCount, kEncode, kCalls, kSend };

// Whether the stage writes every point's bytes.
bool WritesBytes(Stage stage) { return stage == Stage::kEncode || stage == Stage::kSend; }

class FloorSink : public SeriesSink {
 public:
  FloorSink(Stage stage, const TransformOptions& transform, const MetadataCache* metadata, GcmClient* client,
            prometheus::Registry& registry)
      : stage_(stage),
        transform_(transform, &projects_),
        metadata_(metadata),
        client_(client),
        queued_(prometheus::BuildGauge().Name("prom2gcm_exporter_queued_points").Register(registry).Add({})),
        in_flight_(prometheus::BuildGauge().Name("prom2gcm_exporter_calls_in_flight").Register(registry).Add({})),
        series_(prometheus::BuildGauge().Name("prom2gcm_exporter_series_cache_entries").Register(registry).Add({})),
        sender_([this] { SendLoop(); }) {}

  ~FloorSink() override {
    stop_ = true;
    outbox_ready_.notify_one();
    sender_.join();
  }

  AppendResult Append(const DecodedRequest& request) override {
    if (stage_ == Stage::kDecode) return {};
    Batch& batch = ThreadBatch();
    for (const Series& series : request.series) {
      MapShard& shard = map_[series.hash % kMapShards];
      std::lock_guard shard_lock(shard.mutex);
      std::unique_ptr<SeriesEntry>& entry = shard.entries[series.hash];
      if (!entry) {
        entry = transform_.BuildEntry(request, series, TypeOf(request, series));
        series_.Increment();
      }
      if (entry->target_count == 0) continue;  // a classic histogram's part, or a series GCM would refuse
      std::lock_guard batch_lock(batch.mutex);
      for (const Sample& sample : request.SamplesOf(series)) {
        PendingPoint points[2];
        DropCounts drops;
        const int count = transform_.Apply(entry.get(), sample, series.start_timestamp_ms, points, &drops);
        for (int i = 0; i < count; ++i) {
          if (WritesBytes(stage_) || (stage_ == Stage::kCalls && !has_template_.load(std::memory_order_relaxed))) {
            AppendTimeSeries(&batch.time_series, entry->targets()[points[i].target], points[i]);
          }
          if (batch.points++ == 0) {
            batch.opened = std::chrono::steady_clock::now();
            batch.project = entry->project;  // one project here: the bench's
          }
          if (batch.points == kMaxBatchPoints) SendLocked(&batch);
        }
      }
    }
    return {};
  }

 private:
  // An endpoint thread's batch; the sender thread sends it when it is older than kFlushInterval.
  struct Batch {
    std::mutex mutex;
    std::string time_series;  // GUARDED_BY(mutex), as the fields below
    int points = 0;
    uint32_t project = 0;
    std::chrono::steady_clock::time_point opened;
  };
  struct Call {
    std::shared_ptr<const std::string> bytes;
    int points = 0;
    uint32_t project = 0;
  };
  struct MapShard {
    std::mutex mutex;
    std::unordered_map<uint64_t, std::unique_ptr<SeriesEntry>> entries;  // GUARDED_BY(mutex)
  };

  MetricType TypeOf(const DecodedRequest& request, const Series& series) const {
    if (series.type != MetricType::kUnspecified) return series.type;
    const auto known = metadata_->Lookup(request.LabelValue(series, "__name__"));
    return known.has_value() ? known->type : MetricType::kGauge;
  }

  Batch& ThreadBatch() {
    thread_local Batch* batch = nullptr;
    if (batch == nullptr) {
      std::lock_guard lock(batches_mutex_);
      batches_.push_back(std::make_unique<Batch>());
      batch = batches_.back().get();
    }
    return *batch;
  }

  // Hands the batch to the sender thread (so one thread makes every call, as prom2gcm's export loop
  // does: gRPC costs more when many threads start calls) and opens the next.
  // REQUIRES: batch->mutex held.
  void SendLocked(Batch* batch) {
    Call call{std::make_shared<const std::string>(std::move(batch->time_series)), batch->points, batch->project};
    batch->time_series = std::string();
    if (WritesBytes(stage_) || !has_template_.load(std::memory_order_relaxed)) batch->time_series.reserve(kReserveBytes);
    batch->points = 0;
    if (stage_ == Stage::kCount || stage_ == Stage::kEncode) return;
    if (stage_ == Stage::kCalls) call.bytes = TemplateBytes(std::move(call.bytes), call.points);
    {
      std::lock_guard lock(outbox_mutex_);
      outbox_.push_back(std::move(call));
    }
    outbox_ready_.notify_one();
  }

  // kCalls: the bytes every call carries, those of the first full batch.
  std::shared_ptr<const std::string> TemplateBytes(std::shared_ptr<const std::string> batch_bytes, int points) {
    std::lock_guard lock(template_mutex_);
    if (!template_ && points == kMaxBatchPoints) {
      template_ = std::move(batch_bytes);
      has_template_ = true;
    }
    return template_ ? template_ : batch_bytes;
  }

  // The sender thread: makes the calls handed over, and hands over partial batches older than
  // kFlushInterval.
  void SendLoop() {
    auto last_flush = std::chrono::steady_clock::now();
    while (!stop_) {
      std::vector<Call> calls;
      {
        std::unique_lock lock(outbox_mutex_);
        outbox_ready_.wait_for(lock, kFlushInterval / 5, [this] { return !outbox_.empty() || stop_; });
        calls.swap(outbox_);
      }
      for (Call& call : calls) {
        in_flight_.Increment();
        client_->Send(projects_.Name(call.project), std::move(call.bytes), call.points,
                      [this](SendResult) { in_flight_.Decrement(); });
      }
      if (std::chrono::steady_clock::now() - last_flush >= kFlushInterval / 5) {
        last_flush = std::chrono::steady_clock::now();
        FlushPartialBatches(last_flush - kFlushInterval);
      }
    }
  }

  void FlushPartialBatches(std::chrono::steady_clock::time_point opened_before) {
    std::lock_guard lock(batches_mutex_);
    size_t points = 0;
    for (auto& batch : batches_) {
      std::lock_guard batch_lock(batch->mutex);
      if (batch->points > 0 && batch->opened <= opened_before) SendLocked(batch.get());
      points += batch->points;
    }
    queued_.Set(static_cast<double>(points));
  }

  const Stage stage_;
  ProjectTable projects_;
  Transform transform_;
  const MetadataCache* const metadata_;
  GcmClient* const client_;
  prometheus::Gauge& queued_;
  prometheus::Gauge& in_flight_;
  prometheus::Gauge& series_;
  MapShard map_[kMapShards];
  std::mutex batches_mutex_;
  std::vector<std::unique_ptr<Batch>> batches_;  // GUARDED_BY(batches_mutex_): one per endpoint thread
  std::mutex template_mutex_;
  std::shared_ptr<const std::string> template_;  // GUARDED_BY(template_mutex_)
  std::atomic<bool> has_template_{false};
  std::mutex outbox_mutex_;
  std::condition_variable outbox_ready_;
  std::vector<Call> outbox_;  // GUARDED_BY(outbox_mutex_): full batches for the sender thread
  std::atomic<bool> stop_{false};
  std::thread sender_;  // last: it starts once everything above exists
};

int Run(Stage stage, const HttpServer::Options& http_options, const GcmClient::Options& client_options,
        const TransformOptions& transform) {
  const sigset_t signals = BlockSignals({SIGTERM, SIGINT});  // before any thread starts; sigwait below
  auto registry = std::make_shared<prometheus::Registry>();
  MetadataCache metadata;
  std::string error;
  std::unique_ptr<GcmClient> client = GcmClient::Create(client_options, &error);
  if (!client) {
    LOG(ERROR) << error;
    return 1;
  }
  FloorSink sink(stage, transform, &metadata, client.get(), *registry);
  WriteHandler handler(WriteHandler::Options{}, &sink, &metadata, *registry);
  HttpServer server(http_options, &handler, registry);
  if (!server.Bind(&error)) {
    LOG(ERROR) << error;
    return 1;
  }
  std::thread serving([&server] { server.Serve(); });
  int signal = 0;
  sigwait(&signals, &signal);
  server.Stop();
  serving.join();
  return 0;
}

}  // namespace
}  // namespace prom2gcm

int main(int argc, char** argv) {
  FLAGS_logtostderr = true;
  google::InitGoogleLogging(argv[0]);
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);  // as prom2gcm's main

  CLI::App app{"floor_bridge: prom2gcm without its exporter core, a lower bound for bench/ab.py (not a bridge)"};
  app.allow_extras();  // prom2gcm's other flags, which the bench passes
  prom2gcm::HttpServer::Options http;
  prom2gcm::GcmClient::Options client;
  prom2gcm::TransformOptions transform;
  bool insecure = false;
  prom2gcm::Stage stage = prom2gcm::Stage::kSend;
  app.add_option("--floor.stage", stage, "How far requests go: decode, count, encode, calls or send")
      ->transform(CLI::CheckedTransformer(std::map<std::string, prom2gcm::Stage>{
          {"decode", prom2gcm::Stage::kDecode},
          {"count", prom2gcm::Stage::kCount},
          {"encode", prom2gcm::Stage::kEncode},
          {"calls", prom2gcm::Stage::kCalls},
          {"send", prom2gcm::Stage::kSend}}));
  app.add_option("--web.listen-address", http.listen_address);
  app.add_option("--export.endpoint", client.endpoint);
  app.add_flag("--export.insecure", insecure);
  app.add_option("--export.label.project-id", transform.project_id);
  app.add_option("--export.label.location", transform.location);
  app.add_option("--export.label.cluster", transform.cluster);
  CLI11_PARSE(app, argc, argv);
  client.insecure = insecure;
  transform.max_point_age_ms = prom2gcm::kGcmMaxPointAgeMs;
  transform.max_point_future_ms = prom2gcm::kGcmMaxPointFutureMs;
  return prom2gcm::Run(stage, http, client, transform);
}
