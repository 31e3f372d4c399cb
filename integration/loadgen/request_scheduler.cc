#include "integration/loadgen/request_scheduler.h"

namespace prom2gcm::loadgen {

const char* StopReasonName(StopReason reason) {
  switch (reason) {
    case StopReason::kRunning:
      return "running";
    case StopReason::kPassesDone:
      return "passes";
    case StopReason::kSampleLimit:
      return "samples";
    case StopReason::kDeadline:
      return "duration";
    case StopReason::kStopped:
      return "stopped";
  }
  return "unknown";
}

RequestScheduler::RequestScheduler(const Corpus& corpus, size_t metadata_requests, int cardinality,
                                   OrderingRule ordering, const ScheduleLimits& limits)
    : corpus_(corpus),
      metadata_requests_(static_cast<int64_t>(metadata_requests)),
      cardinality_(cardinality),
      jobs_per_pass_(static_cast<int64_t>(corpus.size()) * cardinality),
      ordering_(ordering),
      limits_(limits) {}

bool RequestScheduler::Next(Job* job) {
  std::unique_lock lock(mutex_);
  while (!Ended(Clock::now())) {
    if (OrderingAllows(next_seq_)) {
      *job = MakeJob(next_seq_);
      job->send_at = job->metadata ? Clock::now() : PaceSlot(Clock::now());
      if (limits_.deadline && job->send_at >= *limits_.deadline) {
        stop_reason_ = StopReason::kDeadline;  // the rate limit leaves no slot before the deadline
        break;
      }
      ++next_seq_;
      if (!job->metadata) passes_started_ = job->pass + 1;
      samples_handed_out_ += job->samples;
      in_flight_.insert(job->seq);
      return true;
    }
    if (limits_.deadline) {
      changed_.wait_until(lock, *limits_.deadline);
    } else {
      changed_.wait(lock);
    }
  }
  changed_.notify_all();
  return false;
}

bool RequestScheduler::WaitForSendTime(const Job& job) {
  std::unique_lock lock(mutex_);
  changed_.wait_until(lock, job.send_at, [this] { return stopped_; });
  return !stopped_;
}

void RequestScheduler::Done(const Job& job) {
  {
    std::lock_guard lock(mutex_);
    in_flight_.erase(job.seq);
  }
  changed_.notify_all();
}

void RequestScheduler::Stop() {
  {
    std::lock_guard lock(mutex_);
    stopped_ = true;
    if (stop_reason_ == StopReason::kRunning) stop_reason_ = StopReason::kStopped;
  }
  changed_.notify_all();
}

bool RequestScheduler::stopped() const {
  std::lock_guard lock(mutex_);
  return stopped_;
}

int64_t RequestScheduler::in_flight() const {
  std::lock_guard lock(mutex_);
  return static_cast<int64_t>(in_flight_.size());
}

int64_t RequestScheduler::passes_started() const {
  std::lock_guard lock(mutex_);
  return passes_started_;
}

StopReason RequestScheduler::stop_reason() const {
  std::lock_guard lock(mutex_);
  return stop_reason_;
}

bool RequestScheduler::Ended(Clock::time_point now) {
  if (stop_reason_ != StopReason::kRunning) return true;
  if (limits_.deadline && now >= *limits_.deadline) {
    stop_reason_ = StopReason::kDeadline;
  } else if (limits_.sample_limit > 0 && samples_handed_out_ >= limits_.sample_limit) {
    stop_reason_ = StopReason::kSampleLimit;
  } else if (next_seq_ >= metadata_requests_ + limits_.passes * jobs_per_pass_) {
    stop_reason_ = StopReason::kPassesDone;
  }
  return stop_reason_ != StopReason::kRunning;
}

bool RequestScheduler::OrderingAllows(int64_t seq) const {
  if (seq < metadata_requests_) return true;  // metadata requests overlap each other
  if (InFlightBefore(metadata_requests_)) return false;
  const int64_t sample_seq = seq - metadata_requests_;
  if (ordering_ == OrderingRule::kPass) {
    const int64_t pass_start = sample_seq / jobs_per_pass_ * jobs_per_pass_;
    return !InFlightBefore(metadata_requests_ + pass_start);
  }
  return PredecessorsDone(sample_seq, static_cast<size_t>(sample_seq / cardinality_ % corpus_.size()));
}

// The predecessor of a request at distance d holds the same replica, d * cardinality jobs earlier.
bool RequestScheduler::PredecessorsDone(int64_t sample_seq, size_t request) const {
  for (int64_t distance : corpus_.predecessor_distances(request)) {
    const int64_t predecessor = sample_seq - distance * cardinality_;
    if (predecessor >= 0 && in_flight_.contains(metadata_requests_ + predecessor)) return false;
  }
  return true;
}

bool RequestScheduler::InFlightBefore(int64_t seq) const { return !in_flight_.empty() && *in_flight_.begin() < seq; }

Job RequestScheduler::MakeJob(int64_t seq) const {
  Job job;
  job.seq = seq;
  if (seq < metadata_requests_) {
    job.metadata = true;
    job.request = static_cast<size_t>(seq);
    return job;
  }
  const int64_t sample_seq = seq - metadata_requests_;
  const int64_t position = sample_seq / cardinality_;  // corpus request position across passes
  job.replica = static_cast<int>(sample_seq % cardinality_);
  job.request = static_cast<size_t>(position % static_cast<int64_t>(corpus_.size()));
  job.pass = position / static_cast<int64_t>(corpus_.size());
  job.samples = corpus_.samples(job.request);
  return job;
}

// The slot of the next sample request: the samples handed out before it, at the rate.
Clock::time_point RequestScheduler::PaceSlot(Clock::time_point now) {
  if (limits_.rate <= 0) return now;
  if (!pace_start_) pace_start_ = now;
  const std::chrono::duration<double> offset(static_cast<double>(samples_handed_out_) / limits_.rate);
  return *pace_start_ + std::chrono::duration_cast<Clock::duration>(offset);
}

}  // namespace prom2gcm::loadgen
