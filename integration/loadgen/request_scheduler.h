// RequestScheduler decides which request of a replay goes out next, and when. Requests are numbered
// in replay order: the corpus' metadata requests first, then pass after pass of the corpus' sample
// requests, and within a pass every replica of corpus request i before request i+1. Workers take
// them strictly in that order; the next request is held back until
//   - every metadata request is done (metadata goes first, as a barrier), and the ordering rule
//     allows it:
//       kSeries: every earlier request holding one of its series is done — its predecessors
//                (Corpus::predecessor_distances) in this pass and the previous one, same replica.
//                So each series is written strictly in order, as Prometheus' sharding does, while
//                requests without a common series (other replicas, other targets) overlap.
//       kPass:   every request of the earlier passes is done; within a pass requests overlap freely
//                (they hold different timestamps per series, but may arrive out of order).
//   - its rate-limit slot has come: with a rate of R samples/s, a request is due at
//     (start + samples of the sample requests before it / R); open loop, so a slow endpoint is
//     caught up with later.
// "Done" means answered 2xx, given up (4xx, attempts exhausted) or abandoned (stopped).
//
// The replay ends — Next() returns false — once the planned passes were handed out, the request that
// reaches the sample limit was handed out, the deadline passed (or the next rate-limit slot lies past
// it), or Stop() was called.
//
// Owns counters and the set of requests in flight. Thread-safety: every method takes an internal
// mutex; call from any thread.
#ifndef PROM2GCM_INTEGRATION_LOADGEN_REQUEST_SCHEDULER_H_
#define PROM2GCM_INTEGRATION_LOADGEN_REQUEST_SCHEDULER_H_

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <optional>
#include <set>

#include "integration/loadgen/corpus.h"

namespace prom2gcm::loadgen {

using Clock = std::chrono::steady_clock;

enum class OrderingRule { kSeries, kPass };

enum class StopReason { kRunning, kPassesDone, kSampleLimit, kDeadline, kStopped };
const char* StopReasonName(StopReason reason);

// One request of the replay.
struct Job {
  int64_t seq = 0;        // position in replay order
  bool metadata = false;  // a metadata request: index into Corpus::metadata_requests()
  size_t request = 0;     // corpus sample request (or metadata request) index
  int64_t pass = 0;
  int replica = 0;
  int64_t samples = 0;
  Clock::time_point send_at;  // the rate limit's slot
};

struct ScheduleLimits {
  int64_t passes = 1;
  int64_t sample_limit = 0;                   // 0: none
  std::optional<Clock::time_point> deadline;  // none: no time limit
  double rate = 0;                            // samples/s; 0: as fast as possible
};

class RequestScheduler {
 public:
  // REQUIRES: corpus.size() > 0, cardinality >= 1, limits.passes >= 1. `corpus` must outlive this.
  RequestScheduler(const Corpus& corpus, size_t metadata_requests, int cardinality, OrderingRule ordering,
                   const ScheduleLimits& limits);
  RequestScheduler(const RequestScheduler&) = delete;
  RequestScheduler& operator=(const RequestScheduler&) = delete;

  // Blocks until the next request may be sent and returns it, or returns false when the replay ended.
  // Every job returned must be handed back with Done().
  bool Next(Job* job);
  // Blocks until the job's rate-limit slot. Returns false if the replay was stopped meanwhile: then
  // the job is abandoned (still call Done()).
  bool WaitForSendTime(const Job& job);
  void Done(const Job& job);
  // Ends the replay: Next() returns false, waiting jobs are abandoned.
  void Stop();

  bool stopped() const;
  int64_t in_flight() const;
  int64_t passes_started() const;
  StopReason stop_reason() const;

 private:
  bool Ended(Clock::time_point now);  // REQUIRES: mutex_ held; sets stop_reason_
  bool OrderingAllows(int64_t seq) const;
  bool PredecessorsDone(int64_t sample_seq, size_t request) const;
  bool InFlightBefore(int64_t seq) const;
  Job MakeJob(int64_t seq) const;
  Clock::time_point PaceSlot(Clock::time_point now);  // REQUIRES: mutex_ held

  const Corpus& corpus_;
  const int64_t metadata_requests_;
  const int64_t cardinality_;
  const int64_t jobs_per_pass_;
  const OrderingRule ordering_;
  const ScheduleLimits limits_;

  mutable std::mutex mutex_;
  std::condition_variable changed_;
  int64_t next_seq_ = 0;                           // guarded by mutex_
  std::set<int64_t> in_flight_;                    // seqs handed out and not done; guarded by mutex_
  int64_t samples_handed_out_ = 0;                 // guarded by mutex_
  int64_t passes_started_ = 0;                     // guarded by mutex_
  std::optional<Clock::time_point> pace_start_;    // guarded by mutex_
  bool stopped_ = false;                           // guarded by mutex_
  StopReason stop_reason_ = StopReason::kRunning;  // guarded by mutex_
};

}  // namespace prom2gcm::loadgen

#endif  // PROM2GCM_INTEGRATION_LOADGEN_REQUEST_SCHEDULER_H_
