#include "exporter/send_journal.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

namespace prom2gcm {
namespace {

constexpr int64_t kNow = 1'800'000'000'000;

JournalPoint Point(uint64_t key, int64_t end_ms, double baseline = 0, double last = 0, bool counter = false) {
  JournalPoint point;
  point.key = key;
  point.state.end_ms = end_ms;
  point.state.start_ms = end_ms - 60'000;
  point.state.baseline = baseline;
  point.state.last_value = last;
  point.state.counter = counter;
  return point;
}

class SendJournalTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char pattern[] = "/tmp/send_journal_test.XXXXXX";
    ASSERT_NE(mkdtemp(pattern), nullptr);
    dir_ = pattern;
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::unique_ptr<SendJournal> Open(size_t compact_bytes = 64 << 20) {
    SendJournal::Options options;
    options.dir = dir_;
    options.compact_bytes = compact_bytes;
    std::string error;
    auto journal = SendJournal::Open(options, [this] { return now_; }, &error);
    EXPECT_NE(journal, nullptr) << error;
    return journal;
  }
  size_t JournalFiles() const {
    size_t n = 0;
    for (const auto& file : std::filesystem::directory_iterator(dir_)) n += file.path().extension() == ".journal";
    return n;
  }
  std::string LastJournal() const {
    std::string last;
    for (const auto& file : std::filesystem::directory_iterator(dir_)) {
      if (file.path().extension() == ".journal" && file.path().string() > last) last = file.path().string();
    }
    return last;
  }

