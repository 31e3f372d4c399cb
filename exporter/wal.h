// WriteAheadLog is the storage of the durable queue: an accepted write request is appended to it, and
// is on disk, before the request is answered 2xx. After a crash (kill -9, power loss) a restart replays
// every record still in the log; the owner deletes what the backend has confirmed with DeleteBefore.
//
// On disk the log is a directory of segment files named after the seq of their first record,
// zero-padded to 20 digits: 00000000000000000001.wal, 00000000000000004097.wal, ... A segment is a
// sequence of records, each a 16-byte header and then the payload, all little-endian:
//   [u32 payload length][u32 checksum][u64 seq][payload bytes]
// The checksum is CRC-32C (Castagnoli) over the payload followed by the 8 seq bytes (payload first,
// so appenders checksum their payload in parallel before a seq is assigned, and only the 8 seq bytes
// are added under the mutex). CRC-32C is computed here by hand (the SSE4.2 crc32 instruction when the
// CPU has it, else slicing-by-8 tables) rather than zlib's CRC-32: it needs no extra library and the
// instruction makes it several GB/s, so checksumming MB payloads costs little next to the fsync.
// Seqs are consecutive within a segment: its first record has the seq of the file's name, each next
// record the previous seq + 1. Across segments seqs increase; a jump between two segments is logged
// and kept (it is what remains when a crash persisted only part of a DeleteBefore's unlinks, and the
// records on both sides are replayed). A zero-filled tail never validates (its seq would be 0).
//
// Durability: Append returns once its record was written and fdatasync'ed. A single writer thread
// does all writes (group commit): it takes every record queued so far, writes them with writev,
// fdatasyncs once and wakes all their appenders, optionally after waiting group_commit_delay_us to
// gather more. It also rotates segments: a segment is closed once it holds segment_bytes or more, the
// next record starts a new one, and the directory is fsync'ed when a segment is created. Each Open
// starts a new segment at the first Append; the segments found by Open are all closed.
//
// Recovery (Open): segments are read in seq order and every record is validated (length within the
// file, checksum, seq). At the first torn or corrupt record the log is cut: its segment is truncated
// there (deleted if nothing valid precedes it) and every later segment is deleted, since what they
// hold follows a hole; one LOG(WARNING) line names the file, offset, reason and the segments dropped.
// So a corrupt record in a middle segment loses that record and all records after it. A 0-byte segment
// (a crash right after its creation) holds nothing and is removed silently. Only I/O errors fail Open.
//
// Errors: an I/O error in the writer (write, fdatasync, creating a segment) is sticky: the records of
// that batch and every later Append fail with the error, since after a failed fsync the kernel's page
// cache no longer says what is on disk. Reopening the log (a restart) recovers, cutting any partial
// write. Records of a failed batch may have reached the disk and then are replayed: delivery is at
// least once.
//
// Disk is bounded by max_bytes: once the segments plus the records queued for writing hold that
// much, Full() is true and Append fails (the log overshoots the bound by less than one record).
// DeleteBefore frees space again.
//
// Thread-safety: Append, DeleteBefore and the accessors may be called concurrently from any thread.
// Replay must be called before the first Append and not concurrently with it. State shared with the
// writer thread is guarded by mutex_; the active segment's file descriptor belongs to the writer
// thread alone. The directory is flock'ed so a second process (or a second Open) cannot share it.
#ifndef PROM2GCM_EXPORTER_WAL_H_
#define PROM2GCM_EXPORTER_WAL_H_

#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace prom2gcm {

class WriteAheadLog {
 public:
  struct Options {
    std::string dir;                   // created if missing
    size_t segment_bytes = 64 << 20;   // a segment is closed once it holds this much
    size_t max_bytes = 1ull << 30;     // Full() once the log holds this much; 0: no bound
    int64_t group_commit_delay_us = 0; // extra wait before an fsync to gather more appends
  };

  // The fixed header before each payload.
  static constexpr size_t kHeaderBytes = 16;

  // Opens the log in options.dir, validating and cutting it as described above. Returns null with a
  // one-line *error on I/O errors only (including a directory in use by another open log).
  static std::unique_ptr<WriteAheadLog> Open(const Options& options, std::string* error);
  WriteAheadLog(const WriteAheadLog&) = delete;
  WriteAheadLog& operator=(const WriteAheadLog&) = delete;
  // Waits for the records already queued to be written and synced, then stops the writer thread.
  ~WriteAheadLog();

  // Calls fn(seq, payload) for every record that survived Open and was not deleted since, in seq
  // order. The payload view is valid during the call only. Call before the first Append.
  void Replay(const std::function<void(uint64_t seq, std::string_view payload)>& fn);

