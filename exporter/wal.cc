#include "exporter/wal.h"

#include <fcntl.h>
#include <limits.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <bit>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <system_error>
#include <utility>

#include <glog/logging.h>

#if defined(__x86_64__)
#include <nmmintrin.h>
#endif

// Headers and the slicing-by-8 CRC load integers with memcpy.
static_assert(std::endian::native == std::endian::little, "the WAL format is little-endian");

namespace prom2gcm {
namespace {

// --- CRC-32C (Castagnoli, reflected polynomial 0x82F63B78).

struct CrcTables {
  uint32_t t[8][256];
};

constexpr CrcTables MakeCrcTables() {
  CrcTables tables{};
  for (uint32_t i = 0; i < 256; ++i) {
    uint32_t c = i;
    for (int k = 0; k < 8; ++k) c = (c & 1) ? (c >> 1) ^ 0x82F63B78u : c >> 1;
    tables.t[0][i] = c;
  }
  for (uint32_t i = 0; i < 256; ++i) {
    for (int s = 1; s < 8; ++s) {
      const uint32_t prev = tables.t[s - 1][i];
      tables.t[s][i] = (prev >> 8) ^ tables.t[0][prev & 0xff];
    }
  }
  return tables;
}

constexpr CrcTables kCrcTables = MakeCrcTables();

#if defined(__x86_64__)
__attribute__((target("sse4.2"))) uint32_t Crc32cExtendSse42(uint32_t crc, const void* data,
                                                               size_t size) {
  const auto* p = static_cast<const unsigned char*>(data);
  uint64_t c = ~crc;
  for (; size > 0 && reinterpret_cast<uintptr_t>(p) % 8 != 0; --size) c = _mm_crc32_u8(c, *p++);
  for (; size >= 8; size -= 8, p += 8) {
    uint64_t word;
    std::memcpy(&word, p, 8);
    c = _mm_crc32_u64(c, word);
  }
  for (; size > 0; --size) c = _mm_crc32_u8(c, *p++);
  return ~static_cast<uint32_t>(c);
}

bool HasSse42() {
  static const bool has = __builtin_cpu_supports("sse4.2");
  return has;
}
#endif

// --- Records.

struct RecordHeader {
  uint32_t length;
  uint32_t checksum;
  uint64_t seq;
};
static_assert(sizeof(RecordHeader) == WriteAheadLog::kHeaderBytes);

uint32_t RecordChecksum(uint32_t payload_crc, uint64_t seq) {
  return Crc32cExtend(payload_crc, &seq, sizeof(seq));
}

uint64_t RecordBytes(size_t payload_size) { return WriteAheadLog::kHeaderBytes + payload_size; }

// The outcome of validating one segment's bytes.
struct ScanResult {
  uint64_t valid_bytes = 0;  // length of the prefix of whole, valid records
  uint64_t records = 0;
  std::string reason;        // why the record at valid_bytes is bad; empty if all are valid
};

using RecordFn = std::function<void(uint64_t seq, std::string_view payload)>;

// Validates the records of a segment whose first record must have seq first_seq, calling *fn (if not
// null) for each valid one, up to the first bad one.
ScanResult ScanRecords(std::string_view data, uint64_t first_seq, const RecordFn* fn) {
  ScanResult result;
  uint64_t expected_seq = first_seq;
  while (result.valid_bytes < data.size()) {
    const std::string_view rest = data.substr(result.valid_bytes);
    if (rest.size() < WriteAheadLog::kHeaderBytes) {
      result.reason = "torn record header (" + std::to_string(rest.size()) + " bytes)";
      return result;
    }
    RecordHeader header;
    std::memcpy(&header, rest.data(), sizeof(header));
    const std::string_view payload = rest.substr(WriteAheadLog::kHeaderBytes);
    if (header.length > payload.size()) {
      result.reason = "torn record (payload of " + std::to_string(header.length) + " bytes, " +
                      std::to_string(payload.size()) + " in the file)";
      return result;
    }
    if (header.seq != expected_seq) {
      result.reason = "seq " + std::to_string(header.seq) + " where " + std::to_string(expected_seq) +
                      " was expected";
      return result;
    }
    const std::string_view record_payload = payload.substr(0, header.length);
    if (RecordChecksum(Crc32c(record_payload), header.seq) != header.checksum) {
      result.reason = "checksum mismatch in record " + std::to_string(header.seq);
      return result;
    }
    if (fn != nullptr) (*fn)(header.seq, record_payload);
    result.valid_bytes += RecordBytes(header.length);
    ++result.records;
    ++expected_seq;
  }
  return result;
}

// --- Files.

std::string ErrnoText(std::string_view what, const std::string& path, int err) {
  return "wal: " + std::string(what) + " " + path + ": " + std::strerror(err);
}

// A read-only mapping of a whole file.
class MappedFile {
 public:
  MappedFile() = default;
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;
  ~MappedFile() {
    if (data_ != nullptr) munmap(data_, size_);
  }

