#include "exporter/block_queue.h"

#include <gtest/gtest.h>

#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <deque>
#include <memory>
#include <vector>

namespace prom2gcm {
namespace {

constexpr size_t kPerBlock = BlockQueue<int>::kBlockElements;

TEST(BlockQueueTest, FifoAcrossBlocksLikeADeque) {
  BlockPool pool(BlockQueue<std::unique_ptr<int>>::kBlockBytes, 1000);
  BlockQueue<std::unique_ptr<int>> queue(&pool);
  std::deque<int> model;
  int next = 0;
  // Pushes and pops in uneven runs, so the head crosses block ends with the tail before and after it.
  for (int round = 0; round < 400; ++round) {
    for (int i = 0; i < round % 97 + 3; ++i) {
      queue.push_back(std::make_unique<int>(next));
      model.push_back(next++);
    }
    for (int i = 0; i < round % 89 + 1 && !model.empty(); ++i) {
      ASSERT_EQ(*queue.front(), model.front());
      queue.pop_front();
      model.pop_front();
    }
    ASSERT_EQ(queue.size(), model.size());
    for (size_t i = 0; i < model.size(); i += 7) ASSERT_EQ(*queue[i], model[i]);
    // A block per started run of kPerBlock elements, counted from the head's block: no more.
    ASSERT_LE(queue.blocks(), (model.size() + kPerBlock - 1) / kPerBlock + 1);
  }
  while (!model.empty()) {
    ASSERT_EQ(*queue.front(), model.front());
    queue.pop_front();
    model.pop_front();
  }
  EXPECT_TRUE(queue.empty());
}

TEST(BlockQueueTest, GivesBlocksBackAsTheHeadLeavesThemAndKeepsOneWhenEmpty) {
  BlockPool pool(BlockQueue<int>::kBlockBytes, 1000);
  BlockQueue<int> queue(&pool);
  for (int i = 0; i < static_cast<int>(3 * kPerBlock); ++i) queue.push_back(int{i});
  EXPECT_EQ(queue.blocks(), 3u);
  const size_t spares = pool.free_blocks();  // the rest of the slab the blocks came from
  for (size_t i = 0; i < kPerBlock; ++i) queue.pop_front();
  EXPECT_EQ(queue.blocks(), 2u);
  EXPECT_EQ(pool.free_blocks(), spares + 1);
  while (!queue.empty()) queue.pop_front();
  EXPECT_EQ(queue.blocks(), 1u);  // kept for the next point
  EXPECT_EQ(pool.free_blocks(), spares + 2);
}

TEST(BlockQueueTest, QueuesShareThePoolsBlocks) {
  BlockPool pool(BlockQueue<int>::kBlockBytes, 1000);
  BlockQueue<int> first(&pool), second(&pool);
  for (int i = 0; i < static_cast<int>(4 * kPerBlock); ++i) first.push_back(int{i});
  std::vector<const void*> first_blocks;
  for (size_t i = 0; i < 4 * kPerBlock; i += kPerBlock) first_blocks.push_back(&first[i]);
  const size_t spares = pool.free_blocks();
  first.Clear();
  EXPECT_EQ(pool.free_blocks(), spares + 3);
  // The second queue's first blocks are the ones the first gave back, before the slab's spares.
  for (int i = 0; i < static_cast<int>(3 * kPerBlock); ++i) second.push_back(int{i});
  EXPECT_EQ(pool.free_blocks(), spares);
  for (size_t i = 0; i < 3 * kPerBlock; i += kPerBlock) {
    EXPECT_NE(std::find(first_blocks.begin(), first_blocks.end(), &second[i]), first_blocks.end()) << i;
  }
}

TEST(BlockQueueTest, PoolKeepsAtMostItsLimitAndBlocksAreLineAligned) {
  BlockPool pool(BlockQueue<int>::kBlockBytes, 2);
  {
    BlockQueue<int> queue(&pool);
    for (int i = 0; i < static_cast<int>(5 * kPerBlock); ++i) {
      queue.push_back(int{i});
      if (i % kPerBlock == 0) {
        EXPECT_EQ(reinterpret_cast<uintptr_t>(&queue[i]) % BlockPool::kAlignment, 0u);
      }
    }
  }  // destroyed: all five blocks are given back; the pool keeps two, frees three
  EXPECT_EQ(pool.free_blocks(), 2u);
  pool.Trim();
  EXPECT_EQ(pool.free_blocks(), 0u);
}

TEST(BlockQueueTest, NextSlotIsWhereTheNextPushGoes) {
  BlockPool pool(BlockQueue<int>::kBlockBytes, 10);
  BlockQueue<int> queue(&pool);
  EXPECT_EQ(queue.next_slot(), nullptr);  // no block yet: the push must take one first
  for (int i = 0; i < static_cast<int>(2 * kPerBlock); ++i) {
    if (i == 10) {
      for (int j = 0; j < 5; ++j) queue.pop_front();  // not emptied: the head stays at 5
    }
    const int* slot = queue.next_slot();
    queue.push_back(int{i});
    if (slot != nullptr) {
      EXPECT_EQ(slot, &queue[queue.size() - 1]) << i;
      EXPECT_EQ(*slot, i);
    }
  }
  EXPECT_EQ(queue.front(), 5);
  // The tail is at the end of its block: the next push takes a new one.
  EXPECT_EQ(queue.next_slot(), nullptr);
}

TEST(BlockQueueTest, DestroysWhatIsLeft) {
  auto counter = std::make_shared<int>(0);
  BlockPool pool(BlockQueue<std::shared_ptr<int>>::kBlockBytes, 10);
  {
    BlockQueue<std::shared_ptr<int>> queue(&pool);
    for (int i = 0; i < 140; ++i) queue.push_back(std::shared_ptr<int>(counter));
    for (int i = 0; i < 70; ++i) queue.pop_front();
    EXPECT_EQ(counter.use_count(), 71);
  }
  EXPECT_EQ(counter.use_count(), 1);
}

// Blocks of a page: what the shard queues use (64 points of 64 bytes).
TEST(BlockPoolTest, TrimGivesPagesBackAndTheBlocksAreReusedWithoutMappingMore) {
  const size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
  BlockPool pool(page, 8);
  std::vector<void*> taken;
  for (int i = 0; i < 5; ++i) taken.push_back(pool.Take());
  const size_t mapped = pool.mapped_bytes();
  EXPECT_EQ(mapped, 9 * page);  // at most max_free_blocks + 1 blocks per slab
  for (void* block : taken) {
    EXPECT_EQ(reinterpret_cast<uintptr_t>(block) % page, 0u);
    std::memset(block, 0xab, page);
    pool.Give(block);
  }
  EXPECT_EQ(pool.free_blocks(), 9u);  // five given plus four spares: past the limit by less than a slab
  pool.Trim();
  EXPECT_EQ(pool.free_blocks(), 0u);
  // Taken again, each block reads as zeros: the kernel took its pages and gives fresh ones.
  taken.clear();
  for (size_t i = 0; i < 9; ++i) {
    auto* block = static_cast<unsigned char*>(pool.Take());
    EXPECT_EQ(*std::max_element(block, block + page), 0) << i;
    taken.push_back(block);
  }
  EXPECT_EQ(pool.mapped_bytes(), mapped);
  for (void* block : taken) pool.Give(block);
}

TEST(BlockPoolTest, GivingASlabPastTheLimitReleasesTheColdestBlocks) {
  const size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
  BlockPool pool(page, 2);  // slabs of three blocks
  std::vector<unsigned char*> blocks;
  for (int i = 0; i < 6; ++i) {
    blocks.push_back(static_cast<unsigned char*>(pool.Take()));
    std::memset(blocks.back(), i + 1, page);
  }
  EXPECT_EQ(pool.mapped_bytes(), 6 * page);
  for (int i = 0; i < 5; ++i) pool.Give(blocks[i]);
  EXPECT_EQ(pool.free_blocks(), 5u);  // past the limit by less than a slab: all kept
  pool.Give(blocks[5]);
  EXPECT_EQ(pool.free_blocks(), 2u);  // the four given longest ago went back to the kernel
  EXPECT_EQ(pool.Take(), blocks[5]);  // the warmest first
  EXPECT_EQ(blocks[5][0], 6);
  EXPECT_EQ(pool.Take(), blocks[4]);
  EXPECT_EQ(blocks[4][page - 1], 5);
  for (int i = 0; i < 4; ++i) {
    auto* again = static_cast<unsigned char*>(pool.Take());
    EXPECT_NE(std::find(blocks.begin(), blocks.begin() + 4, again), blocks.begin() + 4);
    EXPECT_EQ(*std::max_element(again, again + page), 0);
  }
  EXPECT_EQ(pool.mapped_bytes(), 6 * page);
  for (unsigned char* block : blocks) pool.Give(block);
}

}  // namespace
}  // namespace prom2gcm
