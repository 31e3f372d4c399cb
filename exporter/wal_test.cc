#include "exporter/wal.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace prom2gcm {
namespace {

namespace fs = std::filesystem;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using Entry = std::pair<uint64_t, std::string>;

constexpr size_t kHeader = WriteAheadLog::kHeaderBytes;

class WalTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern = ::testing::TempDir() + "wal_test.XXXXXX";
    ASSERT_NE(mkdtemp(pattern.data()), nullptr);
    dir_ = pattern + "/log";  // Open creates it
  }
  void TearDown() override { fs::remove_all(fs::path(dir_).parent_path()); }

  WriteAheadLog::Options Options(size_t segment_bytes = 64 << 20, size_t max_bytes = 0) const {
    WriteAheadLog::Options options;
    options.dir = dir_;
    options.segment_bytes = segment_bytes;
    options.max_bytes = max_bytes;
    return options;
  }

  std::unique_ptr<WriteAheadLog> Open(const WriteAheadLog::Options& options) {
    std::string error;
    auto wal = WriteAheadLog::Open(options, &error);
    EXPECT_NE(wal, nullptr) << error;
    return wal;
  }

  static uint64_t MustAppend(WriteAheadLog* wal, std::string_view payload) {
    std::string error;
    const uint64_t seq = wal->Append(payload, &error);
    EXPECT_GT(seq, 0u) << error;
    return seq;
  }

  static std::vector<Entry> ReplayAll(WriteAheadLog* wal) {
    std::vector<Entry> entries;
    wal->Replay([&](uint64_t seq, std::string_view payload) {
      entries.emplace_back(seq, std::string(payload));
    });
    return entries;
  }

  // Segment file paths in name (= seq) order.
  std::vector<std::string> SegmentFiles() const {
    std::vector<std::string> files;
    for (const auto& entry : fs::directory_iterator(dir_)) files.push_back(entry.path().string());
    std::sort(files.begin(), files.end());
    return files;
  }

  static std::string SegmentName(uint64_t first_seq) {
    std::string digits = std::to_string(first_seq);
    return std::string(20 - digits.size(), '0') + digits + ".wal";
  }

  static void FlipByte(const std::string& path, uint64_t offset) {
    std::fstream file(path, std::ios::in | std::ios::out | std::ios::binary);
    file.seekg(offset);
    char c;
    file.get(c);
    file.seekp(offset);
    file.put(static_cast<char>(c ^ 0x40));
  }

  std::string dir_;
};

TEST(Crc32cTest, KnownValuesAndExtend) {
  EXPECT_EQ(Crc32c("123456789"), 0xE3069283u);
  EXPECT_EQ(Crc32c(""), 0u);
  std::string data(1000, '\0');
  for (size_t i = 0; i < data.size(); ++i) data[i] = static_cast<char>(i * 7 + 3);
  for (size_t start : {0, 1, 5}) {
    for (size_t split : {0, 3, 8, 17, 500}) {
      const std::string_view whole = std::string_view(data).substr(start);
      const uint32_t expected = Crc32cExtendPortable(0, whole.data(), whole.size());
      EXPECT_EQ(Crc32c(whole), expected);
      EXPECT_EQ(Crc32cExtend(Crc32c(whole.substr(0, split)), whole.data() + split, whole.size() - split),
                expected);
    }
  }
}

TEST_F(WalTest, AppendReopenReplayContinuesSeqs) {
  {
    auto wal = Open(Options());
    EXPECT_THAT(ReplayAll(wal.get()), ElementsAre());
    EXPECT_EQ(MustAppend(wal.get(), "one"), 1u);
    EXPECT_EQ(MustAppend(wal.get(), ""), 2u);
    EXPECT_EQ(MustAppend(wal.get(), std::string(100000, 'x')), 3u);
    EXPECT_EQ(wal->bytes(), 3 * kHeader + 3 + 100000);
    EXPECT_EQ(wal->last_seq(), 3u);
  }
  {
    auto wal = Open(Options());
    EXPECT_EQ(wal->last_seq(), 3u);
    EXPECT_THAT(ReplayAll(wal.get()),
                ElementsAre(Entry{1, "one"}, Entry{2, ""}, Entry{3, std::string(100000, 'x')}));
    EXPECT_EQ(MustAppend(wal.get(), "four"), 4u);
    EXPECT_EQ(wal->segments(), 2u);  // each Open starts a new segment
  }
  auto wal = Open(Options());
  const auto entries = ReplayAll(wal.get());
  ASSERT_EQ(entries.size(), 4u);
  EXPECT_EQ(entries.back(), (Entry{4, "four"}));
  EXPECT_EQ(MustAppend(wal.get(), "five"), 5u);
}

