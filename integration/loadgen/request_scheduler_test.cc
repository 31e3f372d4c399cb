#include "integration/loadgen/request_scheduler.h"

#include <gtest/gtest.h>

#include <future>

#include "server/testing/payloads.h"

namespace prom2gcm::loadgen {
namespace {

using testing::AddSeriesV1;
using namespace std::chrono_literals;

// A corpus of one request per entry, each holding the named series with `samples` samples.
Corpus CorpusOf(const std::vector<std::vector<std::string>>& requests, int samples = 1) {
  std::vector<::prometheus::prompb::WriteRequest> messages;
  int64_t timestamp = 1000;
  for (const auto& names : requests) {
    ::prometheus::prompb::WriteRequest& message = messages.emplace_back();
    for (const std::string& name : names) {
      for (int i = 0; i < samples; ++i) AddSeriesV1(&message, {{"__name__", name}}, {{timestamp + i, 1}});
    }
    timestamp += 1000;
  }
  return Corpus::FromV1(messages);
}

ScheduleLimits Passes(int64_t passes) {
  ScheduleLimits limits;
  limits.passes = passes;
  return limits;
}

// Next() on another thread, to see whether it blocks.
std::future<Job> NextAsync(RequestScheduler* scheduler) {
  return std::async(std::launch::async, [scheduler] {
    Job job;
    EXPECT_TRUE(scheduler->Next(&job));
    return job;
  });
}

TEST(RequestSchedulerTest, HandsOutPassesInReplayOrder) {
  const Corpus corpus = CorpusOf({{"a"}, {"b"}});
  RequestScheduler scheduler(corpus, 0, 2, OrderingRule::kSeries, Passes(2));
  std::vector<std::tuple<int64_t, size_t, int>> order;  // pass, request, replica
  Job job;
  while (scheduler.Next(&job)) {
    order.emplace_back(job.pass, job.request, job.replica);
    scheduler.Done(job);
  }
  const std::vector<std::tuple<int64_t, size_t, int>> want = {{0, 0, 0}, {0, 0, 1}, {0, 1, 0}, {0, 1, 1},
                                                              {1, 0, 0}, {1, 0, 1}, {1, 1, 0}, {1, 1, 1}};
  EXPECT_EQ(order, want);
  EXPECT_EQ(scheduler.stop_reason(), StopReason::kPassesDone);
  EXPECT_EQ(scheduler.passes_started(), 2);
}

TEST(RequestSchedulerTest, SeriesRuleWaitsForTheEarlierRequestOfTheSameSeries) {
  const Corpus corpus = CorpusOf({{"a"}, {"a"}});
  RequestScheduler scheduler(corpus, 0, 1, OrderingRule::kSeries, Passes(1));
  Job first;
  ASSERT_TRUE(scheduler.Next(&first));
  std::future<Job> second = NextAsync(&scheduler);
  EXPECT_EQ(second.wait_for(50ms), std::future_status::timeout);
  scheduler.Done(first);
  EXPECT_EQ(second.get().request, 1u);
}

TEST(RequestSchedulerTest, SeriesRuleOverlapsRequestsWithoutCommonSeries) {
  const Corpus corpus = CorpusOf({{"a"}, {"b"}});
  RequestScheduler scheduler(corpus, 0, 2, OrderingRule::kSeries, Passes(2));
  std::vector<Job> jobs(4);  // both replicas of both requests: all different series
  for (Job& job : jobs) ASSERT_TRUE(scheduler.Next(&job));
  EXPECT_EQ(scheduler.in_flight(), 4);
  // Pass 1 request 0 replica 0 continues series a of replica 0: it waits for jobs[0] only.
  std::future<Job> next = NextAsync(&scheduler);
  scheduler.Done(jobs[1]);
  EXPECT_EQ(next.wait_for(50ms), std::future_status::timeout);
  scheduler.Done(jobs[0]);
  const Job got = next.get();
  EXPECT_EQ(got.pass, 1);
  EXPECT_EQ(got.replica, 0);
}

TEST(RequestSchedulerTest, PassRuleWaitsForThePreviousPass) {
  const Corpus corpus = CorpusOf({{"a"}, {"a"}});
  RequestScheduler scheduler(corpus, 0, 1, OrderingRule::kPass, Passes(2));
  Job first, second;
  ASSERT_TRUE(scheduler.Next(&first));
  ASSERT_TRUE(scheduler.Next(&second));  // same pass: no waiting even for the same series
  std::future<Job> third = NextAsync(&scheduler);
  scheduler.Done(second);
  EXPECT_EQ(third.wait_for(50ms), std::future_status::timeout);
  scheduler.Done(first);
  EXPECT_EQ(third.get().pass, 1);
}

TEST(RequestSchedulerTest, MetadataGoesFirstAsABarrier) {
  const Corpus corpus = CorpusOf({{"a"}});
  RequestScheduler scheduler(corpus, 2, 1, OrderingRule::kSeries, Passes(1));
  Job metadata1, metadata2;
  ASSERT_TRUE(scheduler.Next(&metadata1));
  ASSERT_TRUE(scheduler.Next(&metadata2));
  EXPECT_TRUE(metadata1.metadata && metadata2.metadata);
  EXPECT_EQ(metadata2.request, 1u);
  std::future<Job> samples = NextAsync(&scheduler);
  scheduler.Done(metadata1);
  EXPECT_EQ(samples.wait_for(50ms), std::future_status::timeout);
  scheduler.Done(metadata2);
  EXPECT_FALSE(samples.get().metadata);
}

TEST(RequestSchedulerTest, StopsAfterTheRequestReachingTheSampleLimit) {
  const Corpus corpus = CorpusOf({{"a"}, {"b"}, {"c"}}, 10);
  ScheduleLimits limits = Passes(5);
  limits.sample_limit = 25;
  RequestScheduler scheduler(corpus, 0, 1, OrderingRule::kSeries, limits);
  int64_t samples = 0;
  Job job;
  while (scheduler.Next(&job)) {
    samples += job.samples;
    scheduler.Done(job);
  }
  EXPECT_EQ(samples, 30);
  EXPECT_EQ(scheduler.stop_reason(), StopReason::kSampleLimit);
}

TEST(RequestSchedulerTest, RateLimitSpacesRequestsBySamples) {
  const Corpus corpus = CorpusOf({{"a"}, {"b"}}, 100);
  ScheduleLimits limits = Passes(2);
  limits.rate = 1000;
  RequestScheduler scheduler(corpus, 0, 1, OrderingRule::kSeries, limits);
  std::vector<Job> jobs(4);
  for (Job& job : jobs) {
    ASSERT_TRUE(scheduler.Next(&job));
    scheduler.Done(job);
  }
  for (int i = 1; i < 4; ++i) EXPECT_EQ(jobs[i].send_at - jobs[0].send_at, i * 100ms);
}

TEST(RequestSchedulerTest, EndsWhenTheNextSlotIsPastTheDeadline) {
  const Corpus corpus = CorpusOf({{"a"}}, 100);
  ScheduleLimits limits = Passes(1000);
  limits.deadline = Clock::now() + 50s;
  limits.rate = 1;  // a slot every 100 s
  RequestScheduler scheduler(corpus, 0, 1, OrderingRule::kSeries, limits);
  Job job;
  ASSERT_TRUE(scheduler.Next(&job));
  EXPECT_TRUE(scheduler.WaitForSendTime(job));  // due now
  scheduler.Done(job);
  EXPECT_FALSE(scheduler.Next(&job));  // due in 100 s: ends now rather than at the deadline
  EXPECT_EQ(scheduler.stop_reason(), StopReason::kDeadline);
}

TEST(RequestSchedulerTest, DeadlineEndsAReplayWaitingForItsOrder) {
  const Corpus corpus = CorpusOf({{"a"}});
  ScheduleLimits limits = Passes(1000);
  limits.deadline = Clock::now() + 50ms;
  RequestScheduler scheduler(corpus, 0, 1, OrderingRule::kSeries, limits);
  Job first, second;
  ASSERT_TRUE(scheduler.Next(&first));
  EXPECT_FALSE(scheduler.Next(&second));  // waits for `first` until the deadline
  EXPECT_EQ(scheduler.stop_reason(), StopReason::kDeadline);
}

TEST(RequestSchedulerTest, StopWakesWaitingWorkers) {
  const Corpus corpus = CorpusOf({{"a"}});
  RequestScheduler scheduler(corpus, 0, 1, OrderingRule::kSeries, Passes(2));
  Job first;
  ASSERT_TRUE(scheduler.Next(&first));
  std::future<bool> next = std::async(std::launch::async, [&scheduler] {
    Job job;
    return scheduler.Next(&job);
  });
  EXPECT_EQ(next.wait_for(50ms), std::future_status::timeout);
  scheduler.Stop();
  EXPECT_FALSE(next.get());
  EXPECT_EQ(scheduler.stop_reason(), StopReason::kStopped);
}

}  // namespace
}  // namespace prom2gcm::loadgen