  // False with *error when the file cannot be opened or mapped.
  bool Open(const std::string& path, std::string* error) {
    const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
      missing_ = errno == ENOENT;
      *error = ErrnoText("open", path, errno);
      return false;
    }
    struct stat st;
    bool ok = fstat(fd, &st) == 0;
    if (ok && st.st_size > 0) {
      size_ = static_cast<size_t>(st.st_size);
      void* data = mmap(nullptr, size_, PROT_READ, MAP_PRIVATE, fd, 0);
      ok = data != MAP_FAILED;
      if (ok) data_ = data;
    }
    if (!ok) *error = ErrnoText("read", path, errno);
    close(fd);
    return ok;
  }

  bool missing() const { return missing_; }  // Open failed because the file does not exist
  std::string_view data() const {
    return data_ == nullptr ? std::string_view() : std::string_view(static_cast<const char*>(data_), size_);
  }

 private:
  void* data_ = nullptr;
  size_t size_ = 0;
  bool missing_ = false;
};

// The first seq a segment file name stands for, or 0 if the name is not a segment's.
uint64_t ParseSegmentName(const std::string& name) {
  if (name.size() != 24 || name.substr(20) != ".wal") return 0;
  uint64_t seq = 0;
  for (size_t i = 0; i < 20; ++i) {
    if (name[i] < '0' || name[i] > '9') return 0;
    seq = seq * 10 + static_cast<uint64_t>(name[i] - '0');
  }
  return seq;
}

// The segments' first seqs, ascending; false with *error if the directory cannot be listed.
bool ListSegments(const std::string& dir, std::vector<uint64_t>* firsts, std::string* error) {
  std::error_code ec;
  for (std::filesystem::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    const uint64_t seq = ParseSegmentName(it->path().filename().string());
    if (seq != 0) firsts->push_back(seq);
  }
  if (ec) {
    *error = "wal: list " + dir + ": " + ec.message();
    return false;
  }
  std::sort(firsts->begin(), firsts->end());
  return true;
}

// writev's all of *iov (consuming it), resuming after short writes; false with errno set on an error.
bool WriteAll(int fd, std::vector<iovec>* iov) {
  for (size_t next = 0; next < iov->size();) {
    const int count = static_cast<int>(std::min<size_t>(iov->size() - next, IOV_MAX));
    ssize_t written = writev(fd, iov->data() + next, count);
    if (written < 0 && errno == EINTR) continue;
    if (written < 0) return false;
    for (; written > 0 && static_cast<size_t>(written) >= (*iov)[next].iov_len; ++next) {
      written -= static_cast<ssize_t>((*iov)[next].iov_len);
    }
    if (written > 0) {  // a short write ended inside this iovec
      (*iov)[next].iov_base = static_cast<char*>((*iov)[next].iov_base) + written;
      (*iov)[next].iov_len -= static_cast<size_t>(written);
    }
  }
  return true;
}

bool SyncPath(const std::string& path, std::string* error) {
  const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  const bool ok = fd >= 0 && fsync(fd) == 0;
  if (!ok) *error = ErrnoText("fsync", path, errno);
  if (fd >= 0) close(fd);
  return ok;
}

}  // namespace

uint32_t Crc32cExtendPortable(uint32_t crc, const void* data, size_t size) {
  const auto& t = kCrcTables.t;
  const auto* p = static_cast<const unsigned char*>(data);
  uint32_t c = ~crc;
  for (; size > 0 && reinterpret_cast<uintptr_t>(p) % 8 != 0; --size) c = t[0][(c ^ *p++) & 0xff] ^ (c >> 8);
  for (; size >= 8; size -= 8, p += 8) {
    uint64_t word;
    std::memcpy(&word, p, 8);
    word ^= c;
    c = t[7][word & 0xff] ^ t[6][(word >> 8) & 0xff] ^ t[5][(word >> 16) & 0xff] ^
        t[4][(word >> 24) & 0xff] ^ t[3][(word >> 32) & 0xff] ^ t[2][(word >> 40) & 0xff] ^
        t[1][(word >> 48) & 0xff] ^ t[0][word >> 56];
  }
  for (; size > 0; --size) c = t[0][(c ^ *p++) & 0xff] ^ (c >> 8);
  return ~c;
}