  // Appends one record and blocks until it is on disk. The payload is not copied (the writer writes
  // it from the caller's memory). Returns the record's seq (> 0, the last seq + 1), or 0 with a
  // one-line *error when the log is Full(), the payload exceeds 4 GiB - 1, or on an I/O error.
  uint64_t Append(std::string_view payload, std::string* error);

  // Deletes every closed segment whose records all have seq < watermark (the owner's lowest
  // unconfirmed seq). The active segment is never deleted.
  void DeleteBefore(uint64_t watermark);

  bool Full() const;            // bounded, and bytes() plus the records queued reach max_bytes
  uint64_t bytes() const;       // sum of the segment files' sizes
  size_t segments() const;      // segment files, the active one included
  uint64_t last_seq() const;    // of the last record appended (or queued), or replayed; 0 if none
  // Called from the writer thread after each fdatasync with its latency and the records it made
  // durable (for metrics). Set it before the first Append or any time after; may be empty.
  void set_fsync_observer(std::function<void(double seconds, size_t records)> observer);

  const Options& options() const { return options_; }

 private:
  // One queued record; lives on its appender's stack until done.
  struct Record {
    std::string_view payload;
    uint64_t seq = 0;
    unsigned char header[kHeaderBytes];
    bool done = false;  // GUARDED_BY(mutex_)
    std::string error;  // GUARDED_BY(mutex_): set with done on failure
  };
  struct Segment {
    uint64_t first_seq = 0;
    uint64_t bytes = 0;
  };

  WriteAheadLog(const Options& options, int dir_fd);

  // Open's recovery: reads the segments, cuts at the first bad record, fills segments_ and last_seq_.
  bool Recover(std::string* error);
  // Cuts the log at offset `valid_bytes` of segment firsts[index] (deleting it when 0) and deletes the
  // segments after it, logging one line with the reason.
  bool Cut(const std::vector<uint64_t>& firsts, size_t index, uint64_t valid_bytes,
           const std::string& reason, std::string* error);
  // The seq of the last record in closed segment segments_[index]. REQUIRES: mutex_ held.
  uint64_t LastSeqOf(size_t index) const;

  std::string PathOf(uint64_t first_seq) const;
  bool FullLocked() const;  // REQUIRES: mutex_ held

  // Writer thread.
  void WriterLoop();
  // Writes and syncs a batch, rotating segments as needed; false with *error on an I/O error.
  bool WriteBatch(const std::vector<Record*>& batch, std::string* error);
  bool WriteRecords(const std::vector<Record*>& batch, size_t begin, size_t end, std::string* error);
  bool StartSegment(uint64_t first_seq, std::string* error);
  bool SyncActive(std::string* error);
  void Complete(const std::vector<Record*>& batch, const std::string& error);

  const Options options_;
  const int dir_fd_;  // flock'ed for the log's lifetime

  // Writer-thread state.
  int active_fd_ = -1;
  uint64_t active_first_seq_ = 0;
  uint64_t active_bytes_ = 0;
  size_t unsynced_records_ = 0;

  mutable std::mutex mutex_;
  std::condition_variable work_cv_;  // the writer waits for records or stopping_
  std::condition_variable done_cv_;  // appenders wait for their record's done
  std::vector<Record*> queue_;       // GUARDED_BY(mutex_): in seq order
  std::vector<Segment> segments_;    // GUARDED_BY(mutex_): in seq order; the last one is active once
                                     // has_active_
  bool has_active_ = false;          // GUARDED_BY(mutex_)
  uint64_t recovered_last_seq_ = 0;  // the last seq Open found (set before the writer starts)
  uint64_t bytes_ = 0;               // GUARDED_BY(mutex_): sum of segments_[].bytes
  uint64_t queued_bytes_ = 0;        // GUARDED_BY(mutex_): headers + payloads in queue_ or being written
  uint64_t last_seq_ = 0;            // GUARDED_BY(mutex_)
  std::string failure_;              // GUARDED_BY(mutex_): the sticky I/O error, if any
  bool stopping_ = false;            // GUARDED_BY(mutex_)

  std::mutex observer_mutex_;
  std::function<void(double, size_t)> fsync_observer_;  // GUARDED_BY(observer_mutex_)

  std::thread writer_;  // started last, joined by the destructor
};

// CRC-32C (Castagnoli), as in the record checksum. Extend continues crc over more bytes:
// Crc32cExtend(Crc32c(a), b) == Crc32c(a + b). Exposed for tests.
uint32_t Crc32cExtend(uint32_t crc, const void* data, size_t size);
inline uint32_t Crc32c(std::string_view data) { return Crc32cExtend(0, data.data(), data.size()); }
uint32_t Crc32cExtendPortable(uint32_t crc, const void* data, size_t size);  // no SSE4.2

}  // namespace prom2gcm

#endif  // PROM2GCM_EXPORTER_WAL_H_
