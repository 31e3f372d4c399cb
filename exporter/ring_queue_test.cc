#include "exporter/ring_queue.h"

#include <gtest/gtest.h>

#include <deque>
#include <memory>

namespace prom2gcm {
namespace {

TEST(RingQueueTest, FifoAcrossWrapAndGrowthLikeADeque) {
  RingQueue<std::unique_ptr<int>> ring;
  std::deque<int> model;
  int next = 0;
  // Pushes and pops in uneven runs, so the head wraps before and after each growth.
  for (int round = 0; round < 200; ++round) {
    for (int i = 0; i < round % 7 + 3; ++i) {
      ring.push_back(std::make_unique<int>(next));
      model.push_back(next++);
    }
    for (int i = 0; i < round % 5 + 1 && !model.empty(); ++i) {
      ASSERT_EQ(*ring.front(), model.front());
      ring.pop_front();
      model.pop_front();
    }
    ASSERT_EQ(ring.size(), model.size());
  }
  while (!model.empty()) {
    ASSERT_EQ(*ring.front(), model.front());
    ring.pop_front();
    model.pop_front();
  }
  EXPECT_TRUE(ring.empty());
}

TEST(RingQueueTest, FreesStorageAboveRetainedOnceEmpty) {
  RingQueue<int> ring;
  for (int i = 0; i < 1000; ++i) ring.push_back(int{i});
  EXPECT_GE(ring.capacity(), 1000u);
  while (!ring.empty()) ring.pop_front();
  EXPECT_EQ(ring.capacity(), 0u);

  for (int i = 0; i < 10; ++i) ring.push_back(int{i});
  const size_t small = ring.capacity();
  EXPECT_LE(small, RingQueue<int>::kRetained);
  while (!ring.empty()) ring.pop_front();
  EXPECT_EQ(ring.capacity(), small);  // kept for the next burst
}

TEST(RingQueueTest, IndexingCountsFromTheFrontAcrossTheWrap) {
  RingQueue<int> ring;
  for (int i = 0; i < 20; ++i) {  // wraps around: 10 popped from the front of 16, then 14 more pushed
    if (i == 10) {
      for (int j = 0; j < 10; ++j) ring.pop_front();
    }
    ring.push_back(int{i});
    EXPECT_EQ(ring[ring.size() - 1], i);
  }
  EXPECT_EQ(ring.capacity(), 16u);  // wrapped, not grown
  EXPECT_EQ(ring[0], 10);
  EXPECT_EQ(ring[9], 19);
  const RingQueue<int>& view = ring;
  EXPECT_EQ(view[9], 19);
}

TEST(RingQueueTest, DestroysWhatIsLeft) {
  auto counter = std::make_shared<int>(0);
  {
    RingQueue<std::shared_ptr<int>> ring;
    for (int i = 0; i < 40; ++i) ring.push_back(std::shared_ptr<int>(counter));
    EXPECT_EQ(counter.use_count(), 41);
  }
  EXPECT_EQ(counter.use_count(), 1);
}

}  // namespace
}  // namespace prom2gcm
