#include "exporter/series_cache.h"

#include <gtest/gtest.h>

#include <atomic>
#include <memory>

namespace prom2gcm {
namespace {

constexpr size_t kSlots = 8;

// Two hashes with the same hint slot: equal high bits (SlotIndex), different low ones.
constexpr uint64_t kHashA = (uint64_t{5} << 32) | 1;
constexpr uint64_t kHashB = (uint64_t{5} << 32) | 2;
static_assert(EntryHints::SlotIndex(kHashA, kSlots) == EntryHints::SlotIndex(kHashB, kSlots));

class SeriesCacheHintsTest : public ::testing::Test {
 protected:
  SeriesCacheHintsTest() : hints_(2, kSlots) { cache_.UseHints(hints_.region(1), kSlots); }

  SeriesEntry* Hinted(uint64_t hash) {
    return hints_.region(1)[EntryHints::SlotIndex(hash, kSlots)].load(std::memory_order_relaxed);
  }

  EntryHints hints_;
  SeriesCache cache_;
};

TEST_F(SeriesCacheHintsTest, InsertFillsTheSlotAndFindUsesIt) {
  SeriesEntry* a = cache_.Insert(kHashA, SeriesEntry::Create());
  EXPECT_EQ(a->hash, kHashA);
  EXPECT_EQ(Hinted(kHashA), a);
  EXPECT_EQ(cache_.Find(kHashA), a);
  EXPECT_EQ(hints_.region(0)[EntryHints::SlotIndex(kHashA, kSlots)].load(), nullptr) << "another shard's region";
}

TEST_F(SeriesCacheHintsTest, CollidingSeriesAreBothFoundAndTheLastFoundOwnsTheSlot) {
  SeriesEntry* a = cache_.Insert(kHashA, SeriesEntry::Create());
  SeriesEntry* b = cache_.Insert(kHashB, SeriesEntry::Create());
  EXPECT_EQ(Hinted(kHashA), b);
  EXPECT_EQ(cache_.Find(kHashA), a);  // through the hash table
  EXPECT_EQ(Hinted(kHashA), a);
  EXPECT_EQ(cache_.Find(kHashB), b);
  EXPECT_EQ(cache_.Find(kHashA | 4), nullptr);  // same slot, never inserted
}

TEST_F(SeriesCacheHintsTest, EvictionClearsTheSlotOfAnEvictedEntryOnly) {
  SeriesEntry* a = cache_.Insert(kHashA, SeriesEntry::Create());
  SeriesEntry* b = cache_.Insert(kHashB, SeriesEntry::Create());
  a->last_touched_ms = 100;
  b->last_touched_ms = 10;
  EXPECT_EQ(cache_.Evict(50), 1u);  // b; its slot is cleared
  EXPECT_EQ(Hinted(kHashB), nullptr);
  EXPECT_EQ(cache_.Find(kHashB), nullptr);
  EXPECT_EQ(cache_.Find(kHashA), a);
  EXPECT_EQ(Hinted(kHashA), a);
  a->last_touched_ms = 10;
  EXPECT_EQ(cache_.Evict(50), 1u);
  EXPECT_EQ(Hinted(kHashA), nullptr) << "a dangling slot would be dereferenced by the next Find";
  EXPECT_EQ(cache_.Find(kHashA), nullptr);
}

TEST(SeriesCacheTest, WorksWithoutHints) {
  SeriesCache cache;
  SeriesEntry* a = cache.Insert(kHashA, SeriesEntry::Create());
  EXPECT_EQ(cache.Find(kHashA), a);
  EXPECT_EQ(cache.Find(kHashB), nullptr);
}

}  // namespace
}  // namespace prom2gcm
