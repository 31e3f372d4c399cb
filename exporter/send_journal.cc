#include "exporter/send_journal.h"

#include <fcntl.h>
#include <unistd.h>
#include <xxhash.h>

#include <glog/logging.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include "exporter/wal.h"

namespace prom2gcm {
namespace {

constexpr char kSnapshotName[] = "sends.snapshot";
constexpr char kJournalPrefix[] = "sends.";
constexpr char kJournalSuffix[] = ".journal";
constexpr size_t kRecordHeaderBytes = 8;
constexpr size_t kPointBytes = 41;
// Intents of an earlier run that never got a done record are ambiguous at its next start. A fold an
// hour after that start forgets them: the replay that needed them is long over. (Not by the points'
// age: a backlog or backfill can be hours old.)
constexpr int64_t kStalePendingMs = 60 * 60 * 1000;

template <typename T>
void Put(std::string* out, T value) {  // little-endian hosts only (x86-64, arm64)
  out->append(reinterpret_cast<const char*>(&value), sizeof(value));
}

// Reads fixed-size fields from a payload; ok() turns false past its end.
class FieldReader {
 public:
  explicit FieldReader(std::string_view data) : data_(data) {}
  template <typename T>
  T Get() {
    T value{};
    if (data_.size() < sizeof(T)) {
      ok_ = false;
      return value;
    }
    std::memcpy(&value, data_.data(), sizeof(T));
    data_.remove_prefix(sizeof(T));
    return value;
  }
  bool ok() const { return ok_; }
  size_t left() const { return data_.size(); }

 private:
  std::string_view data_;
  bool ok_ = true;
};

void PutPoint(std::string* out, const JournalPoint& point) {
  Put<uint64_t>(out, point.key);
  Put<int64_t>(out, point.state.end_ms);
  Put<int64_t>(out, point.state.start_ms);
  Put<double>(out, point.state.baseline);
  Put<double>(out, point.state.last_value);
  Put<uint8_t>(out, point.state.counter ? 1 : 0);
}

JournalPoint GetPoint(FieldReader* in) {
  JournalPoint point;
  point.key = in->Get<uint64_t>();
  point.state.end_ms = in->Get<int64_t>();
  point.state.start_ms = in->Get<int64_t>();
  point.state.baseline = in->Get<double>();
  point.state.last_value = in->Get<double>();
  point.state.counter = in->Get<uint8_t>() != 0;
  return point;
}

// Appends one framed record holding `payload`.
void Frame(std::string* out, std::string_view payload) {
  Put<uint32_t>(out, static_cast<uint32_t>(payload.size()));
  Put<uint32_t>(out, Crc32c(payload));
  out->append(payload);
}

std::string JournalPath(const std::string& dir, uint64_t index) {
  char name[64];
  std::snprintf(name, sizeof(name), "%s%010llu%s", kJournalPrefix, static_cast<unsigned long long>(index),
                kJournalSuffix);
  return dir + "/" + name;
}

// Indices of the journal files in dir, ascending.
std::vector<uint64_t> JournalIndices(const std::string& dir) {
  std::vector<uint64_t> indices;
  std::error_code error;
  for (const auto& file : std::filesystem::directory_iterator(dir, error)) {
    const std::string name = file.path().filename().string();
    const size_t prefix = std::strlen(kJournalPrefix), suffix = std::strlen(kJournalSuffix);
    if (name.size() <= prefix + suffix || name.compare(0, prefix, kJournalPrefix) != 0 ||
        name.compare(name.size() - suffix, suffix, kJournalSuffix) != 0) {
      continue;
    }
    const std::string digits = name.substr(prefix, name.size() - prefix - suffix);
    if (digits.find_first_not_of("0123456789") != std::string::npos) continue;
    indices.push_back(std::stoull(digits));
  }
  std::sort(indices.begin(), indices.end());
  return indices;
}

bool ReadWholeFile(const std::string& path, std::string* contents) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return false;
  std::stringstream buffer;
  buffer << in.rdbuf();
  *contents = buffer.str();
  return true;
}

// Calls fn(payload) for each valid record of `data`; returns false at the first torn or corrupt one,
// with *offset where it starts.
template <typename Fn>
bool ForEachRecord(std::string_view data, Fn fn, size_t* offset) {
  *offset = 0;
  while (*offset < data.size()) {
    FieldReader header(data.substr(*offset));
    const uint32_t length = header.Get<uint32_t>();
    const uint32_t checksum = header.Get<uint32_t>();
    if (!header.ok() || header.left() < length) return false;
    const std::string_view payload = data.substr(*offset + kRecordHeaderBytes, length);
    if (Crc32c(payload) != checksum || payload.empty()) return false;
    fn(payload);
    *offset += kRecordHeaderBytes + length;
  }
  return true;
}

// Filesystem calls that log instead of throwing.
bool FileExists(const std::string& path) {
  std::error_code ec;
  return std::filesystem::exists(path, ec);
}

void RemoveFile(const std::string& path) {
  std::error_code ec;
  std::filesystem::remove(path, ec);
  LOG_IF(WARNING, ec) << "send journal: cannot remove " << path << ": " << ec.message();
}

bool SyncDirectory(const std::string& dir) {
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return false;
  const bool ok = ::fsync(fd) == 0;
  ::close(fd);
  return ok;
}

}  // namespace

