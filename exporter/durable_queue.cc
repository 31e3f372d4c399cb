#include "exporter/durable_queue.h"

#include <fcntl.h>
#include <unistd.h>

#include <glog/logging.h>
#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace prom2gcm {
namespace {

constexpr const char* kCheckpointFile = "ledger.checkpoint";
constexpr const char* kLogDir = "wal";

bool ReadCheckpoint(const std::string& path, LedgerCheckpoint* out) {
  std::ifstream in(path);
  if (!in) return false;  // a first start
  std::stringstream text;
  text << in.rdbuf();
  if (LedgerCheckpoint::Parse(text.str(), out)) return true;
  // Written atomically, so this is not a torn write; replaying everything is the safe side.
  LOG(WARNING) << "durable queue: " << path << " does not parse; replaying every logged request";
  *out = LedgerCheckpoint{};
  return false;
}

bool SyncFile(int fd) { return fdatasync(fd) == 0; }

}  // namespace

struct DurableQueue::Metrics {
  explicit Metrics(prometheus::Registry& registry);
  prometheus::Gauge& log_bytes;
  prometheus::Gauge& log_segments;
  prometheus::Gauge& pending_requests;
  prometheus::Gauge& oldest_pending_age;
  prometheus::Histogram& fsync_latency;
  prometheus::Counter& replayed;
  prometheus::Counter& full;
};

DurableQueue::Metrics::Metrics(prometheus::Registry& registry)
    : log_bytes(prometheus::BuildGauge()
                    .Name("prom2gcm_storage_log_bytes")
                    .Help("Bytes in the durable queue's write-ahead log segments.")
                    .Register(registry)
                    .Add({})),
      log_segments(prometheus::BuildGauge()
                       .Name("prom2gcm_storage_log_segments")
                       .Help("Segment files of the write-ahead log.")
                       .Register(registry)
                       .Add({})),
      pending_requests(prometheus::BuildGauge()
                           .Name("prom2gcm_storage_unconfirmed_requests")
                           .Help("Logged write requests with data not yet confirmed by Cloud Monitoring.")
                           .Register(registry)
                           .Add({})),
      oldest_pending_age(prometheus::BuildGauge()
                             .Name("prom2gcm_storage_oldest_unconfirmed_age_seconds")
                             .Help("Age of the oldest logged write request not yet wholly confirmed.")
                             .Register(registry)
                             .Add({})),
      fsync_latency(prometheus::BuildHistogram()
                        .Name("prom2gcm_storage_fsync_seconds")
                        .Help("Latency of the write-ahead log's fdatasync (one per group commit).")
                        .Register(registry)
                        .Add({}, prometheus::Histogram::BucketBoundaries{0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
                                                                          0.05, 0.1, 0.25, 1})),
      replayed(prometheus::BuildCounter()
                   .Name("prom2gcm_storage_replayed_requests_total")
                   .Help("Logged write requests handed to the exporter again at start.")
                   .Register(registry)
                   .Add({})),
      full(prometheus::BuildCounter()
               .Name("prom2gcm_storage_log_full_total")
               .Help("Write requests refused (503) because the log reached --storage.max-bytes.")
               .Register(registry)
               .Add({})) {}

std::unique_ptr<DurableQueue> DurableQueue::Open(const Options& options, Clock clock,
                                                 prometheus::Registry& registry, std::string* error) {
  std::error_code ec;
  std::filesystem::create_directories(options.dir, ec);
  if (ec) {
    *error = "cannot create " + options.dir + ": " + ec.message();
    return nullptr;
  }
  WriteAheadLog::Options wal_options;
  wal_options.dir = options.dir + "/" + kLogDir;
  // Only closed segments are deleted, and a full log takes no record that would start a new one: so a
  // bounded log is cut into segments small enough that confirming data always frees space.
  wal_options.segment_bytes =
      options.max_bytes == 0 ? options.segment_bytes
                             : std::min(options.segment_bytes, std::max<size_t>(options.max_bytes / 8, 64 << 10));
  wal_options.max_bytes = options.max_bytes;
  wal_options.group_commit_delay_us = options.group_commit_delay_us;
  std::unique_ptr<WriteAheadLog> wal = WriteAheadLog::Open(wal_options, error);
  if (!wal) return nullptr;
  LedgerCheckpoint previous;
  ReadCheckpoint(options.dir + "/" + kCheckpointFile, &previous);
  return std::unique_ptr<DurableQueue>(
      new DurableQueue(options, std::move(clock), std::move(wal), std::move(previous), registry));
}

DurableQueue::DurableQueue(const Options& options, Clock clock, std::unique_ptr<WriteAheadLog> wal,
                           LedgerCheckpoint previous, prometheus::Registry& registry)
    : options_(options),
      clock_(std::move(clock)),
      wal_(std::move(wal)),
      previous_(std::move(previous)),
      metrics_(std::make_unique<Metrics>(registry)) {
  wal_->set_fsync_observer([metrics = metrics_.get()](double seconds, size_t) { metrics->fsync_latency.Observe(seconds); });
  checkpoint_thread_ = std::thread([this] { CheckpointLoop(); });
}