uint32_t Crc32cExtend(uint32_t crc, const void* data, size_t size) {
#if defined(__x86_64__)
  if (HasSse42()) return Crc32cExtendSse42(crc, data, size);
#endif
  return Crc32cExtendPortable(crc, data, size);
}

// --- Opening and recovery.

std::unique_ptr<WriteAheadLog> WriteAheadLog::Open(const Options& options, std::string* error) {
  std::error_code ec;
  std::filesystem::create_directories(options.dir, ec);
  if (ec) {
    *error = "wal: create " + options.dir + ": " + ec.message();
    return nullptr;
  }
  const int dir_fd = open(options.dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir_fd < 0) {
    *error = ErrnoText("open", options.dir, errno);
    return nullptr;
  }
  if (flock(dir_fd, LOCK_EX | LOCK_NB) != 0) {
    *error = errno == EWOULDBLOCK ? "wal: " + options.dir + " is in use by another open log"
                                  : ErrnoText("lock", options.dir, errno);
    close(dir_fd);
    return nullptr;
  }
  std::unique_ptr<WriteAheadLog> wal(new WriteAheadLog(options, dir_fd));
  if (!wal->Recover(error)) return nullptr;
  wal->writer_ = std::thread(&WriteAheadLog::WriterLoop, wal.get());
  return wal;
}

WriteAheadLog::WriteAheadLog(const Options& options, int dir_fd) : options_(options), dir_fd_(dir_fd) {}

WriteAheadLog::~WriteAheadLog() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  work_cv_.notify_all();
  if (writer_.joinable()) writer_.join();
  if (active_fd_ >= 0) close(active_fd_);
  close(dir_fd_);
}

std::string WriteAheadLog::PathOf(uint64_t first_seq) const {
  char name[32];
  std::snprintf(name, sizeof(name), "%020llu.wal", static_cast<unsigned long long>(first_seq));
  return options_.dir + "/" + name;
}

// Runs before the writer thread starts: no other thread sees the log yet, the mutex is not needed.
bool WriteAheadLog::Recover(std::string* error) {
  std::vector<uint64_t> firsts;
  if (!ListSegments(options_.dir, &firsts, error)) return false;
  for (size_t i = 0; i < firsts.size(); ++i) {
    const std::string path = PathOf(firsts[i]);
    if (i == 0) {
      last_seq_ = firsts[i] - 1;
    } else if (firsts[i] != last_seq_ + 1) {
      LOG(WARNING) << "wal: " << path << " starts at seq " << firsts[i] << " after seq " << last_seq_
                   << " (records " << last_seq_ + 1 << ".." << firsts[i] - 1 << " are not in the log)";
      last_seq_ = firsts[i] - 1;
    }
    MappedFile file;
    if (!file.Open(path, error)) return false;
    if (file.data().empty()) {
      // Created, and the crash came before its first record: nothing was acknowledged from it.
      if (unlink(path.c_str()) != 0) {
        *error = ErrnoText("delete", path, errno);
        return false;
      }
      continue;
    }
    const ScanResult scan = ScanRecords(file.data(), firsts[i], nullptr);
    if (scan.valid_bytes > 0) segments_.push_back({firsts[i], scan.valid_bytes});
    bytes_ += scan.valid_bytes;
    last_seq_ += scan.records;
    if (!scan.reason.empty()) {
      if (!Cut(firsts, i, scan.valid_bytes, scan.reason, error)) return false;
      break;
    }
  }
  recovered_last_seq_ = last_seq_;
  return true;
}

bool WriteAheadLog::Cut(const std::vector<uint64_t>& firsts, size_t index, uint64_t valid_bytes,
                        const std::string& reason, std::string* error) {
  const std::string path = PathOf(firsts[index]);
  LOG(WARNING) << "wal: " << path << " offset " << valid_bytes << ": " << reason << "; "
               << (valid_bytes > 0 ? "truncating the segment there" : "deleting the segment") << " and "
               << firsts.size() - index - 1 << " later segment(s)";
  if (valid_bytes > 0) {
    if (truncate(path.c_str(), static_cast<off_t>(valid_bytes)) != 0) {
      *error = ErrnoText("truncate", path, errno);
      return false;
    }
    if (!SyncPath(path, error)) return false;
  }
  for (size_t i = valid_bytes > 0 ? index + 1 : index; i < firsts.size(); ++i) {
    const std::string doomed = PathOf(firsts[i]);
    if (unlink(doomed.c_str()) != 0) {
      *error = ErrnoText("delete", doomed, errno);
      return false;
    }
  }
  if (fsync(dir_fd_) != 0) {
    *error = ErrnoText("fsync", options_.dir, errno);
    return false;
  }
  return true;
}