TEST_F(WalTest, SecondOpenOfTheSameDirectoryFails) {
  auto wal = Open(Options());
  std::string error;
  EXPECT_EQ(WriteAheadLog::Open(Options(), &error), nullptr);
  EXPECT_THAT(error, HasSubstr("in use"));
}

TEST_F(WalTest, ConcurrentAppendsShareFsyncs) {
  constexpr int kThreads = 16;
  constexpr int kPerThread = 125;
  std::atomic<size_t> fsyncs{0}, synced_records{0};
  std::vector<std::vector<uint64_t>> seqs(kThreads);
  {
    auto wal = Open(Options(64 << 10));
    wal->set_fsync_observer([&](double seconds, size_t records) {
      EXPECT_GE(seconds, 0);
      ++fsyncs;
      synced_records += records;
    });
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) {
      threads.emplace_back([&, t] {
        for (int i = 0; i < kPerThread; ++i) {
          seqs[t].push_back(MustAppend(wal.get(), "t" + std::to_string(t) + "-" + std::to_string(i)));
        }
      });
    }
    for (auto& thread : threads) thread.join();
    EXPECT_EQ(wal->last_seq(), uint64_t{kThreads * kPerThread});
  }
  constexpr size_t kRecords = kThreads * kPerThread;
  EXPECT_EQ(synced_records.load(), kRecords);
  EXPECT_LT(fsyncs.load(), kRecords);  // group commit: some fsyncs covered several records
  RecordProperty("fsyncs", static_cast<int>(fsyncs.load()));
  std::vector<bool> seen(kRecords + 1, false);
  for (const auto& thread_seqs : seqs) {
    for (size_t i = 1; i < thread_seqs.size(); ++i) EXPECT_LT(thread_seqs[i - 1], thread_seqs[i]);
    for (uint64_t seq : thread_seqs) {
      ASSERT_LE(seq, kRecords);
      EXPECT_FALSE(seen[seq]) << seq;
      seen[seq] = true;
    }
  }
  auto wal = Open(Options());
  const auto entries = ReplayAll(wal.get());
  ASSERT_EQ(entries.size(), kRecords);
  for (size_t i = 0; i < entries.size(); ++i) EXPECT_EQ(entries[i].first, i + 1);
  // Each thread's payloads come back in its own order.
  std::vector<int> next(kThreads, 0);
  for (const auto& [seq, payload] : entries) {
    const int t = std::stoi(payload.substr(1));
    EXPECT_EQ(payload, "t" + std::to_string(t) + "-" + std::to_string(next[t]++));
  }
}

TEST_F(WalTest, GroupCommitDelayGathersAppends) {
  auto options = Options();
  options.group_commit_delay_us = 2000;
  auto wal = Open(options);
  std::atomic<size_t> fsyncs{0};
  wal->set_fsync_observer([&](double, size_t) { ++fsyncs; });
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 20; ++i) MustAppend(wal.get(), "payload");
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_LT(fsyncs.load(), 80u);
  EXPECT_EQ(wal->last_seq(), 80u);
}

TEST_F(WalTest, RotatesPastSegmentBytes) {
  const std::string payload(84, 'p');  // 100 bytes a record
  auto wal = Open(Options(250));
  for (int i = 0; i < 7; ++i) MustAppend(wal.get(), payload);
  // A segment takes records while below 250 bytes: 3 records (300 bytes) each.
  EXPECT_EQ(wal->segments(), 3u);
  EXPECT_EQ(wal->bytes(), 700u);
  EXPECT_THAT(SegmentFiles(), ElementsAre(dir_ + "/" + SegmentName(1), dir_ + "/" + SegmentName(4),
                                          dir_ + "/" + SegmentName(7)));
  EXPECT_EQ(fs::file_size(SegmentFiles()[0]), 300u);
  wal.reset();
  wal = Open(Options(250));
  EXPECT_EQ(ReplayAll(wal.get()).size(), 7u);
}