DurableQueue::~DurableQueue() {
  {
    std::lock_guard lock(stop_mutex_);
    stop_ = true;
  }
  stop_cv_.notify_all();
  checkpoint_thread_.join();
  Checkpoint();
}

size_t DurableQueue::Replay(const Deliver& deliver) {
  size_t replayed = 0;
  wal_->Replay([&](uint64_t seq, std::string_view payload) {
    if (previous_.IsDone(seq)) {
      ledger_.MarkDone(seq);
      return;
    }
    if (payload.empty() || payload[0] > static_cast<char>(Protocol::kV2)) {
      LOG(WARNING) << "durable queue: record " << seq << " is not a write request; skipped";
      ledger_.MarkDone(seq);
      return;
    }
    ledger_.Register(seq, clock_());
    deliver(seq, static_cast<Protocol>(payload[0]), payload.substr(1));
    ledger_.Release(seq, 1);
    ++replayed;
  });
  metrics_->replayed.Increment(static_cast<double>(replayed));
  return replayed;
}

uint64_t DurableQueue::Log(Protocol protocol, std::string_view compressed_body, std::string* error) {
  // One copy to put the protocol in front; the log writes from this buffer without copying again.
  std::string record;
  record.reserve(compressed_body.size() + 1);
  record.push_back(static_cast<char>(protocol));
  record.append(compressed_body);
  const uint64_t seq = wal_->Append(record, error);
  if (seq == 0) {
    if (wal_->Full()) metrics_->full.Increment();
    *error = "durable queue: " + *error + "; retry later";
    return 0;
  }
  ledger_.Register(seq, clock_());
  return seq;
}

void DurableQueue::Release(uint64_t seq) { ledger_.Release(seq, 1); }

void DurableQueue::Checkpoint() {
  std::lock_guard lock(checkpoint_mutex_);
  const LedgerCheckpoint checkpoint = ledger_.Checkpoint();
  WriteSnapshots();
  if (checkpoint.watermark != last_written_.watermark || checkpoint.done != last_written_.done) {
    if (!WriteFileAtomically(options_.dir + "/" + kCheckpointFile, checkpoint.Serialize())) {
      return;  // the log keeps everything meanwhile
    }
    last_written_ = checkpoint;
  }
  wal_->DeleteBefore(checkpoint.watermark);
  UpdateMetrics();
}

void DurableQueue::KeepSnapshot(std::string name, std::function<uint64_t()> version,
                                std::function<std::string()> snapshot) {
  std::lock_guard lock(checkpoint_mutex_);
  snapshots_.push_back(Snapshot{std::move(name), std::move(version), std::move(snapshot)});
}

std::string DurableQueue::ReadSnapshot(const std::string& name) const {
  std::ifstream in(options_.dir + "/" + name + ".snapshot", std::ios::binary);
  std::stringstream contents;
  contents << in.rdbuf();
  return contents.str();
}

void DurableQueue::WriteSnapshots() {
  for (Snapshot& snapshot : snapshots_) {
    const uint64_t version = snapshot.version();  // read first: a change after it is written next time
    if (version == snapshot.written_version) continue;
    if (WriteFileAtomically(options_.dir + "/" + snapshot.name + ".snapshot", snapshot.take())) {
      snapshot.written_version = version;
    }
  }
}

bool DurableQueue::WriteFileAtomically(const std::string& path, std::string_view text) {
  const std::string temporary = path + ".tmp";
  const int fd = ::open(temporary.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  bool ok = fd >= 0 && ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size()) && SyncFile(fd);
  if (fd >= 0) ::close(fd);
  ok = ok && ::rename(temporary.c_str(), path.c_str()) == 0;
  if (ok) {
    const int dir_fd = ::open(options_.dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dir_fd >= 0) {
      ::fsync(dir_fd);
      ::close(dir_fd);
    }
  } else {
    PLOG_EVERY_N(ERROR, 100) << "durable queue: cannot write " << path;
  }
  return ok;
}

void DurableQueue::CheckpointLoop() {
  std::unique_lock lock(stop_mutex_);
  while (!stop_cv_.wait_for(lock, std::chrono::milliseconds(options_.checkpoint_interval_ms), [this] { return stop_; })) {
    lock.unlock();
    Checkpoint();
    lock.lock();
  }
}

void DurableQueue::UpdateMetrics() {
  metrics_->log_bytes.Set(static_cast<double>(wal_->bytes()));
  metrics_->log_segments.Set(static_cast<double>(wal_->segments()));
  metrics_->pending_requests.Set(static_cast<double>(ledger_.pending()));
  const int64_t oldest = ledger_.oldest_pending_ms();
  metrics_->oldest_pending_age.Set(oldest == 0 ? 0.0 : static_cast<double>(clock_() - oldest) / 1000.0);
}

}  // namespace prom2gcm