void WriteAheadLog::Replay(const std::function<void(uint64_t seq, std::string_view payload)>& fn) {
  std::vector<Segment> closed;
  {
    std::lock_guard lock(mutex_);
    closed.assign(segments_.begin(), segments_.end() - (has_active_ ? 1 : 0));
  }
  for (const Segment& segment : closed) {
    const std::string path = PathOf(segment.first_seq);
    MappedFile file;
    std::string error;
    if (!file.Open(path, &error)) {
      if (file.missing()) continue;  // deleted by DeleteBefore meanwhile
      LOG(ERROR) << error << "; replay stops";
      return;
    }
    const ScanResult scan = ScanRecords(file.data().substr(0, segment.bytes), segment.first_seq, &fn);
    if (!scan.reason.empty() || scan.valid_bytes < segment.bytes) {
      LOG(ERROR) << "wal: " << path << " offset " << scan.valid_bytes << " changed since the log was opened: "
                 << (scan.reason.empty() ? "file shorter" : scan.reason) << "; replay stops";
      return;
    }
  }
}

// --- Appending.

uint64_t WriteAheadLog::Append(std::string_view payload, std::string* error) {
  if (payload.size() > UINT32_MAX) {
    *error = "wal: record of " + std::to_string(payload.size()) + " bytes exceeds the 4 GiB limit";
    return 0;
  }
  Record record;
  record.payload = payload;
  const uint32_t payload_crc = Crc32c(payload);  // the long part, outside the mutex
  std::unique_lock lock(mutex_);
  if (!failure_.empty() || stopping_ || FullLocked()) {
    *error = !failure_.empty() ? failure_
             : stopping_       ? std::string("wal: closed")
                               : "wal: full: " + std::to_string(bytes_ + queued_bytes_) +
                               " bytes on disk or queued, max_bytes " + std::to_string(options_.max_bytes);
    return 0;
  }
  record.seq = ++last_seq_;
  const RecordHeader header{static_cast<uint32_t>(payload.size()), RecordChecksum(payload_crc, record.seq),
                            record.seq};
  std::memcpy(record.header, &header, sizeof(header));
  queue_.push_back(&record);
  queued_bytes_ += RecordBytes(payload.size());
  work_cv_.notify_one();
  done_cv_.wait(lock, [&record] { return record.done; });
  if (!record.error.empty()) {
    *error = record.error;
    return 0;
  }
  return record.seq;
}

void WriteAheadLog::WriterLoop() {
  const auto delay = std::chrono::microseconds(options_.group_commit_delay_us);
  std::vector<Record*> batch;
  std::unique_lock lock(mutex_);
  while (true) {
    work_cv_.wait(lock, [this] { return !queue_.empty() || stopping_; });
    if (queue_.empty()) return;  // stopping, nothing left to write
    if (delay.count() > 0 && !stopping_) work_cv_.wait_for(lock, delay, [this] { return stopping_; });
    batch.swap(queue_);
    std::string error = failure_;
    lock.unlock();
    if (error.empty() && !WriteBatch(batch, &error)) LOG(ERROR) << error << "; appends fail until a restart";
    lock.lock();
    if (failure_.empty()) failure_ = error;
    Complete(batch, error);
    batch.clear();
  }
}

// REQUIRES: mutex_ held.
void WriteAheadLog::Complete(const std::vector<Record*>& batch, const std::string& error) {
  for (Record* record : batch) {
    queued_bytes_ -= RecordBytes(record->payload.size());
    record->error = error;
    record->done = true;  // the appender may return (and destroy *record) once the mutex is released
  }
  done_cv_.notify_all();
}

