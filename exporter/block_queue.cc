#include "exporter/block_queue.h"

namespace prom2gcm {

BlockPool::~BlockPool() { Trim(); }

void* BlockPool::Take() {
  {
    std::lock_guard lock(mutex_);
    if (!free_.empty()) {
      void* block = free_.back();
      free_.pop_back();
      return block;
    }
  }
  return ::operator new(block_bytes_, std::align_val_t(kAlignment));
}

void BlockPool::Give(void* block) {
  {
    std::lock_guard lock(mutex_);
    if (free_.size() < max_free_) {
      free_.push_back(block);
      return;
    }
  }
  ::operator delete(block, std::align_val_t(kAlignment));
}

void BlockPool::Trim() {
  std::vector<void*> blocks;
  {
    std::lock_guard lock(mutex_);
    blocks.swap(free_);
  }
  for (void* block : blocks) ::operator delete(block, std::align_val_t(kAlignment));
}

size_t BlockPool::free_blocks() const {
  std::lock_guard lock(mutex_);
  return free_.size();
}

}  // namespace prom2gcm
