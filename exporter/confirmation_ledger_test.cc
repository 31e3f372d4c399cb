#include "exporter/confirmation_ledger.h"

#include <gtest/gtest.h>

namespace prom2gcm {
namespace {

TEST(ConfirmationLedgerTest, RequestIsDoneWhenItsLastReferenceGoes) {
  ConfirmationLedger ledger;
  EXPECT_EQ(ledger.Watermark(), 1u);
  ledger.Register(1, 100);
  ledger.Register(2, 200);
  ledger.AddRefs(1, 2);  // two points queued
  ledger.Release(1, 1);  // the endpoint is done with it
  ledger.Release(2, 1);  // request 2 made no points
  EXPECT_EQ(ledger.Watermark(), 1u);
  EXPECT_EQ(ledger.oldest_pending_ms(), 100);
  ledger.Release(1, 2);  // both points confirmed
  EXPECT_EQ(ledger.Watermark(), 3u);
  EXPECT_EQ(ledger.pending(), 0u);
}

TEST(ConfirmationLedgerTest, CheckpointListsDoneSeqsAboveTheWatermark) {
  ConfirmationLedger ledger;
  for (uint64_t seq = 1; seq <= 6; ++seq) ledger.Register(seq, 0);
  for (uint64_t seq : {1, 3, 4, 6}) ledger.Release(seq, 1);
  LedgerCheckpoint checkpoint = ledger.Checkpoint();
  EXPECT_EQ(checkpoint.watermark, 2u);
  EXPECT_EQ(checkpoint.done, (std::vector<std::pair<uint64_t, uint64_t>>{{3, 4}, {6, 6}}));
  EXPECT_TRUE(checkpoint.IsDone(1));
  EXPECT_FALSE(checkpoint.IsDone(2));
  EXPECT_TRUE(checkpoint.IsDone(4));
  EXPECT_FALSE(checkpoint.IsDone(5));
  EXPECT_TRUE(checkpoint.IsDone(6));
  EXPECT_FALSE(checkpoint.IsDone(7));

  LedgerCheckpoint parsed;
  ASSERT_TRUE(LedgerCheckpoint::Parse(checkpoint.Serialize(), &parsed));
  EXPECT_EQ(parsed.watermark, 2u);
  EXPECT_EQ(parsed.done, checkpoint.done);
  EXPECT_FALSE(LedgerCheckpoint::Parse("prom2gcm-ledger 1\nwatermark 5\ndone 3 4\n", &parsed));  // below
  EXPECT_FALSE(LedgerCheckpoint::Parse("garbage", &parsed));
}

TEST(ConfirmationLedgerTest, SeqsSkippedOnReplayDoNotHoldTheWatermark) {
  ConfirmationLedger ledger;
  ledger.MarkDone(4);
  ledger.Register(5, 0);
  EXPECT_EQ(ledger.Watermark(), 5u);
  ledger.Release(5, 1);
  EXPECT_EQ(ledger.Watermark(), 6u);
  EXPECT_TRUE(ledger.Checkpoint().done.empty());
}

TEST(ConfirmationLedgerTest, SeqZeroIsNotTracked) {
  ConfirmationLedger ledger;
  ledger.AddRefs(0, 5);
  ledger.Release(0, 5);
  EXPECT_EQ(ledger.pending(), 0u);
}

}  // namespace
}  // namespace prom2gcm