// What the snapshot and journals say, folded: the last state per series and the intents not done.
struct SendJournal::Loaded {
  absl::flat_hash_map<uint64_t, SentState> states;
  std::map<uint64_t, std::vector<JournalPoint>> pending;  // by id
  uint64_t max_id = 0;
  uint64_t through_index = 0;  // snapshot: the journals it folded
  bool ended = false;          // snapshot: its end record was read

  // Applies one record's payload; false when it does not parse.
  bool Apply(std::string_view payload);
  void Done(uint64_t id);
  void ForgetOldStates(int64_t now_ms, int64_t max_age_ms);
  void ForgetPendingBefore(uint64_t id);
  std::string SerializeSnapshot() const;
};

bool SendJournal::Loaded::Apply(std::string_view payload) {
  FieldReader in(payload.substr(1));
  switch (payload[0]) {
    case 'I': {  // an intent; also how the snapshot keeps intents not yet done
      const uint64_t id = in.Get<uint64_t>();
      std::vector<JournalPoint>& points = pending[id];
      while (in.ok() && in.left() >= kPointBytes) points.push_back(GetPoint(&in));
      max_id = std::max(max_id, id);
      return in.ok() && in.left() == 0;
    }
    case 'D':
      Done(in.Get<uint64_t>());
      return in.ok() && in.left() == 0;
    case 'S':  // snapshot: states
      while (in.ok() && in.left() >= kPointBytes) {
        const JournalPoint point = GetPoint(&in);
        states[point.key] = point.state;
      }
      return in.ok() && in.left() == 0;
    case 'H':  // snapshot header
      through_index = in.Get<uint64_t>();
      max_id = std::max(max_id, in.Get<uint64_t>());
      return in.ok() && in.left() == 0;
    case 'E':
      ended = true;
      return true;
    default:
      return false;
  }
}

void SendJournal::Loaded::Done(uint64_t id) {
  auto it = pending.find(id);
  if (it == pending.end()) return;
  for (const JournalPoint& point : it->second) {
    SentState& state = states[point.key];
    if (point.state.end_ms >= state.end_ms) state = point.state;
  }
  pending.erase(it);
}

void SendJournal::Loaded::ForgetOldStates(int64_t now_ms, int64_t max_age_ms) {
  absl::erase_if(states, [&](const auto& entry) { return entry.second.end_ms < now_ms - max_age_ms; });
}

void SendJournal::Loaded::ForgetPendingBefore(uint64_t id) { pending.erase(pending.begin(), pending.lower_bound(id)); }

std::string SendJournal::Loaded::SerializeSnapshot() const {
  std::string out, payload;
  payload = "H";
  Put<uint64_t>(&payload, through_index);
  Put<uint64_t>(&payload, max_id);
  Frame(&out, payload);
  for (const auto& [id, points] : pending) {
    payload = "I";
    Put<uint64_t>(&payload, id);
    for (const JournalPoint& point : points) PutPoint(&payload, point);
    Frame(&out, payload);
  }
  constexpr size_t kStatesPerRecord = 4096;
  payload = "S";
  for (const auto& [key, state] : states) {
    PutPoint(&payload, JournalPoint{key, state});
    if (payload.size() >= 1 + kStatesPerRecord * kPointBytes) {
      Frame(&out, payload);
      payload = "S";
    }
  }
  if (payload.size() > 1) Frame(&out, payload);
  Frame(&out, "E");
  return out;
}

namespace {

// Folds a journal file into *loaded. A torn or corrupt record ends it, with a log line.
void LoadJournal(const std::string& path, SendJournal::Loaded* loaded);

}  // namespace

SendJournal::SendJournal(const Options& options, Clock clock) : options_(options), clock_(clock) {}

