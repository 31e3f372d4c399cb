#include "integration/loadgen/latency_stats.h"

#include <algorithm>
#include <bit>
#include <cmath>

namespace prom2gcm::loadgen {

// Bucket of a value v >= 64 with highest bit e: the 5 bits below the highest one pick one of 32
// equal sub-buckets of [2^e, 2^(e+1)).
int LatencyStats::BucketOf(int64_t micros) {
  if (micros < kExactBuckets) return static_cast<int>(std::max<int64_t>(micros, 0));
  const uint64_t value = static_cast<uint64_t>(micros);
  const int exponent = std::bit_width(value) - 1;  // >= 6
  const int sub = static_cast<int>(value >> (exponent - 5)) - kSubBuckets;
  return kExactBuckets + (exponent - 6) * kSubBuckets + sub;
}

double LatencyStats::BucketMiddleMicros(int bucket) {
  if (bucket < kExactBuckets) return bucket;
  const int exponent = (bucket - kExactBuckets) / kSubBuckets + 6;
  const int sub = (bucket - kExactBuckets) % kSubBuckets;
  const double width = std::ldexp(1.0, exponent - 5);
  return (kSubBuckets + sub) * width + width / 2;
}

void LatencyStats::Record(std::chrono::nanoseconds latency) {
  const int64_t micros = std::chrono::duration_cast<std::chrono::microseconds>(latency).count();
  std::lock_guard lock(mutex_);
  ++buckets_[BucketOf(micros)];
  ++count_;
  max_micros_ = std::max(max_micros_, micros);
}

int64_t LatencyStats::count() const {
  std::lock_guard lock(mutex_);
  return count_;
}

double LatencyStats::QuantileMs(double q) const {
  std::lock_guard lock(mutex_);
  if (count_ == 0) return 0;
  const int64_t rank = std::clamp<int64_t>(static_cast<int64_t>(std::ceil(q * count_)), 1, count_);
  int64_t seen = 0;
  int bucket = 0;
  while (seen + buckets_[bucket] < rank) seen += buckets_[bucket++];
  return std::min(BucketMiddleMicros(bucket), static_cast<double>(max_micros_)) / 1000.0;
}

double LatencyStats::MaxMs() const {
  std::lock_guard lock(mutex_);
  return max_micros_ / 1000.0;
}

}  // namespace prom2gcm::loadgen