  std::string dir_;
  int64_t now_ = kNow;
};

TEST_F(SendJournalTest, AFirstStartHasNothing) {
  auto journal = Open();
  EXPECT_FALSE(journal->AnyDeliveredLeft());
  EXPECT_FALSE(journal->TakeDelivered(1).has_value());
  EXPECT_EQ(journal->ambiguous_count(), 0u);
}

TEST_F(SendJournalTest, DoneCallsRestoreTheirStatesAndUnansweredOnesAreAmbiguous) {
  {
    auto journal = Open();
    const JournalPoint first[] = {Point(1, kNow - 20'000, 5, 7, true), Point(2, kNow - 20'000)};
    const uint64_t a = journal->RecordIntent(first);
    journal->RecordDone(a);
    const JournalPoint second[] = {Point(1, kNow - 10'000, 5, 9, true)};
    const uint64_t b = journal->RecordIntent(second);
    journal->RecordDone(b);
    const JournalPoint in_flight[] = {Point(1, kNow - 5'000, 5, 11, true), Point(3, kNow - 5'000)};
    journal->RecordIntent(in_flight);  // killed before its answer
  }
  auto journal = Open();
  EXPECT_TRUE(journal->AnyDeliveredLeft());
  const std::optional<SentState> one = journal->TakeDelivered(1);
  ASSERT_TRUE(one.has_value());
  EXPECT_EQ(one->end_ms, kNow - 10'000);
  EXPECT_EQ(one->start_ms, kNow - 70'000);
  EXPECT_EQ(one->baseline, 5);
  EXPECT_EQ(one->last_value, 9);
  EXPECT_TRUE(one->counter);
  EXPECT_FALSE(journal->TakeDelivered(1).has_value()) << "restored once";
  EXPECT_TRUE(journal->AnyDeliveredLeft());
  EXPECT_EQ(journal->TakeDelivered(2)->end_ms, kNow - 20'000);
  EXPECT_FALSE(journal->AnyDeliveredLeft()) << "both states taken";
  EXPECT_FALSE(journal->TakeDelivered(3).has_value());
  EXPECT_EQ(journal->Ambiguous(1), kNow - 5'000);
  EXPECT_EQ(journal->Ambiguous(3), kNow - 5'000);
  EXPECT_FALSE(journal->Ambiguous(2).has_value());
}

TEST_F(SendJournalTest, IdsGoOnAcrossRestartsSoAnOldIntentIsNotClosedByANewDone) {
  uint64_t old_id = 0;
  {
    auto journal = Open();
    const JournalPoint points[] = {Point(1, kNow - 5'000)};
    old_id = journal->RecordIntent(points);
  }
  auto journal = Open();
  const JournalPoint points[] = {Point(2, kNow - 1'000)};
  const uint64_t new_id = journal->RecordIntent(points);
  EXPECT_GT(new_id, old_id);
  journal->RecordDone(new_id);
  journal.reset();
  journal = Open();
  EXPECT_EQ(journal->Ambiguous(1), kNow - 5'000);
  EXPECT_EQ(journal->TakeDelivered(2)->end_ms, kNow - 1'000);
}

TEST_F(SendJournalTest, CompactionFoldsJournalsIntoTheSnapshotAndKeepsPendingIntents) {
  uint64_t pending_id = 0;
  {
    auto journal = Open(/*compact_bytes=*/512);  // a rotation every few records
    for (int i = 0; i < 200; ++i) {
      const JournalPoint points[] = {Point(i % 10, kNow - 100'000 + i * 10, i, i + 1, true)};
      journal->RecordDone(journal->RecordIntent(points));
    }
    const JournalPoint in_flight[] = {Point(42, kNow - 1'000)};
    pending_id = journal->RecordIntent(in_flight);
    journal->CompactNow();
    EXPECT_LE(JournalFiles(), 1u) << "folded journals are deleted";
    EXPECT_TRUE(std::filesystem::exists(dir_ + "/sends.snapshot"));
  }
  auto journal = Open();
  for (int key = 0; key < 10; ++key) {
    const std::optional<SentState> state = journal->TakeDelivered(key);
    ASSERT_TRUE(state.has_value()) << key;
    EXPECT_EQ(state->end_ms, kNow - 100'000 + (190 + key) * 10) << "the newest state of series " << key;
    EXPECT_EQ(state->baseline, 190 + key);
  }
  EXPECT_EQ(journal->Ambiguous(42), kNow - 1'000) << "an intent carried through the snapshot";
  // Its done record in a later journal still closes it.
  journal->RecordDone(pending_id);
  journal.reset();
  journal = Open();
  EXPECT_FALSE(journal->Ambiguous(42).has_value());
  EXPECT_EQ(journal->TakeDelivered(42)->end_ms, kNow - 1'000);
}

TEST_F(SendJournalTest, OldStatesAreForgottenAndAnEarlierRunsIntentsAnHourAfterTheStart) {
  {
    auto journal = Open();
    const JournalPoint old_points[] = {Point(1, kNow - 26LL * 3600 * 1000)};
    journal->RecordDone(journal->RecordIntent(old_points));
    // Hours old (a backlog), in flight at the stop: ambiguous however old.
    const JournalPoint backlog[] = {Point(2, kNow - 5 * 3600 * 1000)};
    journal->RecordIntent(backlog);
  }
  auto journal = Open();
  EXPECT_FALSE(journal->TakeDelivered(1).has_value());
  EXPECT_EQ(journal->Ambiguous(2), kNow - 5 * 3600 * 1000);
  journal->CompactNow();
  journal.reset();
  journal = Open();
  EXPECT_TRUE(journal->Ambiguous(2).has_value()) << "a fold soon after the start keeps it";
  now_ += 3600 * 1000;
  journal->CompactNow();
  journal.reset();
  journal = Open();
  EXPECT_FALSE(journal->Ambiguous(2).has_value()) << "a fold an hour after the start forgets it";
}

TEST_F(SendJournalTest, ATornTailIsCutWithTheRecordsBeforeItKept) {
  {
    auto journal = Open();
    const JournalPoint points[] = {Point(1, kNow - 10'000)};
    journal->RecordDone(journal->RecordIntent(points));
    const JournalPoint more[] = {Point(1, kNow - 5'000)};
    journal->RecordDone(journal->RecordIntent(more));
  }
  const std::string path = LastJournal();
  std::filesystem::resize_file(path, std::filesystem::file_size(path) - 3);  // the last done record torn
  auto journal = Open();
  EXPECT_EQ(journal->TakeDelivered(1)->end_ms, kNow - 10'000);
  EXPECT_EQ(journal->Ambiguous(1), kNow - 5'000) << "its done record was lost, so the call is ambiguous";
}

TEST_F(SendJournalTest, ACorruptSnapshotIsIgnored) {
  {
    auto journal = Open();
    const JournalPoint points[] = {Point(1, kNow - 10'000)};
    journal->RecordDone(journal->RecordIntent(points));
    journal->CompactNow();
  }
  {
    std::fstream file(dir_ + "/sends.snapshot", std::ios::in | std::ios::out | std::ios::binary);
    file.seekp(12);
    file.put('\xff');
  }
  auto journal = Open();
  EXPECT_FALSE(journal->TakeDelivered(1).has_value());
}

TEST_F(SendJournalTest, KeysAreStableHashesOfTheIdentity) {
  EXPECT_EQ(SendJournal::KeyOf("identity bytes"), SendJournal::KeyOf(std::string("identity bytes")));
  EXPECT_NE(SendJournal::KeyOf("identity bytes"), SendJournal::KeyOf("identity byteS"));
  EXPECT_EQ(SendJournal::KeyOf(""), 0x2d06800538d394c2ULL) << "xxh3-64 of nothing, as in every run";
}

}  // namespace
}  // namespace prom2gcm
