#include "exporter/block_queue.h"

#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>

namespace prom2gcm {
namespace {

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23  // Linux 5.14; older kernels refuse it and the block faults in on use
#endif

size_t PageBytes() {
  static const size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
  return page;
}

// A whole number of blocks: about kSlabBytes, at least one block and at most max_free + 1.
size_t SlabBytes(size_t block_bytes, size_t max_free) {
  return std::clamp<size_t>(BlockPool::kSlabBytes / block_bytes, 1, max_free + 1) * block_bytes;
}

// Gives the pages wholly inside [begin, end) back to the kernel.
void ReleaseRange(uintptr_t begin, uintptr_t end) {
  const uintptr_t page = PageBytes();
  begin = (begin + page - 1) & ~(page - 1);
  end &= ~(page - 1);
  if (begin < end) madvise(reinterpret_cast<void*>(begin), end - begin, MADV_DONTNEED);
}

}  // namespace

BlockPool::BlockPool(size_t block_bytes, size_t max_free_blocks)
    : block_bytes_(block_bytes), slab_bytes_(SlabBytes(block_bytes, max_free_blocks)), max_free_(max_free_blocks) {}

BlockPool::~BlockPool() {
  for (void* slab : slabs_) munmap(slab, slab_bytes_);
}

void* BlockPool::Take() {
  void* released = nullptr;
  {
    std::lock_guard lock(mutex_);
    if (!free_.empty()) {
      void* block = free_.back();
      free_.pop_back();
      return block;
    }
    if (!released_.empty()) {
      released = released_.back();
      released_.pop_back();
    }
  }
  if (released == nullptr) return MapSlab();
  // One call populates the block's pages instead of a fault per page at first touch.
  madvise(released, block_bytes_, MADV_POPULATE_WRITE);
  return released;
}

void* BlockPool::MapSlab() {
  // Outside the lock: populating a slab takes a few hundred microseconds, and Give need not wait. Two
  // threads may map one each at once; the spare blocks are free for the next takes.
  void* slab = mmap(nullptr, slab_bytes_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
  if (slab == MAP_FAILED) throw std::bad_alloc();
  std::lock_guard lock(mutex_);
  slabs_.push_back(slab);
  char* const base = static_cast<char*>(slab);
  // At the cold end, so blocks given back are reused first; the slab's own are taken in address order.
  for (size_t offset = block_bytes_; offset < slab_bytes_; offset += block_bytes_) free_.push_front(base + offset);
  return base;
}

void BlockPool::Give(void* block) {
  std::vector<void*> coldest;
  {
    std::lock_guard lock(mutex_);
    free_.push_back(block);
    // Released a slab's worth at a time: a call per block would cost a system call and a TLB
    // shootdown each.
    if (free_.size() <= max_free_ + slab_bytes_ / block_bytes_) return;
    while (free_.size() > max_free_) {
      coldest.push_back(free_.front());
      free_.pop_front();
    }
  }
  ReleasePages(std::move(coldest));
}

void BlockPool::Trim() {
  std::vector<void*> blocks;
  {
    std::lock_guard lock(mutex_);
    blocks.assign(free_.begin(), free_.end());
    free_.clear();
  }
  ReleasePages(std::move(blocks));
}

void BlockPool::ReleasePages(std::vector<void*> blocks) {
  // Adjacent blocks (most of a slab, after a burst) go back in one call.
  std::sort(blocks.begin(), blocks.end());
  size_t run = 0;
  for (size_t i = 1; i <= blocks.size(); ++i) {
    const uintptr_t run_end = reinterpret_cast<uintptr_t>(blocks[i - 1]) + block_bytes_;
    if (i < blocks.size() && reinterpret_cast<uintptr_t>(blocks[i]) == run_end) continue;
    ReleaseRange(reinterpret_cast<uintptr_t>(blocks[run]), run_end);
    run = i;
  }
  std::lock_guard lock(mutex_);
  released_.insert(released_.end(), blocks.begin(), blocks.end());
}

size_t BlockPool::free_blocks() const {
  std::lock_guard lock(mutex_);
  return free_.size();
}

size_t BlockPool::mapped_bytes() const {
  std::lock_guard lock(mutex_);
  return slabs_.size() * slab_bytes_;
}

}  // namespace prom2gcm
