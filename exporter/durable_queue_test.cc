#include "exporter/durable_queue.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <map>

namespace prom2gcm {
namespace {

class DurableQueueTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char pattern[] = "/tmp/durable_queue_test.XXXXXX";
    ASSERT_NE(mkdtemp(pattern), nullptr);
    dir_ = pattern;
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::unique_ptr<DurableQueue> Open(size_t max_bytes = 1 << 30, size_t segment_bytes = 1024) {
    DurableQueue::Options options;
    options.dir = dir_;
    options.segment_bytes = segment_bytes;  // small by default: a segment per few records, so deletion shows
    options.max_bytes = max_bytes;
    options.checkpoint_interval_ms = 3'600'000;  // only explicit checkpoints
    std::string error;
    auto queue = DurableQueue::Open(options, [] { return int64_t{1000}; }, registry_, &error);
    EXPECT_NE(queue, nullptr) << error;
    return queue;
  }
  // seq -> body of every request Replay hands back.
  static std::map<uint64_t, std::string> Replayed(DurableQueue* queue) {
    std::map<uint64_t, std::string> out;
    queue->Replay([&](uint64_t seq, Protocol protocol, std::string_view body) {
      EXPECT_EQ(protocol, Protocol::kV2);
      out[seq] = std::string(body);
    });
    return out;
  }

  std::string dir_;
  prometheus::Registry registry_;
};

TEST_F(DurableQueueTest, UnconfirmedRequestsAreReplayedAfterARestart) {
  std::string error;
  uint64_t seqs[4];
  {
    auto queue = Open();
    for (int i = 0; i < 4; ++i) {
      seqs[i] = queue->Log(Protocol::kV2, std::string(300, static_cast<char>('a' + i)), &error);
      ASSERT_GT(seqs[i], 0u) << error;
    }
    queue->ledger()->AddRefs(seqs[1], 1);  // a point of request 1 is still on its way
    for (uint64_t seq : seqs) queue->Release(seq);
    queue->Checkpoint();
  }  // a stop (or a crash right after the checkpoint)
  auto queue = Open();
  const auto replayed = Replayed(queue.get());
  ASSERT_EQ(replayed.size(), 1u);
  EXPECT_EQ(replayed.begin()->first, seqs[1]);
  EXPECT_EQ(replayed.begin()->second, std::string(300, 'b'));
  // New requests continue after the old seqs.
  EXPECT_GT(queue->Log(Protocol::kV2, "x", &error), seqs[3]);
}

TEST_F(DurableQueueTest, WithoutACheckpointEverythingIsReplayed) {
  std::string error;
  {
    auto queue = Open();
    for (int i = 0; i < 3; ++i) ASSERT_GT(queue->Log(Protocol::kV2, "request", &error), 0u);
    // kill -9 before any checkpoint: simulated by never releasing.
  }
  auto queue = Open();
  EXPECT_EQ(Replayed(queue.get()).size(), 3u);
}

TEST_F(DurableQueueTest, ConfirmedSegmentsAreDeleted) {
  std::string error;
  auto queue = Open();
  for (int i = 0; i < 20; ++i) {
    const uint64_t seq = queue->Log(Protocol::kV2, std::string(300, 'r'), &error);
    ASSERT_GT(seq, 0u) << error;
    queue->Release(seq);
  }
  const size_t segments_before = std::distance(std::filesystem::directory_iterator(dir_ + "/wal"),
                                               std::filesystem::directory_iterator());
  queue->Checkpoint();
  const size_t segments_after = std::distance(std::filesystem::directory_iterator(dir_ + "/wal"),
                                              std::filesystem::directory_iterator());
  EXPECT_GT(segments_before, 3u);
  EXPECT_EQ(segments_after, 1u);  // the active one stays
}

TEST_F(DurableQueueTest, FullLogRefusesWithAReasonUntilConfirmationsFreeIt) {
  std::string error;
  auto queue = Open(/*max_bytes=*/4096);
  std::vector<uint64_t> seqs;
  uint64_t seq = 0;
  while ((seq = queue->Log(Protocol::kV2, std::string(500, 'f'), &error)) != 0) seqs.push_back(seq);
  EXPECT_NE(error.find("retry later"), std::string::npos) << error;
  for (uint64_t s : seqs) queue->Release(s);
  queue->Checkpoint();
  EXPECT_GT(queue->Log(Protocol::kV2, std::string(500, 'f'), &error), 0u) << error;
}

// With segments larger than the bound, the one segment could never close and never be deleted.
TEST_F(DurableQueueTest, BoundSmallerThanASegmentStillRecovers) {
  std::string error;
  auto queue = Open(/*max_bytes=*/1 << 20, /*segment_bytes=*/64 << 20);
  std::vector<uint64_t> seqs;
  uint64_t seq = 0;
  while ((seq = queue->Log(Protocol::kV2, std::string(10'000, 'f'), &error)) != 0) seqs.push_back(seq);
  for (uint64_t s : seqs) queue->Release(s);
  queue->Checkpoint();
  EXPECT_GT(queue->Log(Protocol::kV2, std::string(10'000, 'f'), &error), 0u) << error;
}

TEST_F(DurableQueueTest, SnapshotIsWrittenWhenItsVersionChanges) {
  uint64_t version = 1;
  std::string state = "v1";
  {
    auto queue = Open();
    queue->KeepSnapshot("metadata", [&] { return version; }, [&] { return state; });
    queue->Checkpoint();
    version = 2;
    state = "v2";
    queue->Checkpoint();
  }
  auto queue = Open();
  EXPECT_EQ(queue->ReadSnapshot("metadata"), "v2");
  EXPECT_EQ(queue->ReadSnapshot("absent"), "");
}

}  // namespace
}  // namespace prom2gcm
