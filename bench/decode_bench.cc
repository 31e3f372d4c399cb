// Microbenchmarks of the per-sample hot path, on the payloads recorded from a real Prometheus
// (testdata/v1): snappy + decode, hashing into shards, series-cache lookup + transform, and request
// encoding. Each reports ns/sample and heap allocations per sample. At the end it prints the decode
// floor ratio the performance issue sets: decode (snappy + protobuf walk into the decoded form) against
// a bare snappy-uncompress + wire walk over the same payloads, measured side by side in this run.
#include <benchmark/benchmark.h>
#include <snappy.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <filesystem>
#include <map>
#include <new>
#include <string>
#include <vector>

#include <prometheus/registry.h>

#include "exporter/exporter.h"
#include "exporter/project_table.h"
#include "exporter/series_cache.h"
#include "exporter/transform.h"
#include "server/metadata_cache.h"
#include "server/remote_write_decoder.h"
#include "server/series_labels.h"
#include "server/wire_reader.h"

// Counts heap allocations, so allocations per sample can be reported.
static std::atomic<uint64_t> g_allocations{0};
void* operator new(size_t size) {
  g_allocations.fetch_add(1, std::memory_order_relaxed);
  if (void* p = std::malloc(size == 0 ? 1 : size)) return p;
  throw std::bad_alloc();
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, size_t) noexcept { std::free(p); }

