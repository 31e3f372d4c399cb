// LatencyStats collects request latencies and reports quantiles and the maximum. Latencies go into a
// log-linear histogram of microseconds — below 64 µs one bucket per microsecond, above that 32
// buckets per power of two — so a reported quantile is within about 3% of the true value while the
// memory stays fixed however many latencies are recorded. The maximum is exact.
//
// Owns its buckets. Thread-safety: every method takes an internal mutex; call from any thread.
#ifndef PROM2GCM_INTEGRATION_LOADGEN_LATENCY_STATS_H_
#define PROM2GCM_INTEGRATION_LOADGEN_LATENCY_STATS_H_

#include <array>
#include <chrono>
#include <cstdint>
#include <mutex>

namespace prom2gcm::loadgen {

class LatencyStats {
 public:
  LatencyStats() = default;
  LatencyStats(const LatencyStats&) = delete;
  LatencyStats& operator=(const LatencyStats&) = delete;

  void Record(std::chrono::nanoseconds latency);

  int64_t count() const;
  // The q-quantile (0 < q <= 1) in milliseconds: the middle of the bucket holding it, never above
  // the maximum. 0 when nothing was recorded.
  double QuantileMs(double q) const;
  double MaxMs() const;

 private:
  static constexpr int kExactBuckets = 64;  // one per microsecond below 64 µs
  static constexpr int kSubBuckets = 32;    // per power of two from 64 µs up
  static constexpr int kBuckets = kExactBuckets + (63 - 6 + 1) * kSubBuckets;

  static int BucketOf(int64_t micros);
  static double BucketMiddleMicros(int bucket);

  mutable std::mutex mutex_;
  std::array<int64_t, kBuckets> buckets_{};  // guarded by mutex_
  int64_t count_ = 0;                        // guarded by mutex_
  int64_t max_micros_ = 0;                   // guarded by mutex_
};

}  // namespace prom2gcm::loadgen

#endif  // PROM2GCM_INTEGRATION_LOADGEN_LATENCY_STATS_H_