TEST_F(WalTest, DeleteBeforeDeletesConfirmedClosedSegmentsOnly) {
  const std::string payload(84, 'p');
  auto wal = Open(Options(250));
  for (int i = 0; i < 7; ++i) MustAppend(wal.get(), payload);  // segments 1-3, 4-6, 7 (active)
  wal->DeleteBefore(3);  // seq 3 unconfirmed: nothing goes
  EXPECT_EQ(wal->segments(), 3u);
  wal->DeleteBefore(4);
  EXPECT_EQ(wal->segments(), 2u);
  EXPECT_EQ(wal->bytes(), 400u);
  EXPECT_THAT(SegmentFiles(), ElementsAre(dir_ + "/" + SegmentName(4), dir_ + "/" + SegmentName(7)));
  wal->DeleteBefore(1000);  // the active segment stays
  EXPECT_THAT(SegmentFiles(), ElementsAre(dir_ + "/" + SegmentName(7)));
  EXPECT_EQ(wal->bytes(), 100u);
  EXPECT_EQ(MustAppend(wal.get(), payload), 8u);
  wal.reset();

  // After a reopen every segment is closed: the recovered last one goes once all of it is confirmed.
  wal = Open(Options(250));
  EXPECT_THAT(ReplayAll(wal.get()), ElementsAre(Entry{7, payload}, Entry{8, payload}));
  wal->DeleteBefore(8);
  EXPECT_EQ(wal->segments(), 1u);
  wal->DeleteBefore(9);
  EXPECT_EQ(wal->segments(), 0u);
  EXPECT_EQ(wal->bytes(), 0u);
  EXPECT_EQ(MustAppend(wal.get(), payload), 9u);
}

TEST_F(WalTest, TornTailIsTruncated) {
  {
    auto wal = Open(Options());
    for (int i = 1; i <= 3; ++i) MustAppend(wal.get(), "record" + std::to_string(i));
  }
  const std::string file = SegmentFiles().back();
  fs::resize_file(file, 2 * (kHeader + 7) + kHeader + 3);  // the third record loses its end
  auto wal = Open(Options());
  EXPECT_EQ(fs::file_size(file), 2 * (kHeader + 7));
  EXPECT_THAT(ReplayAll(wal.get()), ElementsAre(Entry{1, "record1"}, Entry{2, "record2"}));
  EXPECT_EQ(MustAppend(wal.get(), "again"), 3u);
  wal.reset();
  wal = Open(Options());
  EXPECT_THAT(ReplayAll(wal.get()), ElementsAre(Entry{1, "record1"}, Entry{2, "record2"}, Entry{3, "again"}));
}

TEST_F(WalTest, TornHeaderIsTruncated) {
  {
    auto wal = Open(Options());
    MustAppend(wal.get(), "a");
    MustAppend(wal.get(), "b");
  }
  fs::resize_file(SegmentFiles().back(), kHeader + 1 + 5);
  auto wal = Open(Options());
  EXPECT_THAT(ReplayAll(wal.get()), ElementsAre(Entry{1, "a"}));
  EXPECT_EQ(MustAppend(wal.get(), "c"), 2u);
}

TEST_F(WalTest, CorruptLastRecordIsTruncated) {
  {
    auto wal = Open(Options());
    for (int i = 1; i <= 3; ++i) MustAppend(wal.get(), "record" + std::to_string(i));
  }
  const std::string file = SegmentFiles().back();
  FlipByte(file, 2 * (kHeader + 7) + kHeader + 2);  // a payload byte of record 3
  auto wal = Open(Options());
  EXPECT_EQ(fs::file_size(file), 2 * (kHeader + 7));
  EXPECT_THAT(ReplayAll(wal.get()), ElementsAre(Entry{1, "record1"}, Entry{2, "record2"}));
  EXPECT_EQ(MustAppend(wal.get(), "new3"), 3u);
}

