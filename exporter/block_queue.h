// A FIFO queue stored in fixed-size blocks that many queues share through one BlockPool: the shard
// queues. A queue takes a block from the pool when its tail needs one and gives a block back as soon
// as its head has left it, so a burst that fills some shards' queues and drains them reuses the same
// memory instead of each queue growing its own array by doubling (a fresh allocation and a copy of
// every queued point per growth). On this project's VM a first touch of a page costs about 10 µs, and
// doubling arrays were two thirds of the page faults of a bench run (BENCHMARKS.md, Session 5).
// Blocks are cache-line aligned, so a 64-byte element takes exactly one line.
//
// Thread-safety: BlockPool is safe to use from any thread (its own mutex). A BlockQueue has none of
// its own (the shard's mutex guards it).
#ifndef PROM2GCM_EXPORTER_BLOCK_QUEUE_H_
#define PROM2GCM_EXPORTER_BLOCK_QUEUE_H_

#include <cstddef>
#include <deque>
#include <mutex>
#include <new>  // placement new, std::bad_alloc
#include <utility>
#include <vector>

#include "exporter/ring_queue.h"

namespace prom2gcm {

// Free blocks of one size, carved from slabs of about 1 MiB that the pool maps itself, with their
// pages populated in one call. On this project's VM a page populated that way and then touched costs
// about 5 µs, half of a page faulted in at first touch; the heap's aligned allocations faulted their
// pages in one by one (BENCHMARKS.md, Session 6).
//   - Take reuses the block given most recently (likeliest still in a CPU cache), then a block whose
//     pages went back (populated again first), and maps a new slab only when neither is left.
//   - When more than max_free_blocks plus a slab's worth are free, the coldest free blocks down to
//     max_free_blocks give their pages back to the kernel (madvise); Trim does so for every free
//     block. Only whole pages go back: blocks smaller than a page keep theirs.
//   - A slab has at most max_free_blocks + 1 blocks, so its spare blocks are within the limit.
//   - Slabs are unmapped only when the pool is destroyed; their pages stay the pool's.
class BlockPool {
 public:
  static constexpr size_t kAlignment = 64;        // a cache line
  static constexpr size_t kSlabBytes = 1 << 20;  // mapped at a time (at least one block)

  // REQUIRES: block_bytes is a multiple of kAlignment.
  BlockPool(size_t block_bytes, size_t max_free_blocks);
  // REQUIRES: every block taken was given back.
  ~BlockPool();
  BlockPool(const BlockPool&) = delete;
  BlockPool& operator=(const BlockPool&) = delete;

  void* Take();
  void Give(void* block);
  // Gives the pages of every free block back to the kernel: memory the last burst left for the next.
  void Trim();

  size_t block_bytes() const { return block_bytes_; }
  size_t free_blocks() const;  // free blocks whose pages are kept
  size_t mapped_bytes() const;

 private:
  void* MapSlab();  // REQUIRES: mutex_ not held. Maps a slab, takes its first block, frees the rest.
  void ReleasePages(std::vector<void*> blocks);  // REQUIRES: blocks are the caller's, mutex_ not held

  const size_t block_bytes_;
  const size_t slab_bytes_;
  const size_t max_free_;
  mutable std::mutex mutex_;
  std::deque<void*> free_;       // GUARDED_BY(mutex_): pages kept; the most recently given last
  std::vector<void*> released_;  // GUARDED_BY(mutex_): pages given back to the kernel
  std::vector<void*> slabs_;     // GUARDED_BY(mutex_): each slab_bytes_ long
};

template <typename T>
class BlockQueue {
 public:
  static constexpr size_t kBlockElements = 64;  // a power of two
  static constexpr size_t kBlockBytes = kBlockElements * sizeof(T);

  // REQUIRES: pool outlives the queue and hands out blocks of at least kBlockBytes.
  explicit BlockQueue(BlockPool* pool) : pool_(pool) {}
  ~BlockQueue() {
    Clear();
    while (!blocks_.empty()) {
      pool_->Give(blocks_.front());
      blocks_.pop_front();
    }
  }
  BlockQueue(const BlockQueue&) = delete;
  BlockQueue& operator=(const BlockQueue&) = delete;

  bool empty() const { return size_ == 0; }
  size_t size() const { return size_; }
  size_t blocks() const { return blocks_.size(); }
  T& front() { return Slot(head_); }
  // The element index places behind the front. REQUIRES: index < size().
  T& operator[](size_t index) { return Slot(head_ + index); }
  // Where the next push_back will construct its element, or null when it must take a block first.
  const T* next_slot() const {
    const size_t tail = head_ + size_;
    return tail / kBlockElements < blocks_.size() ? &blocks_[tail / kBlockElements][tail % kBlockElements] : nullptr;
  }

  void push_back(T&& value) {
    const size_t tail = head_ + size_;
    if (tail / kBlockElements == blocks_.size()) blocks_.push_back(static_cast<T*>(pool_->Take()));
    new (&Slot(tail)) T(std::move(value));
    ++size_;
  }

  void pop_front() {
    Slot(head_).~T();
    if (--size_ == 0) {
      head_ = 0;  // the queue keeps its one block for the next point: no pool round trip per point
      return;
    }
    if (++head_ == kBlockElements) {
      pool_->Give(blocks_.front());
      blocks_.pop_front();
      head_ = 0;
    }
  }

  void Clear() {
    while (size_ > 0) pop_front();
  }

 private:
  T& Slot(size_t index) const { return blocks_[index / kBlockElements][index % kBlockElements]; }

  BlockPool* const pool_;
  RingQueue<T*> blocks_;  // the head's block first
  size_t head_ = 0;               // index of the front element in blocks_.front()
  size_t size_ = 0;
};

}  // namespace prom2gcm

#endif  // PROM2GCM_EXPORTER_BLOCK_QUEUE_H_