bool WriteAheadLog::WriteBatch(const std::vector<Record*>& batch, std::string* error) {
  for (size_t begin = 0; begin < batch.size();) {
    if (active_fd_ < 0 || active_bytes_ >= options_.segment_bytes) {
      if (!SyncActive(error) || !StartSegment(batch[begin]->seq, error)) return false;
    }
    // The records that go to this segment: at least one, then while it is below segment_bytes.
    size_t end = begin;
    uint64_t segment_bytes = active_bytes_;
    do {
      segment_bytes += RecordBytes(batch[end++]->payload.size());
    } while (end < batch.size() && segment_bytes < options_.segment_bytes);
    if (!WriteRecords(batch, begin, end, error)) return false;
    begin = end;
  }
  return SyncActive(error);
}

bool WriteAheadLog::WriteRecords(const std::vector<Record*>& batch, size_t begin, size_t end,
                                 std::string* error) {
  std::vector<iovec> iov;
  iov.reserve(2 * (end - begin));
  uint64_t total = 0;
  for (size_t i = begin; i < end; ++i) {
    iov.push_back({batch[i]->header, kHeaderBytes});
    const std::string_view payload = batch[i]->payload;
    if (!payload.empty()) iov.push_back({const_cast<char*>(payload.data()), payload.size()});
    total += RecordBytes(payload.size());
  }
  if (!WriteAll(active_fd_, &iov)) {
    *error = ErrnoText("write", PathOf(active_first_seq_), errno);
    return false;
  }
  active_bytes_ += total;
  unsynced_records_ += end - begin;
  std::lock_guard lock(mutex_);
  segments_.back().bytes += total;
  bytes_ += total;
  return true;
}

bool WriteAheadLog::StartSegment(uint64_t first_seq, std::string* error) {
  const std::string path = PathOf(first_seq);
  const int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd < 0) {
    *error = ErrnoText("create", path, errno);
    return false;
  }
  if (fsync(dir_fd_) != 0) {
    *error = ErrnoText("fsync", options_.dir, errno);
    close(fd);
    return false;
  }
  if (active_fd_ >= 0) close(active_fd_);
  active_fd_ = fd;
  active_first_seq_ = first_seq;
  active_bytes_ = 0;
  std::lock_guard lock(mutex_);
  segments_.push_back({first_seq, 0});
  has_active_ = true;
  return true;
}

bool WriteAheadLog::SyncActive(std::string* error) {
  if (unsynced_records_ == 0) return true;
  const auto start = std::chrono::steady_clock::now();
  if (fdatasync(active_fd_) != 0) {
    *error = ErrnoText("fdatasync", PathOf(active_first_seq_), errno);
    return false;
  }
  const std::chrono::duration<double> seconds = std::chrono::steady_clock::now() - start;
  const size_t records = unsynced_records_;
  unsynced_records_ = 0;
  std::lock_guard lock(observer_mutex_);
  if (fsync_observer_) fsync_observer_(seconds.count(), records);
  return true;
}

// --- Deleting and accessors.

uint64_t WriteAheadLog::LastSeqOf(size_t index) const {
  return index + 1 < segments_.size() ? segments_[index + 1].first_seq - 1 : recovered_last_seq_;
}

void WriteAheadLog::DeleteBefore(uint64_t watermark) {
  std::vector<uint64_t> doomed;
  {
    std::lock_guard lock(mutex_);
    const size_t closed = segments_.size() - (has_active_ ? 1 : 0);
    size_t count = 0;
    while (count < closed && LastSeqOf(count) < watermark) bytes_ -= segments_[count++].bytes;
    for (size_t i = 0; i < count; ++i) doomed.push_back(segments_[i].first_seq);
    segments_.erase(segments_.begin(), segments_.begin() + count);
  }
  for (uint64_t first_seq : doomed) {
    const std::string path = PathOf(first_seq);
    if (unlink(path.c_str()) != 0) LOG(WARNING) << ErrnoText("delete", path, errno);
  }
}

bool WriteAheadLog::FullLocked() const {
  return options_.max_bytes > 0 && bytes_ + queued_bytes_ >= options_.max_bytes;
}

bool WriteAheadLog::Full() const {
  std::lock_guard lock(mutex_);
  return FullLocked();
}

uint64_t WriteAheadLog::bytes() const {
  std::lock_guard lock(mutex_);
  return bytes_;
}

size_t WriteAheadLog::segments() const {
  std::lock_guard lock(mutex_);
  return segments_.size();
}

uint64_t WriteAheadLog::last_seq() const {
  std::lock_guard lock(mutex_);
  return last_seq_;
}

void WriteAheadLog::set_fsync_observer(std::function<void(double seconds, size_t records)> observer) {
  std::lock_guard lock(observer_mutex_);
  fsync_observer_ = std::move(observer);
}

}  // namespace prom2gcm