std::unique_ptr<SendJournal> SendJournal::Open(const Options& options, Clock clock, std::string* error) {
  std::error_code ec;
  std::filesystem::create_directories(options.dir, ec);
  if (ec) {
    *error = "cannot create " + options.dir + ": " + ec.message();
    return nullptr;
  }
  std::unique_ptr<SendJournal> journal(new SendJournal(options, clock));
  if (!journal->Load(error) || !journal->StartJournal(error)) return nullptr;
  journal->compactor_ = std::thread([j = journal.get()] { j->CompactorLoop(); });
  return journal;
}

SendJournal::~SendJournal() {
  {
    std::lock_guard lock(compact_mutex_);
    stop_ = true;
  }
  compact_cv_.notify_all();
  if (compactor_.joinable()) compactor_.join();
  if (fd_ >= 0) ::close(fd_);
}

uint64_t SendJournal::KeyOf(std::string_view identity) { return XXH3_64bits(identity.data(), identity.size()); }

namespace {

bool ReadSnapshot(const std::string& path, SendJournal::Loaded* loaded) {
  std::string contents;
  if (!ReadWholeFile(path, &contents)) return false;
  SendJournal::Loaded snapshot;
  bool parsed = true;
  size_t offset = 0;
  const bool framed = ForEachRecord(contents, [&](std::string_view p) { parsed = parsed && snapshot.Apply(p); }, &offset);
  if (!framed || !parsed || !snapshot.ended) {
    LOG(WARNING) << "send journal: " << path << " is damaged at byte " << offset
                 << "; ignoring it (points it covered may be sent again after this restart)";
    return false;
  }
  *loaded = std::move(snapshot);
  return true;
}

void LoadJournal(const std::string& path, SendJournal::Loaded* loaded) {
  std::string contents;
  if (!ReadWholeFile(path, &contents)) return;
  size_t offset = 0;
  bool parsed = true;
  const bool framed = ForEachRecord(
      contents, [&](std::string_view payload) { parsed = parsed && loaded->Apply(payload); }, &offset);
  LOG_IF(WARNING, !framed || !parsed) << "send journal: " << path << " ends in a torn or corrupt record at byte "
                                      << offset << " of " << contents.size() << "; the rest is ignored";
}

}  // namespace

bool SendJournal::Load(std::string* error) {
  Loaded loaded;
  const std::string snapshot_path = options_.dir + "/" + kSnapshotName;
  if (FileExists(snapshot_path)) {
    ReadSnapshot(snapshot_path, &loaded);
    std::error_code ec;
    const uintmax_t size = std::filesystem::file_size(snapshot_path, ec);
    snapshot_bytes_ = ec ? 0 : size;
  }
  uint64_t last_index = loaded.through_index;
  for (uint64_t index : JournalIndices(options_.dir)) {
    if (index <= loaded.through_index) {  // folded already; a fold was interrupted before deleting it
      RemoveFile(JournalPath(options_.dir, index));
      continue;
    }
    LoadJournal(JournalPath(options_.dir, index), &loaded);
    last_index = std::max(last_index, index);
  }
  loaded.ForgetOldStates(clock_(), options_.max_age_ms);
  delivered_ = std::move(loaded.states);
  delivered_left_ = delivered_.size();
  for (const auto& [id, points] : loaded.pending) {
    for (const JournalPoint& point : points) {
      int64_t& end = ambiguous_[point.key];
      end = std::max(end, point.state.end_ms);
    }
  }
  next_id_ = loaded.max_id + 1;
  first_id_ = next_id_;
  opened_ms_ = clock_();
  active_index_ = last_index;  // StartJournal moves to the next
  {
    std::lock_guard lock(compact_mutex_);
    compacted_through_ = loaded.through_index;
  }
  LOG(INFO) << "send journal: " << delivered_.size() << " series states restored, " << ambiguous_.size()
            << " points of calls unanswered at the last stop to check with Cloud Monitoring";
  (void)error;
  return true;
}

bool SendJournal::StartJournal(std::string* error) {
  ++active_index_;
  const std::string path = JournalPath(options_.dir, active_index_);
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0644);
  if (fd < 0) {
    *error = "cannot create " + path + ": " + std::strerror(errno);
    return false;
  }
  if (fd_ >= 0) ::close(fd_);
  fd_ = fd;
  active_bytes_ = 0;
  SyncDirectory(options_.dir);
  return true;
}

std::optional<SentState> SendJournal::TakeDelivered(uint64_t key) {
  std::lock_guard lock(restored_mutex_);
  auto it = delivered_.find(key);
  if (it == delivered_.end()) return std::nullopt;
  SentState state = it->second;
  delivered_.erase(it);
  delivered_left_ = delivered_.size();
  return state;
}

std::optional<int64_t> SendJournal::Ambiguous(uint64_t key) const {
  std::lock_guard lock(restored_mutex_);
  auto it = ambiguous_.find(key);
  if (it == ambiguous_.end()) return std::nullopt;
  return it->second;
}