TEST_F(WalTest, CorruptFirstRecordDeletesTheSegment) {
  {
    auto wal = Open(Options());
    MustAppend(wal.get(), "only");
  }
  FlipByte(SegmentFiles().back(), 9);  // a seq byte: the checksum no longer matches
  auto wal = Open(Options());
  EXPECT_TRUE(SegmentFiles().empty());
  EXPECT_THAT(ReplayAll(wal.get()), ElementsAre());
  EXPECT_EQ(MustAppend(wal.get(), "first"), 1u);
}

// A bad record in a middle segment loses it, the rest of its segment and every later segment: what
// follows a hole is not replayed.
TEST_F(WalTest, CorruptMiddleSegmentDropsItsSuccessors) {
  const std::string payload(84, 'p');
  {
    auto wal = Open(Options(250));
    for (int i = 0; i < 7; ++i) MustAppend(wal.get(), payload);  // segments 1-3, 4-6, 7
  }
  FlipByte(dir_ + "/" + SegmentName(4), 100 + kHeader + 10);  // record 5
  auto wal = Open(Options(250));
  EXPECT_THAT(SegmentFiles(), ElementsAre(dir_ + "/" + SegmentName(1), dir_ + "/" + SegmentName(4)));
  EXPECT_EQ(fs::file_size(dir_ + "/" + SegmentName(4)), 100u);
  EXPECT_EQ(wal->bytes(), 400u);
  const auto entries = ReplayAll(wal.get());
  ASSERT_EQ(entries.size(), 4u);
  EXPECT_EQ(entries.back().first, 4u);
  EXPECT_EQ(MustAppend(wal.get(), "five"), 5u);
}

TEST_F(WalTest, EmptySegmentFileIsRemoved) {
  {
    auto wal = Open(Options());
    MustAppend(wal.get(), "a");
    MustAppend(wal.get(), "b");
  }
  std::ofstream(dir_ + "/" + SegmentName(3)).close();  // created, then the crash
  auto wal = Open(Options());
  EXPECT_THAT(SegmentFiles(), ElementsAre(dir_ + "/" + SegmentName(1)));
  EXPECT_THAT(ReplayAll(wal.get()), ElementsAre(Entry{1, "a"}, Entry{2, "b"}));
  EXPECT_EQ(MustAppend(wal.get(), "c"), 3u);
}

TEST_F(WalTest, OnlyAnEmptySegmentKeepsItsSeq) {
  fs::create_directories(dir_);
  std::ofstream(dir_ + "/" + SegmentName(42)).close();
  auto wal = Open(Options());
  EXPECT_THAT(ReplayAll(wal.get()), ElementsAre());
  EXPECT_EQ(MustAppend(wal.get(), "x"), 42u);
}

TEST_F(WalTest, FullRefusesAppendsUntilDeleteBeforeFreesSpace) {
  const std::string payload(84, 'p');  // 100 bytes a record
  auto wal = Open(Options(200, 500));
  for (int i = 0; i < 5; ++i) MustAppend(wal.get(), payload);  // segments 1-2, 3-4, 5
  EXPECT_TRUE(wal->Full());
  std::string error;
  EXPECT_EQ(wal->Append(payload, &error), 0u);
  EXPECT_THAT(error, HasSubstr("full"));
  EXPECT_THAT(error, HasSubstr("max_bytes 500"));
  EXPECT_EQ(wal->last_seq(), 5u);
  wal->DeleteBefore(3);
  EXPECT_FALSE(wal->Full());
  EXPECT_EQ(wal->bytes(), 300u);
  EXPECT_EQ(MustAppend(wal.get(), payload), 6u);
}

TEST_F(WalTest, ReplayMaySkipDeletedSegments) {
  const std::string payload(84, 'p');
  {
    auto wal = Open(Options(250));
    for (int i = 0; i < 4; ++i) MustAppend(wal.get(), payload);
  }
  auto wal = Open(Options(250));
  wal->DeleteBefore(4);
  const auto entries = ReplayAll(wal.get());
  ASSERT_EQ(entries.size(), 1u);
  EXPECT_EQ(entries[0].first, 4u);
}

}  // namespace
}  // namespace prom2gcm
