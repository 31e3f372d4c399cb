#include "exporter/exporter.h"

#include <glog/logging.h>
#include <malloc.h>
#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>

#include <algorithm>
#include <chrono>

#include "exporter/prefetch.h"

namespace prom2gcm {
namespace {

// How often held series are checked for metadata that has arrived.
constexpr int64_t kHeldCheckIntervalMs = 200;
constexpr int64_t kStatsIntervalMs = 1000;
constexpr int64_t kEvictionIntervalMs = 60 * 1000;

// Entry hint slots per shard (entry_hints.h): 4 MiB of slots at the default 1024 shards, of which
// only pages some series maps to become resident. Up to about this many series per shard most series
// own their slot; past it, colliding series fall back to the shard's hash table.
constexpr size_t kHintSlotsPerShard = 512;
// How many series ahead Append prefetches a series' shard and hint slot, then its entry.
constexpr size_t kPrefetchShardAhead = 4;
constexpr size_t kPrefetchEntryAhead = 2;
// How many points ahead TakeFromShard prefetches a queued point's target, then its metric labels.
constexpr size_t kPrefetchTargetAhead = 4;
constexpr size_t kPrefetchLabelsAhead = 2;

// Calls f with each write-ahead log record a queued point holds a reference on.
template <typename F>
void ForEachSeq(const QueuedPoint& queued, F f) {
  if (queued.seq != 0) f(queued.seq);
  if (queued.part_seqs) {
    for (uint64_t seq : *queued.part_seqs) {
      if (seq != 0) f(seq);
    }
  }
}

// Hands malloc's free pages back to the kernel, after each eviction pass. glibc returns only the top
// of an arena by itself; the rest of what the endpoint threads free (request buffers, evicted
// entries) stays resident among the live series entries: about 100 bytes per active series
// after a load that created a million of them. Takes about 30 ms at a million series.
void ReleaseFreeMemory() {
#ifdef __GLIBC__
  malloc_trim(0);
#endif
}

}  // namespace

struct Exporter::Metrics {
  explicit Metrics(prometheus::Registry& registry);
  prometheus::Counter& samples;
  prometheus::Counter& points_queued;
  prometheus::Counter& points_sent;
  prometheus::Family<prometheus::Counter>& points_failed;
  prometheus::Family<prometheus::Counter>& points_dropped;
  prometheus::Family<prometheus::Counter>& series_dropped;
  prometheus::Counter& retries;
  prometheus::Family<prometheus::Counter>& backpressure;
  prometheus::Histogram& send_latency;
  prometheus::Histogram& batch_size;
  prometheus::Gauge& calls_in_flight;
  prometheus::Gauge& queued_points;
  prometheus::Gauge& cache_series;
  prometheus::Gauge& cache_bytes;
  prometheus::Counter& ha_not_elected;
  prometheus::Counter& ha_failovers;
  prometheus::Counter& negative_folded;
  // Children looked up once (Family::Add builds a label map and locks): drops by PointDrop and by
  // AssemblyDrop, which intake counts on every request.
  std::array<prometheus::Counter*, static_cast<size_t>(PointDrop::kCount)> dropped_by_point_reason{};
  prometheus::Counter* already_delivered = nullptr;  // queued points GCM held from before a restart
  std::array<prometheus::Counter*, static_cast<size_t>(AssemblyDrop::kCount)> dropped_by_assembly_reason{};
};

Exporter::Metrics::Metrics(prometheus::Registry& registry)
    : samples(prometheus::BuildCounter()
                  .Name("prom2gcm_exporter_samples_total")
                  .Help("Samples handed to the exporter by the endpoint.")
                  .Register(registry)
                  .Add({})),
      points_queued(prometheus::BuildCounter()
                        .Name("prom2gcm_exporter_points_queued_total")
                        .Help("GCM points queued in shards for sending.")
                        .Register(registry)
                        .Add({})),
      points_sent(prometheus::BuildCounter()
                      .Name("prom2gcm_exporter_points_sent_total")
                      .Help("GCM points accepted by Cloud Monitoring.")
                      .Register(registry)
                      .Add({})),
      points_failed(prometheus::BuildCounter()
                        .Name("prom2gcm_exporter_points_failed_total")
                        .Help("GCM points Cloud Monitoring refused, by reason.")
                        .Register(registry)),
      points_dropped(prometheus::BuildCounter()
                         .Name("prom2gcm_exporter_points_dropped_total")
                         .Help("Samples that became no GCM point, by reason.")
                         .Register(registry)),
      series_dropped(prometheus::BuildCounter()
                         .Name("prom2gcm_exporter_series_dropped_total")
                         .Help("Series that are not exported at all, by reason (counted once per cache entry).")
                         .Register(registry)),
      retries(prometheus::BuildCounter()
                  .Name("prom2gcm_exporter_send_retries_total")
                  .Help("CreateTimeSeries calls retried after a retryable error.")
                  .Register(registry)
                  .Add({})),
      backpressure(prometheus::BuildCounter()
                       .Name("prom2gcm_exporter_backpressure_total")
                       .Help("Write requests answered 503 by the exporter, by reason.")
                       .Register(registry)),
      send_latency(prometheus::BuildHistogram()
                       .Name("prom2gcm_exporter_send_latency_seconds")
                       .Help("Latency of CreateTimeSeries calls.")
                       .Register(registry)
                       .Add({}, prometheus::Histogram::BucketBoundaries{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
                                                                         1, 2.5, 5, 10, 30})),
      batch_size(prometheus::BuildHistogram()
                     .Name("prom2gcm_exporter_batch_size")
                     .Help("Points per CreateTimeSeries call.")
                     .Register(registry)
                     .Add({}, prometheus::Histogram::BucketBoundaries{1, 10, 50, 100, 150, 199, 200})),
      calls_in_flight(prometheus::BuildGauge()
                          .Name("prom2gcm_exporter_calls_in_flight")
                          .Help("CreateTimeSeries calls sent or waiting to be retried.")
                          .Register(registry)
                          .Add({})),
      queued_points(prometheus::BuildGauge()
                        .Name("prom2gcm_exporter_queued_points")
                        .Help("Points waiting in shard queues.")
                        .Register(registry)
                        .Add({})),
      cache_series(prometheus::BuildGauge()
                       .Name("prom2gcm_exporter_series_cache_entries")
                       .Help("Series in the series cache.")
                       .Register(registry)
                       .Add({})),
      cache_bytes(prometheus::BuildGauge()
                      .Name("prom2gcm_exporter_series_cache_bytes")
                      .Help("Approximate memory held by the series cache.")
                      .Register(registry)
                      .Add({})),
      ha_not_elected(prometheus::BuildCounter()
                         .Name("prom2gcm_ha_samples_not_elected_total")
                         .Help("Samples of HA replicas that are not elected: answered 2xx, not exported.")
                         .Register(registry)
                         .Add({})),
      ha_failovers(prometheus::BuildCounter()
                       .Name("prom2gcm_ha_failovers_total")
                       .Help("Times another HA replica took over a cluster.")
                       .Register(registry)
                       .Add({})),
      negative_folded(prometheus::BuildCounter()
                          .Name("prom2gcm_exporter_histogram_negative_observations_folded_total")
                          .Help("Observations of negative native histogram buckets, which GCM distributions "
                                "cannot hold apart, counted into the underflow bucket.")
                          .Register(registry)
                          .Add({})) {
  for (size_t i = 0; i < dropped_by_point_reason.size(); ++i) {
    dropped_by_point_reason[i] = &points_dropped.Add({{"reason", PointDropName(static_cast<PointDrop>(i))}});
  }
  for (size_t i = 0; i < dropped_by_assembly_reason.size(); ++i) {
    dropped_by_assembly_reason[i] =
        &points_dropped.Add({{"reason", AssemblyDropName(static_cast<AssemblyDrop>(i))}});
  }
  already_delivered = &points_dropped.Add({{"reason", "already_delivered"}});
}

namespace {

// The tracker's options, with a failover callback that also logs and counts every failover.
HaTracker::Options HaOptionsWithLogging(HaTracker::Options options, Exporter::Metrics* metrics);

}  // namespace

Exporter::Exporter(const Options& options, BatchSender* sender, const MetadataCache* metadata, Clock clock,
                   prometheus::Registry& registry)
    : options_(options),
      sender_(sender),
      metadata_(metadata),
      clock_(std::move(clock)),
      metrics_(std::make_unique<Metrics>(registry)),
      ha_(HaOptionsWithLogging(options.ha, metrics_.get())),
      transform_(WithReplicaLabelDropped(options), &projects_),
      assembler_({options.histogram_wait_ms, options.series_ttl_ms}),
      entry_hints_(options.shards, kHintSlotsPerShard),
      inbox_(std::make_shared<Inbox>()) {
  inbox_->exporter = this;
  shards_.reserve(options_.shards);
  for (size_t i = 0; i < options_.shards; ++i) {
    shards_.push_back(std::make_unique<Shard>(&queue_blocks_));
    shards_.back()->cache.UseHints(entry_hints_.region(i), entry_hints_.slots_per_region());
  }
}

Exporter::~Exporter() {
  replay_.reset();  // its thread wakes the loop
  {
    std::lock_guard lock(inbox_->mutex);
    inbox_->exporter = nullptr;
  }
  {
    std::lock_guard lock(mutex_);
    stop_ = true;
  }
  wake_.notify_all();
  if (loop_.joinable()) loop_.join();
}

namespace {

HaTracker::Options HaOptionsWithLogging(HaTracker::Options options, Exporter::Metrics* metrics) {
  HaTracker::FailoverCallback user_callback = std::move(options.on_failover);
  options.on_failover = [metrics, user_callback](std::string_view cluster, std::string_view from,
                                                 std::string_view to) {
    metrics->ha_failovers.Increment();
    LOG(WARNING) << "HA failover in cluster \"" << cluster << "\": replica \"" << from
                 << "\" went silent, \"" << to << "\" takes over";
    if (user_callback) user_callback(cluster, from, to);
  };
  return options;
}

}  // namespace

TransformOptions Exporter::WithReplicaLabelDropped(const Options& options) {
  TransformOptions transform = options.transform;
  transform.drop_labels.push_back(options.ha.replica_label);
  return transform;
}

// ---- Intake (endpoint threads) ----

// Series Prometheus makes up for every target and sends no metadata for; gauges, as Prometheus
// documents them.
// A histogram series whose type the sender did not state: a gauge histogram when its first sample
// says so by its reset hint, else a (counter) histogram.
static MetricType NativeHistogramType(const HistogramSample& first) {
  NativeHistogram histogram;
  std::string error;
  if (DecodeNativeHistogram(first.encoded, &histogram, &error) &&
      histogram.reset_hint == HistogramResetHint::kGauge) {
    return MetricType::kGaugeHistogram;
  }
  return MetricType::kHistogram;
}

static bool IsSyntheticGauge(std::string_view name) {
  return name == "up" || name == "scrape_duration_seconds" || name == "scrape_samples_scraped" ||
         name == "scrape_samples_post_metric_relabeling" || name == "scrape_series_added" ||
         name == "scrape_timeout_seconds" || name == "scrape_sample_limit" || name == "scrape_body_size_bytes";
}

std::optional<MetricType> Exporter::KnownType(const DecodedRequest& request, const Series& series) const {
  if (series.type != MetricType::kUnspecified) return series.type;
  const std::string_view name = request.LabelValue(series, "__name__");
  if (request.protocol == Protocol::kV1) {
    if (auto entry = metadata_->Lookup(name); entry.has_value()) return entry->type;
  }
  // Native histogram samples tell their type themselves: no need to wait for metadata.
  if (series.histograms_count > 0) return NativeHistogramType(request.HistogramsOf(series)[0]);
  if (request.protocol == Protocol::kV2) return MetricType::kUnspecified;
  if (IsSyntheticGauge(name)) return MetricType::kGauge;
  return std::nullopt;
}

bool Exporter::Hold(Shard* shard, const DecodedRequest& request, const Series& series, uint64_t ha_generation,
                    int64_t now) {
  auto it = shard->held.find(series.hash);
  if (it == shard->held.end()) {
    if (held_samples_.load() + series.samples_count > options_.max_held_samples) return false;
    HeldSeries held;
    for (const Label& label : request.LabelsOf(series)) held.labels.emplace_back(label.name, label.value);
    held.metric_name = request.LabelValue(series, "__name__");
    held.series_start_ms = series.start_timestamp_ms;
    held.ha_generation = ha_generation;
    held.first_seen_ms = now;
    it = shard->held.emplace(series.hash, std::move(held)).first;
  } else if (held_samples_.load() + series.samples_count > options_.max_held_samples) {
    return false;
  }
  const auto samples = request.SamplesOf(series);
  it->second.samples.insert(it->second.samples.end(), samples.begin(), samples.end());
  it->second.seqs.insert(it->second.seqs.end(), samples.size(), request.seq);
  AddRefs(request.seq, static_cast<int64_t>(samples.size()));
  held_samples_ += samples.size();
  return true;
}

// A one-series request over owned label copies, the form the transform reads; *series refers to it.
static void OneSeriesRequest(const OwnedLabels& labels, uint64_t hash, DecodedRequest* request, Series* series) {
  for (const auto& [name, value] : labels) request->labels.push_back(Label{name, value});
  series->hash = hash;
  series->labels_count = static_cast<uint32_t>(request->labels.size());
}

void Exporter::ReleaseHeldSeries(int64_t now, bool all) {
  std::vector<AssembledHistogram> assembled;
  DropCounts drops;
  uint64_t queued = 0;
  for (auto& shard : shards_) {
    std::lock_guard lock(shard->mutex);
    for (auto it = shard->held.begin(); it != shard->held.end();) {
      HeldSeries& held = it->second;
      std::optional<MetadataCache::Entry> metadata = metadata_->Lookup(held.metric_name);
      if (!all && !metadata.has_value() && now - held.first_seen_ms < options_.metadata_wait_ms) {
        ++it;
        continue;
      }
      DecodedRequest request;
      Series series;
      OneSeriesRequest(held.labels, it->first, &request, &series);
      request.samples = held.samples;
      series.start_timestamp_ms = held.series_start_ms;
      SeriesEntry* entry = CreateEntry(shard.get(), request, series,
                                       metadata ? metadata->type : MetricType::kUnspecified, held.ha_generation);
      // Samples of one request at a time, so that each point references its own request's record.
      for (size_t begin = 0, end = 0; begin < held.samples.size(); begin = end) {
        for (end = begin + 1; end < held.samples.size() && held.seqs[end] == held.seqs[begin];) ++end;
        request.seq = held.seqs[begin];
        series.samples_begin = static_cast<uint32_t>(begin);
        series.samples_count = static_cast<uint32_t>(end - begin);
        IntakeSamples(shard.get(), entry, request, series, /*ignore_capacity=*/true, now, &assembled, &drops,
                      &queued);
        Release(request.seq, static_cast<int64_t>(end - begin));  // the held samples' references
      }
      held_samples_ -= held.samples.size();
      it = shard->held.erase(it);
    }
  }
  QueueAssembled(&assembled, now, &drops, &queued);
  CountIntake(drops, queued);
}

void Exporter::ExpireHistogramSets(int64_t now, bool all) {
  std::vector<AssembledHistogram> assembled;
  AssemblyCounts counts;
  assembler_.Expire(now, all, &assembled, &counts);
  CountAssembly(counts);
  DropCounts drops;
  uint64_t queued = 0;
  QueueAssembled(&assembled, now, &drops, &queued);
  CountIntake(drops, queued);
}

void Exporter::QueueAssembled(std::vector<AssembledHistogram>* assembled, int64_t now, DropCounts* drops,
                              uint64_t* queued) {
  for (AssembledHistogram& histogram : *assembled) {
    Shard& shard = *shards_[ShardOf(histogram.histogram_hash)];
    std::lock_guard lock(shard.mutex);
    SeriesEntry* entry = shard.cache.Find(histogram.histogram_hash);
    if (entry == nullptr) {
      DecodedRequest request;
      Series series;
      OneSeriesRequest(*histogram.labels, histogram.histogram_hash, &request, &series);
      entry = CreateEntry(&shard, request, series, histogram.gauge ? MetricType::kGaugeHistogram : MetricType::kHistogram,
                          /*ha_generation=*/0, /*distribution=*/true);
    }
    entry->last_touched_ms = now;
    transform_.BufferExemplars(entry, std::move(histogram.exemplars));
    PendingPoint point;
    if (transform_.ApplyAssembledHistogram(entry, &histogram, &point, drops) == 0) {
      for (uint64_t seq : histogram.seqs) Release(seq, 1);  // the parts' references
      continue;
    }
    QueuedPoint queued_point{entry, std::move(point), 0, nullptr};
    queued_point.part_seqs = std::make_unique<std::vector<uint64_t>>(std::move(histogram.seqs));
    shard.Push(std::move(queued_point));
    ++entry->queued_points;
    ++*queued;
  }
  assembled->clear();
}

SeriesEntry* Exporter::CreateEntry(Shard* shard, const DecodedRequest& request, const Series& series,
                                   MetricType type, uint64_t ha_generation, bool distribution) {
  SeriesEntry* entry = shard->cache.Insert(series.hash, transform_.BuildEntry(request, series, type, distribution));
  entry->ha_generation = ha_generation;
  if (replay_) replay_->OnEntryBuilt(entry);
  if (entry->drop_reason != SeriesDropReason::kNone) {
    metrics_->series_dropped.Add({{"reason", SeriesDropReasonName(entry->drop_reason)}}).Increment();
  }
  return entry;
}

bool Exporter::QueueSamples(Shard* shard, SeriesEntry* entry, uint64_t seq, std::span<const Sample> samples,
                            int64_t series_start_ms, bool ignore_capacity, DropCounts* drops, uint64_t* queued) {
  for (const Sample& sample : samples) {
    if (!ignore_capacity && shard->queue.size() + entry->target_count > options_.shard_capacity) return false;
    PendingPoint points[2];
    const int64_t start_ms = sample.start_timestamp_ms != 0 ? sample.start_timestamp_ms : series_start_ms;
    const int n = transform_.Apply(entry, sample, start_ms, points, drops);
    for (int i = 0; i < n; ++i) shard->Push(QueuedPoint{entry, std::move(points[i]), seq, nullptr});
    AddRefs(seq, n);
    entry->queued_points += n;
    *queued += n;
  }
  return true;
}

bool Exporter::IntakeSamples(Shard* shard, SeriesEntry* entry, const DecodedRequest& request, const Series& series,
                             bool ignore_capacity, int64_t now, std::vector<AssembledHistogram>* assembled,
                             DropCounts* drops, uint64_t* queued) {
  if (entry->histogram_part) {
    if (transform_.options().exemplars && series.exemplars_count > 0) {
      assembler_.AddExemplars(*entry->histogram_part, request.LabelsOf(series),
                              MakeGcmExemplars(projects_.Name(entry->project), request, series), now);
    }
    AssemblyCounts counts;
    for (const Sample& sample : request.SamplesOf(series)) {
      if (sample.timestamp_ms <= entry->last_sample_ms) {
        drops->Add(PointDrop::kDuplicate);
        continue;
      }
      entry->last_sample_ms = sample.timestamp_ms;
      assembler_.Add(*entry->histogram_part, request.LabelsOf(series), sample, request.seq, now, assembled, &counts);
    }

    CountAssembly(counts);
    return true;
  }
  transform_.BufferExemplars(entry, request, series);
  return QueueSamples(shard, entry, request.seq, request.SamplesOf(series), series.start_timestamp_ms,
                      ignore_capacity, drops, queued) &&
         QueueHistograms(shard, entry, request.seq, request.HistogramsOf(series), series.start_timestamp_ms, drops,
                         queued);
}

bool Exporter::QueueHistograms(Shard* shard, SeriesEntry* entry, uint64_t seq,
                               std::span<const HistogramSample> histograms,
                               int64_t series_start_ms, DropCounts* drops, uint64_t* queued) {
  thread_local NativeHistogram scratch;  // keeps its buckets' capacity across calls
  for (const HistogramSample& histogram : histograms) {
    if (shard->queue.size() + 1 > options_.shard_capacity) return false;
    PendingPoint point;
    if (transform_.ApplyHistogram(entry, histogram, series_start_ms, &scratch, &point, drops) == 0) continue;
    shard->Push(QueuedPoint{entry, std::move(point), seq, nullptr});
    AddRefs(seq, 1);
    ++entry->queued_points;
    ++*queued;
  }
  return true;
}

void Exporter::AddRefs(uint64_t seq, int64_t n) {
  if (ledger_ != nullptr) ledger_->AddRefs(seq, n);
}

void Exporter::Release(uint64_t seq, int64_t n) {
  if (ledger_ != nullptr) ledger_->Release(seq, n);
}

void Exporter::CountAssembly(const AssemblyCounts& counts) {
  for (size_t i = 0; i < counts.by_reason.size(); ++i) {
    if (counts.by_reason[i] == 0) continue;
    metrics_->dropped_by_assembly_reason[i]->Increment(static_cast<double>(counts.by_reason[i]));
  }
}

[[gnu::always_inline]] inline void Exporter::PrefetchIntake(uint64_t hash, bool entry) const {
  const size_t index = ShardOf(hash);
  const Shard* shard = shards_[index].get();
  if (entry) {
    entry_hints_.PrefetchEntry(index, hash);
    if (const QueuedPoint* slot = shard->next_slot.load(std::memory_order_relaxed)) {
      PrefetchForWrite(slot);
      PrefetchForWrite(reinterpret_cast<const char*>(slot + 1) - 1);  // it may straddle two lines
    }
    return;
  }
  PrefetchForWrite(shard);  // the mutex
  PrefetchForRead(reinterpret_cast<const char*>(shard) + 64);
  entry_hints_.PrefetchSlot(index, hash);
}

void Exporter::CountIntake(const DropCounts& drops, uint64_t queued) {
  metrics_->points_queued.Increment(static_cast<double>(queued));
  if (drops.negative_observations_folded > 0) {
    metrics_->negative_folded.Increment(static_cast<double>(drops.negative_observations_folded));
  }
  total_queued_ += queued;
  for (size_t i = 0; i < drops.by_reason.size(); ++i) {
    if (drops.by_reason[i] == 0) continue;
    metrics_->dropped_by_point_reason[i]->Increment(static_cast<double>(drops.by_reason[i]));
  }
  if (queued > 0) {
    queued_points_ += static_cast<int64_t>(queued);
    // With every call slot taken the loop could only look and wait again; the next completion wakes it.
    if (calls_full_.load(std::memory_order_relaxed)) return;
    wake_requested_ = true;
    wake_.notify_one();
  }
}

AppendResult Exporter::Append(const DecodedRequest& request) {
  if (!accepting_.load()) return AppendResult::Retry("shutting down; retry later", 5);
  const int64_t now = clock_();
  AppendResult result;
  DropCounts drops;
  uint64_t queued = 0, not_elected = 0;
  std::vector<AssembledHistogram> assembled;
  const char* backpressure_reason = "";
  HaRequestCache ha(&ha_, now);
  const std::vector<Series>& all_series = request.series;
  for (size_t i = 0; i < all_series.size(); ++i) {
    const Series& series = all_series[i];
    // Each series' lookups miss the CPU caches (its shard, hint slot, then entry, each depending on
    // the one before); fetching them a few series ahead overlaps those misses with this series' work.
    if (i + kPrefetchShardAhead < all_series.size()) PrefetchIntake(all_series[i + kPrefetchShardAhead].hash, false);
    if (i + kPrefetchEntryAhead < all_series.size()) PrefetchIntake(all_series[i + kPrefetchEntryAhead].hash, true);
    uint64_t ha_generation = 0;
    if (ha.DecideSeries(request.LabelsOf(series), &ha_generation) == HaDecision::kNotElected) {
      not_elected += series.samples_count + series.histograms_count;
      continue;
    }
    Shard& shard = *shards_[ShardOf(series.hash)];
    std::lock_guard lock(shard.mutex);
    SeriesEntry* entry = shard.cache.Find(series.hash);
    if (entry == nullptr) {
      const std::optional<MetricType> type =
          shard.held.contains(series.hash) ? std::nullopt : KnownType(request, series);
      if (!type.has_value()) {
        if (!Hold(&shard, request, series, ha_generation, now)) {
          result = AppendResult::Retry("too many samples held while waiting for remote-write metadata; retry later", 5);
          backpressure_reason = "metadata_hold_full";
        }
        continue;
      }
      entry = CreateEntry(&shard, request, series, *type, ha_generation);
    }
    if (entry->ha_generation != ha_generation) {
      // This replica was elected again after another one wrote the same GCM series: its old counter
      // state would give a start time before the other replica's last point.
      entry->ResetCounterState();
      entry->ha_generation = ha_generation;
    }
    entry->last_touched_ms = now;
    if (!IntakeSamples(&shard, entry, request, series, /*ignore_capacity=*/false, now, &assembled, &drops, &queued)) {
      result = AppendResult::Retry("export queue full (Cloud Monitoring slower than intake); retry later", 1);
      backpressure_reason = "queue_full";
    }
  }
  QueueAssembled(&assembled, now, &drops, &queued);
  result.invalid = drops.by_reason[static_cast<size_t>(PointDrop::kInvalidHistogram)];
  result.invalid_reason = std::move(drops.first_invalid_histogram);
  metrics_->samples.Increment(static_cast<double>(request.samples.size() + request.histograms.size()));
  if (not_elected > 0) metrics_->ha_not_elected.Increment(static_cast<double>(not_elected));
  if (!result.accepted) {
    metrics_->backpressure.Add({{"reason", backpressure_reason}}).Increment();
  }
  CountIntake(drops, queued);
  return result;
}
// ---- Export loop ----

void Exporter::set_send_journal(SendJournal* journal, DeliveryChecker* checker) {
  journal_ = journal;
  replay_ = std::make_unique<ReplayGuard>(journal, checker, &projects_, clock_, options_.series_ttl_ms, [this] {
    wake_requested_ = true;
    wake_.notify_one();
  });
}

void Exporter::Start() {
  loop_ = std::thread([this] { Loop(); });
}

void Exporter::Loop() {
  std::unique_lock lock(mutex_);
  while (!stop_) {
    lock.unlock();
    RunOnce();
    lock.lock();
    if (stop_) break;
    const int64_t now = clock_();
    const int64_t wait_ms = std::max<int64_t>(1, NextWakeMs(now) - now);
    wake_.wait_for(lock, std::chrono::milliseconds(wait_ms), [this] { return wake_requested_.load() || stop_; });
    wake_requested_ = false;
  }
}

void Exporter::RunOnce() {
  std::lock_guard lock(mutex_);
  const int64_t now = clock_();
  ProcessCompletions(now);
  if (held_samples_.load() > 0 && (draining_ || now - last_held_check_ms_ >= kHeldCheckIntervalMs)) {
    last_held_check_ms_ = now;
    // Draining, held samples are written with what is known rather than lost with the process.
    ReleaseHeldSeries(now, /*all=*/draining_);
  }
  if (assembler_.pending_sets() > 0 && (draining_ || now - last_histogram_check_ms_ >= kHeldCheckIntervalMs)) {
    last_histogram_check_ms_ = now;
    ExpireHistogramSets(now, /*all=*/draining_);
  }
  SendDueRetries(now);
  Fill(now);
  FlushOpenBatches(now, draining_);
  if (now - last_stats_ms_ >= kStatsIntervalMs) UpdateCacheStats(now);
  metrics_->calls_in_flight.Set(static_cast<double>(in_flight_));
  calls_full_.store(in_flight_ >= options_.max_in_flight, std::memory_order_relaxed);
  metrics_->queued_points.Set(static_cast<double>(queued_points_.load()));
}

void Exporter::UpdateCacheStats(int64_t now) {
  last_stats_ms_ = now;
  const bool evict = now - last_eviction_ms_ >= kEvictionIntervalMs;
  if (evict) last_eviction_ms_ = now;
  size_t series = 0, bytes = 0;
  for (auto& shard : shards_) {
    std::lock_guard shard_lock(shard->mutex);
    if (evict) shard->cache.Evict(now - options_.series_ttl_ms);
    series += shard->cache.size();
    bytes += shard->cache.bytes();
  }
  metrics_->cache_series.Set(static_cast<double>(series));
  metrics_->cache_bytes.Set(static_cast<double>(bytes));
  if (evict) {
    queue_blocks_.Trim();
    ReleaseFreeMemory();
  }
}

void Exporter::Fill(int64_t now) {
  const size_t n = shards_.size();
  for (size_t i = 0; i < n && in_flight_ < options_.max_in_flight; ++i) {
    const size_t index = (fill_cursor_ + i) % n;
    Shard& shard = *shards_[index];
    if (!shard.has_points.load(std::memory_order_relaxed)) continue;
    std::unique_ptr<Batch> full;
    {
      std::lock_guard lock(shard.mutex);
      if (shard.pending_batches > 0 || shard.queue.empty()) continue;
      full = TakeFromShard(static_cast<uint32_t>(index), &shard, now);
    }
    // Sent with the shard unlocked: gRPC may write the request to its socket inline, and endpoint
    // threads appending to this shard meanwhile would sleep on its mutex.
    if (full) Send(std::move(full), now);
  }
  fill_cursor_ = (fill_cursor_ + 1) % n;
}

// A queued point's entry (project, queued_points) and target, for writing, then (labels) the metric
// labels the target points to, which AppendTimeSeries copies: the endpoint thread that queued the
// point last wrote them, on another core. Always inlined, as the helpers of prefetch.h.
[[gnu::always_inline]] static inline void PrefetchForBatch(QueuedPoint& queued, bool labels) {
  const GcmTarget& target = queued.series->targets()[queued.point.target];
  if (!labels) {
    PrefetchForWrite(queued.series);
    PrefetchForWrite(&target);
    PrefetchForWrite(reinterpret_cast<const char*>(&target) + 64);
    return;
  }
  PrefetchForRead(target.metric_labels.data());
  PrefetchForRead(target.metric_labels.data() + 64);
}

std::unique_ptr<Exporter::Batch> Exporter::TakeFromShard(uint32_t index, Shard* shard, int64_t now) {
  int64_t taken = 0;
  std::unique_ptr<Batch> full;
  // The first points' targets and labels, which the loop below would prefetch for no point: fetched
  // together, their misses overlap instead of coming one after another.
  const size_t first = std::min(shard->queue.size(), kPrefetchTargetAhead);
  for (size_t i = 0; i < first; ++i) PrefetchForBatch(shard->queue[i], false);
  for (size_t i = 0; i < std::min(first, kPrefetchLabelsAhead); ++i) PrefetchForBatch(shard->queue[i], true);
  while (!shard->queue.empty()) {
    if (shard->queue.size() > kPrefetchTargetAhead) PrefetchForBatch(shard->queue[kPrefetchTargetAhead], false);
    if (shard->queue.size() > kPrefetchLabelsAhead) PrefetchForBatch(shard->queue[kPrefetchLabelsAhead], true);
    QueuedPoint& queued = shard->queue.front();
    GcmTarget& target = queued.series->targets()[queued.point.target];
    if (replay_ && replay_->active()) {
      const ReplayGuard::Verdict verdict = replay_->Check(&target, queued.point.end_ms);
      if (verdict == ReplayGuard::Verdict::kWait) break;  // GCM is being asked about this series
      if (verdict == ReplayGuard::Verdict::kDelivered) {
        ReleasePointSeqs(queued);
        metrics_->already_delivered->Increment();
        PopFront(shard);
        ++taken;
        continue;
      }
    }
    Batch& batch = OpenBatch(queued.series->project, now);
    if (target.batch_mark == batch.id) break;  // one point per series per request; the rest waits
    const IdentityRange identity = AppendTimeSeries(&batch.time_series, target, queued.point);
    if (journal_ != nullptr) {
      // The key hashes the identity bytes just written: no copy of them is built for it.
      const std::string_view written = std::string_view(batch.time_series).substr(identity.offset, identity.size);
      batch.journal_points.push_back(ReplayGuard::JournalPointOf(target, queued.point, written));
    }
    target.batch_mark = batch.id;
    ForEachSeq(queued, [&batch](uint64_t seq) { batch.seqs.push_back(seq); });
    ++batch.points;
    if (batch.shards.empty() || batch.shards.back() != index) {
      batch.shards.push_back(index);
      ++shard->pending_batches;
    }
    PopFront(shard);
    ++taken;
    if (static_cast<size_t>(batch.points) >= options_.max_batch) {
      full = std::move(open_batches_[batch.project]);
      break;
    }
  }
  queued_points_ -= taken;
  return full;
}

void Exporter::ReleasePointSeqs(const QueuedPoint& queued) {
  ForEachSeq(queued, [this](uint64_t seq) { Release(seq, 1); });
}

void Exporter::PopFront(Shard* shard) {
  --shard->queue.front().series->queued_points;
  shard->queue.pop_front();
  if (shard->queue.empty()) shard->has_points.store(false, std::memory_order_relaxed);
}

Exporter::Batch& Exporter::OpenBatch(uint32_t project, int64_t now) {
  if (open_batches_.size() <= project) open_batches_.resize(project + 1);
  std::unique_ptr<Batch>& batch = open_batches_[project];
  if (!batch) {
    batch = std::make_unique<Batch>();
    batch->id = next_batch_id_++;
    batch->project = project;
    batch->opened_ms = now;
    // Room for a full batch at the size recent points had: no reallocation (and copy) as it grows.
    batch->time_series.reserve(options_.max_batch * (bytes_per_point_ + bytes_per_point_ / 8));
  }
  return *batch;
}

void Exporter::FlushOpenBatches(int64_t now, bool all) {
  for (std::unique_ptr<Batch>& batch : open_batches_) {
    if (batch && (all || now - batch->opened_ms >= options_.flush_interval_ms)) Send(std::move(batch), now);
  }
}

void Exporter::Send(std::shared_ptr<Batch> batch, int64_t now) {
  if (batch->attempts == 0) {
    ++in_flight_;
    metrics_->batch_size.Observe(batch->points);
    if (batch->points > 0) bytes_per_point_ = batch->time_series.size() / batch->points;
    if (journal_ != nullptr) {
      batch->journal_id = journal_->RecordIntent(batch->journal_points);
      batch->journal_points = {};
    }
  }
  batch->send_started_ms = now;
  auto done = [inbox = inbox_, batch](SendResult result) {
    std::lock_guard lock(inbox->mutex);
    inbox->completions.push_back(Completion{batch, std::move(result)});
    if (inbox->exporter != nullptr) {
      inbox->exporter->wake_requested_ = true;
      inbox->exporter->wake_.notify_one();
    }
  };
  if (sender_ == nullptr) {  // --export.disable: everything but the send
    SendResult result;
    result.outcome = SendResult::Outcome::kRejected;
    result.failed.emplace_back("export_disabled", batch->points);
    done(std::move(result));
    return;
  }
  std::shared_ptr<const std::string> time_series(batch, &batch->time_series);  // shares the batch
  sender_->Send(projects_.Name(batch->project), std::move(time_series), batch->points, std::move(done));
}

void Exporter::ProcessCompletions(int64_t now) {
  std::vector<Completion> completions;
  {
    std::lock_guard lock(inbox_->mutex);
    completions.swap(inbox_->completions);
  }
  for (Completion& c : completions) {
    Batch& batch = *c.batch;
    metrics_->send_latency.Observe(static_cast<double>(now - batch.send_started_ms) / 1000.0);
    if (c.result.outcome == SendResult::Outcome::kRetryable) {
      ++batch.attempts;
      metrics_->retries.Increment();
      LOG_EVERY_N(WARNING, 20) << "CreateTimeSeries failed, retrying (attempt " << batch.attempts
                               << "): " << c.result.message;
      batch.retry_at_ms = now + Backoff(batch.attempts);
      retrying_.push_back(std::move(c.batch));
      continue;
    }
    metrics_->points_sent.Increment(c.result.succeeded);
    total_sent_ += static_cast<uint64_t>(c.result.succeeded);
    for (const auto& [reason, points] : c.result.failed) {
      if (reason == "export_disabled") {
        metrics_->points_dropped.Add({{"reason", reason}}).Increment(points);
      } else {
        metrics_->points_failed.Add({{"reason", reason}}).Increment(points);
        total_failed_ += static_cast<uint64_t>(points);
        LOG_EVERY_N(WARNING, 20) << "Cloud Monitoring refused " << points << " points (" << reason
                                 << "): " << c.result.message;
      }
    }
    --in_flight_;
    if (journal_ != nullptr) journal_->RecordDone(batch.journal_id);
    ReleaseShards(batch);
    ReleaseSeqs(&batch);
  }
}

void Exporter::ReleaseSeqs(Batch* batch) {
  if (ledger_ == nullptr || batch->seqs.empty()) return;
  std::sort(batch->seqs.begin(), batch->seqs.end());
  for (size_t begin = 0, end = 0; begin < batch->seqs.size(); begin = end) {
    for (end = begin + 1; end < batch->seqs.size() && batch->seqs[end] == batch->seqs[begin];) ++end;
    ledger_->Release(batch->seqs[begin], static_cast<int64_t>(end - begin));
  }
  batch->seqs.clear();
}

int64_t Exporter::Backoff(int attempts) {
  const int shift = std::min(attempts - 1, 20);
  const int64_t base = std::min(options_.retry_max_backoff_ms, options_.retry_initial_backoff_ms << shift);
  std::uniform_real_distribution<double> jitter(0.5, 1.5);
  return static_cast<int64_t>(static_cast<double>(base) * jitter(jitter_));
}

void Exporter::SendDueRetries(int64_t now) {
  for (auto it = retrying_.begin(); it != retrying_.end();) {
    if ((*it)->retry_at_ms <= now) {
      Send(std::move(*it), now);
      it = retrying_.erase(it);
    } else {
      ++it;
    }
  }
}

void Exporter::ReleaseShards(const Batch& batch) {
  for (uint32_t index : batch.shards) {
    Shard& shard = *shards_[index];
    std::lock_guard lock(shard.mutex);
    --shard.pending_batches;
  }
  if (!batch.shards.empty()) wake_requested_ = true;  // their queues may hold more
}

int64_t Exporter::NextWakeMs(int64_t now) const {
  int64_t next = now + options_.flush_interval_ms;
  for (const auto& batch : open_batches_) {
    if (batch) next = std::min(next, batch->opened_ms + options_.flush_interval_ms);
  }
  for (const auto& batch : retrying_) next = std::min(next, batch->retry_at_ms);
  return next;
}

bool Exporter::IdleLocked() {
  if (queued_points_.load() != 0 || in_flight_ != 0 || held_samples_.load() != 0 || assembler_.pending_sets() != 0) {
    return false;
  }
  for (const auto& batch : open_batches_) {
    if (batch) return false;
  }
  return true;
}

size_t Exporter::PendingPoints() {
  std::lock_guard lock(mutex_);
  size_t pending = static_cast<size_t>(queued_points_.load());
  for (const auto& batch : open_batches_) {
    if (batch) pending += batch->points;
  }
  // In-flight batches count once each: enough to tell zero from not.
  return pending + in_flight_ + held_samples_.load() + assembler_.pending_sets();
}

bool Exporter::Shutdown(int64_t deadline_ms) {
  accepting_ = false;
  {
    std::lock_guard lock(mutex_);
    draining_ = true;
  }
  wake_requested_ = true;
  wake_.notify_one();
  bool idle = false;
  while (true) {
    if (!loop_.joinable()) RunOnce();
    {
      std::lock_guard lock(mutex_);
      idle = IdleLocked();
    }
    if (idle || clock_() >= deadline_ms) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  {
    std::lock_guard lock(mutex_);
    stop_ = true;
  }
  wake_.notify_all();
  if (loop_.joinable()) loop_.join();
  return idle;
}

}  // namespace prom2gcm