namespace prom2gcm {
namespace {

struct Corpus {
  std::vector<std::string> compressed;  // sample-carrying requests only
  uint64_t samples = 0;
};

const Corpus& LoadCorpus() {
  static const Corpus corpus = [] {
    Corpus c;
    std::vector<std::filesystem::path> files;
    for (const auto& e : std::filesystem::directory_iterator(PROM2GCM_SOURCE_DIR "/testdata/v1")) {
      if (e.path().extension() == ".snappy") files.push_back(e.path());
    }
    std::sort(files.begin(), files.end());
    for (const auto& path : files) {
      std::string body(std::filesystem::file_size(path), '\0');
      FILE* f = std::fopen(path.c_str(), "rb");
      if (std::fread(body.data(), 1, body.size(), f) != body.size()) std::abort();
      std::fclose(f);
      DecodedRequest r;
      snappy::Uncompress(body.data(), body.size(), &r.body);
      if (DecodeRemoteWriteV1(&r) != nullptr) std::abort();
      if (r.samples.empty()) continue;
      c.samples += r.samples.size();
      c.compressed.push_back(std::move(body));
    }
    return c;
  }();
  return corpus;
}

// Reports ns/sample and allocations/sample.
void Report(benchmark::State& state, uint64_t samples_per_iteration, uint64_t allocations) {
  const double samples = static_cast<double>(samples_per_iteration) * static_cast<double>(state.iterations());
  // kIsRate | kInvert gives seconds per sample, printed with an SI prefix (n = nanoseconds).
  state.counters["time_per_sample"] =
      benchmark::Counter(samples, benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
  state.counters["allocs_per_sample"] = static_cast<double>(allocations) / samples;
  state.SetItemsProcessed(static_cast<int64_t>(samples));
}

// Parses every field of a remote-write 1.0 body (request, series, label and sample fields) without
// keeping anything: the floor any decoder pays.
size_t BareWalk(std::string_view body) {
  size_t touched = 0;
  WireReader request(body);
  while (request.Next()) {
    if (request.field() != 1) continue;
    WireReader series(request.bytes());
    while (series.Next()) {
      WireReader fields(series.bytes());
      while (fields.Next()) {
        touched += fields.type() == WireType::kLengthDelimited ? fields.bytes().size() : fields.varint() + fields.fixed64();
      }
    }
  }
  return touched;
}

void BM_SnappyAndBareWalk(benchmark::State& state) {
  const Corpus& corpus = LoadCorpus();
  std::string body;
  const uint64_t before = g_allocations.load();
  for (auto _ : state) {
    for (const std::string& compressed : corpus.compressed) {
      size_t length = 0;
      snappy::GetUncompressedLength(compressed.data(), compressed.size(), &length);
      body.resize(length);
      snappy::RawUncompress(compressed.data(), compressed.size(), body.data());
      benchmark::DoNotOptimize(BareWalk(body));
    }
  }
  Report(state, corpus.samples, g_allocations.load() - before);
}
BENCHMARK(BM_SnappyAndBareWalk);

void BM_SnappyAndDecode(benchmark::State& state) {
  const Corpus& corpus = LoadCorpus();
  DecodedRequest request;
  const uint64_t before = g_allocations.load();
  for (auto _ : state) {
    for (const std::string& compressed : corpus.compressed) {
      request.Clear();
      size_t length = 0;
      snappy::GetUncompressedLength(compressed.data(), compressed.size(), &length);
      request.body.resize(length);
      snappy::RawUncompress(compressed.data(), compressed.size(), request.body.data());
      if (DecodeRemoteWriteV1(&request) != nullptr) state.SkipWithError("decode failed");
      benchmark::DoNotOptimize(request.series.data());
    }
  }
  Report(state, corpus.samples, g_allocations.load() - before);
}
BENCHMARK(BM_SnappyAndDecode);

// Decoded requests of the corpus, kept for the stages after decoding.
const std::vector<std::unique_ptr<DecodedRequest>>& DecodedCorpus() {
  static const auto decoded = [] {
    std::vector<std::unique_ptr<DecodedRequest>> out;
    for (const std::string& compressed : LoadCorpus().compressed) {
      auto r = std::make_unique<DecodedRequest>();
      snappy::Uncompress(compressed.data(), compressed.size(), &r->body);
      DecodeRemoteWriteV1(r.get());
      out.push_back(std::move(r));
    }
    return out;
  }();
  return decoded;
}

// Series-cache lookup by hash, transform of each sample and encoding of its point into a request: the
// exporter's per-sample work once a series is known.
void BM_CacheTransformEncode(benchmark::State& state) {
  const auto& decoded = DecodedCorpus();
  TransformOptions options;
  options.project_id = "p";
  options.location = "l";
  options.sampling_period_ms = 0;
  ProjectTable projects;
  Transform transform(options, &projects);
  std::vector<SeriesCache> shards(1024);
  for (const auto& r : decoded) {
    for (const Series& s : r->series) {
      if (!shards[s.hash % shards.size()].Find(s.hash)) {
        shards[s.hash % shards.size()].Insert(s.hash, transform.BuildEntry(*r, s, MetricType::kGauge));
      }
    }
  }
  std::string out;
  DropCounts drops;
  int64_t shift = 0;
  const uint64_t before = g_allocations.load();
  for (auto _ : state) {
    shift += 1'000'000;  // newer on every pass, so nothing is a duplicate
    for (const auto& r : decoded) {
      for (const Series& s : r->series) {
        SeriesEntry* entry = shards[s.hash % shards.size()].Find(s.hash);
        for (const Sample& sample : r->SamplesOf(s)) {
          Sample shifted = sample;
          shifted.timestamp_ms += shift;
          PendingPoint points[2];
          const int n = transform.Apply(entry, shifted, 0, points, &drops);
          for (int i = 0; i < n; ++i) {
            if (out.size() > (1 << 20)) out.clear();
            AppendTimeSeries(&out, entry->targets()[points[i].target], points[i]);
          }
        }
      }
    }
  }
  Report(state, LoadCorpus().samples, g_allocations.load() - before);
}
BENCHMARK(BM_CacheTransformEncode);


// The exporter end to end without HTTP, decoding or gRPC: Exporter::Append of every request (the
// endpoint threads' work: shard locks, cache lookups, transform, queueing), each followed by one pass of
// the export loop (RunOnce: filling batches from the shards, encoding, handing them to a sender that
// completes at once). The corpus is replicated 20 times with a loadgen_replica label, as loadgen
// --cardinality 20 does (about 19,000 series), and every pass is shifted past the previous one. Time
// runs on a fake clock, so the work per pass is the same in every run: under callgrind,
// --toggle-collect='*ExporterMeasuredPass*' counts the instructions of the passes after the first.
struct ExporterLoad {
  static constexpr int kReplicas = 20;
  std::vector<std::unique_ptr<DecodedRequest>> requests;  // views into the corpus' bodies
  std::deque<std::string> replica_names;
  uint64_t samples = 0;
  int64_t span_ms = 0;  // of the corpus' sample timestamps
};

const ExporterLoad& ReplicatedCorpus() {
  static const ExporterLoad load = [] {
    ExporterLoad l;
    int64_t lo = INT64_MAX, hi = INT64_MIN;
    for (int k = 0; k < ExporterLoad::kReplicas; ++k) l.replica_names.push_back(std::to_string(k));
    for (const auto& r : DecodedCorpus()) {
      for (int k = 0; k < ExporterLoad::kReplicas; ++k) {
        auto copy = std::make_unique<DecodedRequest>();
        copy->samples = r->samples;
        copy->histograms = r->histograms;
        for (Series s : r->series) {
          const auto labels = r->LabelsOf(s);
          s.labels_begin = static_cast<uint32_t>(copy->labels.size());
          bool inserted = false;
          for (const Label& label : labels) {
            if (!inserted && label.name > "loadgen_replica") {
              copy->labels.push_back({"loadgen_replica", l.replica_names[k]});
              inserted = true;
            }
            copy->labels.push_back(label);
          }
          if (!inserted) copy->labels.push_back({"loadgen_replica", l.replica_names[k]});
          s.labels_count = static_cast<uint32_t>(copy->labels.size()) - s.labels_begin;
          s.exemplars_count = 0;
          if (CheckLabelsAndHash(copy->LabelsOf(s), &s.hash) != nullptr) std::abort();
          copy->series.push_back(s);
        }
        l.requests.push_back(std::move(copy));
      }
      l.samples += r->samples.size() * ExporterLoad::kReplicas;
      for (const Sample& sample : r->samples) {
        lo = std::min(lo, sample.timestamp_ms);
        hi = std::max(hi, sample.timestamp_ms);
      }
    }
    l.span_ms = hi - lo;
    return l;
  }();
  return load;
}

class ImmediateSender : public BatchSender {
 public:
  void Send(const std::string&, std::shared_ptr<const std::string>, int points,
            std::function<void(SendResult)> done) override {
    SendResult result;
    result.succeeded = points;
    done(std::move(result));
  }
};

// One pass over the replicated corpus, shifted by shift_ms; *now follows the newest sample.
void ExporterPass(Exporter* exporter, std::vector<std::unique_ptr<DecodedRequest>>* requests, int64_t shift_ms,
                  int64_t* now) {
  for (auto& r : *requests) {
    for (Sample& sample : r->samples) {
      sample.timestamp_ms += shift_ms;
      *now = std::max(*now, sample.timestamp_ms);
    }
    exporter->Append(*r);
    exporter->RunOnce();
  }
}
__attribute__((noipa)) void ExporterWarmupPass(Exporter* e, std::vector<std::unique_ptr<DecodedRequest>>* r,
                                                  int64_t shift_ms, int64_t* now) {
  ExporterPass(e, r, shift_ms, now);
}
__attribute__((noipa)) void ExporterMeasuredPass(Exporter* e, std::vector<std::unique_ptr<DecodedRequest>>* r,
                                                    int64_t shift_ms, int64_t* now) {
  ExporterPass(e, r, shift_ms, now);
}

void BM_ExporterAppendAndExport(benchmark::State& state) {
  const ExporterLoad& load = ReplicatedCorpus();
  std::vector<std::unique_ptr<DecodedRequest>> requests;  // mutable copies: timestamps move per pass
  for (const auto& r : load.requests) requests.push_back(std::make_unique<DecodedRequest>(*r));
  MetadataCache metadata;
  for (const auto& r : DecodedCorpus()) metadata.Update(r->metadata);
  int64_t now = 0;
  Exporter::Options options;
  options.shard_capacity = 100000;
  options.metadata_wait_ms = 5000;
  options.histogram_wait_ms = 5000;
  options.transform.project_id = "p";
  options.transform.location = "l";
  prometheus::Registry registry;
  ImmediateSender sender;
  Exporter exporter(options, &sender, &metadata, [&now] { return now; }, registry);
  const int64_t shift = load.span_ms + 60'000;
  ExporterWarmupPass(&exporter, &requests, 0, &now);  // creates the series
  const uint64_t before = g_allocations.load();
  for (auto _ : state) ExporterMeasuredPass(&exporter, &requests, shift, &now);
  Report(state, load.samples, g_allocations.load() - before);
  state.counters["samples_per_pass"] = static_cast<double>(load.samples);
}
BENCHMARK(BM_ExporterAppendAndExport);

// Captures ns/sample of each benchmark for the ratio printed at the end.
class RatioReporter : public benchmark::ConsoleReporter {
 public:
  void ReportRuns(const std::vector<Run>& runs) override {
    ConsoleReporter::ReportRuns(runs);
    for (const Run& run : runs) {
      auto it = run.counters.find("time_per_sample");
      if (it == run.counters.end()) continue;
      const std::string name = run.benchmark_name();
      if (name.find("BareWalk") != std::string::npos) bare_ = it->second.value * 1e9;
      if (name.find("SnappyAndDecode") != std::string::npos) decode_ = it->second.value * 1e9;
    }
  }
  double bare_ = 0, decode_ = 0;
};

}  // namespace
}  // namespace prom2gcm

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  prom2gcm::RatioReporter reporter;
  benchmark::RunSpecifiedBenchmarks(&reporter);
  if (reporter.bare_ > 0 && reporter.decode_ > 0) {
    std::printf("decode floor: snappy+decode %.1f ns/sample, bare snappy+walk %.1f ns/sample, ratio %.2f (target <= 2)\n",
                reporter.decode_, reporter.bare_, reporter.decode_ / reporter.bare_);
  }
  return 0;
}
