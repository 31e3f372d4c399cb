// A FIFO queue in one growable circular array: push_back and pop_front move an index instead of
// allocating a block every few elements as std::deque does. Capacity doubles as needed; once the queue
// is empty again, storage above kRetained elements is freed. BlockQueue keeps its list of blocks in
// one (block_queue.h).
//
// Thread-safety: none (its owner's lock guards it).
#ifndef PROM2GCM_EXPORTER_RING_QUEUE_H_
#define PROM2GCM_EXPORTER_RING_QUEUE_H_

#include <cstddef>
#include <memory>
#include <new>  // placement new
#include <utility>

namespace prom2gcm {

template <typename T>
class RingQueue {
 public:
  static constexpr size_t kInitial = 16;   // elements allocated by the first push
  static constexpr size_t kRetained = 64;  // elements kept once empty; more is freed

  RingQueue() = default;
  RingQueue(const RingQueue&) = delete;
  RingQueue& operator=(const RingQueue&) = delete;
  ~RingQueue() {
    Clear();
    Free();
  }

  bool empty() const { return size_ == 0; }
  size_t size() const { return size_; }
  size_t capacity() const { return capacity_; }

  T& front() { return data_[head_]; }
  // The element index places behind the front. REQUIRES: index < size().
  T& operator[](size_t index) { return data_[Wrap(head_ + index)]; }
  const T& operator[](size_t index) const { return data_[Wrap(head_ + index)]; }

  void push_back(T&& value) {
    if (size_ == capacity_) Grow();
    new (&data_[Wrap(head_ + size_)]) T(std::move(value));
    ++size_;
  }

  void pop_front() {
    data_[head_].~T();
    head_ = Wrap(head_ + 1);
    if (--size_ == 0) {
      head_ = 0;
      if (capacity_ > kRetained) Free();
    }
  }

  void Clear() {
    while (size_ > 0) pop_front();
  }

 private:
  // capacity_ is a power of two.
  size_t Wrap(size_t index) const { return index & (capacity_ - 1); }

  void Grow() {
    const size_t capacity = capacity_ == 0 ? kInitial : capacity_ * 2;
    T* data = std::allocator<T>().allocate(capacity);
    for (size_t i = 0; i < size_; ++i) {
      T& from = data_[Wrap(head_ + i)];
      new (&data[i]) T(std::move(from));
      from.~T();
    }
    Free();
    data_ = data;
    capacity_ = capacity;
    head_ = 0;
  }

  void Free() {
    if (data_ != nullptr) std::allocator<T>().deallocate(data_, capacity_);
    data_ = nullptr;
    capacity_ = 0;
  }

  T* data_ = nullptr;
  size_t capacity_ = 0;
  size_t head_ = 0;
  size_t size_ = 0;
};

}  // namespace prom2gcm

#endif  // PROM2GCM_EXPORTER_RING_QUEUE_H_