size_t SendJournal::ambiguous_count() const {
  std::lock_guard lock(restored_mutex_);
  return ambiguous_.size();
}

uint64_t SendJournal::RecordIntent(std::span<const JournalPoint> points) {
  const uint64_t id = next_id_++;
  std::string payload = "I";
  payload.reserve(1 + 8 + points.size() * kPointBytes);
  Put<uint64_t>(&payload, id);
  for (const JournalPoint& point : points) PutPoint(&payload, point);
  Append(payload);
  return id;
}

void SendJournal::RecordDone(uint64_t id) {
  std::string payload = "D";
  Put<uint64_t>(&payload, id);
  Append(payload);
}

void SendJournal::Append(std::string_view payload) {
  buffer_.clear();
  Frame(&buffer_, payload);
  // One write(2) per record: once it returns, a kill -9 cannot lose the record.
  const ssize_t written = ::write(fd_, buffer_.data(), buffer_.size());
  if (written != static_cast<ssize_t>(buffer_.size())) {
    LOG_IF(ERROR, !write_failed_) << "send journal: write failed (" << std::strerror(errno)
                                  << "); after a crash, points may be sent twice";
    write_failed_ = true;
    return;
  }
  active_bytes_ += buffer_.size();
  RotateIfLarge();
}

void SendJournal::RotateIfLarge() {
  // A fold reads the whole snapshot: with many series it is large, so fold only once the journal is
  // twice its size, keeping the work per journal byte bounded.
  if (active_bytes_ < std::max<uint64_t>(options_.compact_bytes, 2 * snapshot_bytes_.load())) return;
  const uint64_t closed = active_index_;
  std::string error;
  if (!StartJournal(&error)) {
    LOG(ERROR) << "send journal: " << error;
    --active_index_;  // keep appending to the current one
    return;
  }
  {
    std::lock_guard lock(compact_mutex_);
    compact_through_ = std::max(compact_through_, closed);
  }
  compact_cv_.notify_all();
}

void SendJournal::CompactNow() {
  const uint64_t closed = active_index_;
  std::string error;
  LOG_IF(ERROR, !StartJournal(&error)) << "send journal: " << error;
  std::unique_lock lock(compact_mutex_);
  compact_through_ = std::max(compact_through_, closed);
  compact_cv_.notify_all();
  compact_cv_.wait(lock, [&] { return compacted_through_ >= closed || stop_; });
}

void SendJournal::CompactorLoop() {
  std::unique_lock lock(compact_mutex_);
  while (true) {
    compact_cv_.wait(lock, [this] { return stop_ || compact_through_ > compacted_through_; });
    if (stop_) return;
    const uint64_t through = compact_through_;
    lock.unlock();
    const bool ok = Compact(through);
    lock.lock();
    if (ok) compacted_through_ = through;
    else compact_through_ = compacted_through_;  // try again at the next rotation
    compact_cv_.notify_all();
  }
}

bool SendJournal::Compact(uint64_t through_index) {
  Loaded loaded;
  const std::string snapshot_path = options_.dir + "/" + kSnapshotName;
  if (FileExists(snapshot_path)) ReadSnapshot(snapshot_path, &loaded);
  const std::vector<uint64_t> indices = JournalIndices(options_.dir);
  for (uint64_t index : indices) {
    if (index > loaded.through_index && index <= through_index) LoadJournal(JournalPath(options_.dir, index), &loaded);
  }
  loaded.ForgetOldStates(clock_(), options_.max_age_ms);
  if (clock_() - opened_ms_ >= kStalePendingMs) loaded.ForgetPendingBefore(first_id_);
  loaded.through_index = through_index;
  const std::string contents = loaded.SerializeSnapshot();
  const std::string temporary = snapshot_path + ".tmp";
  const int fd = ::open(temporary.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  bool ok = fd >= 0 && ::write(fd, contents.data(), contents.size()) == static_cast<ssize_t>(contents.size()) &&
            ::fdatasync(fd) == 0;
  if (fd >= 0) ::close(fd);
  ok = ok && ::rename(temporary.c_str(), snapshot_path.c_str()) == 0 && SyncDirectory(options_.dir);
  if (!ok) {
    LOG(ERROR) << "send journal: cannot write " << snapshot_path << ": " << std::strerror(errno);
    return false;
  }
  snapshot_bytes_ = contents.size();
  for (uint64_t index : indices) {
    if (index <= through_index) RemoveFile(JournalPath(options_.dir, index));
  }
  return true;
}

}  // namespace prom2gcm
