#include "exporter/ha_tracker.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <latch>
#include <map>
#include <set>
#include <string>
#include <thread>
#include <tuple>
#include <utility>
#include <vector>

namespace prom2gcm {
namespace {

using ::testing::ElementsAre;

constexpr int64_t kTimeout = 30000;
constexpr auto kElected = HaDecision::kElected;
constexpr auto kNotElected = HaDecision::kNotElected;
constexpr auto kNotReplicated = HaDecision::kNotReplicated;

HaTracker::Options OptionsWithTimeout(int64_t timeout_ms) {
  HaTracker::Options options;
  options.failover_timeout_ms = timeout_ms;
  return options;
}

// Labels sorted by name, as a decoded request holds them.
std::vector<Label> Sorted(std::vector<Label> labels) {
  std::sort(labels.begin(), labels.end(), [](const Label& a, const Label& b) { return a.name < b.name; });
  return labels;
}

struct Failover {
  std::string cluster, from, to;
  bool operator==(const Failover& other) const {
    return std::tie(cluster, from, to) == std::tie(other.cluster, other.from, other.to);
  }
};

TEST(HaTrackerTest, FirstWriterIsElectedOthersAreNot) {
  HaTracker tracker(OptionsWithTimeout(kTimeout));
  EXPECT_EQ(tracker.Decide("X", "A", 1000), kElected);
  EXPECT_EQ(tracker.Decide("X", "B", 1000), kNotElected);
  EXPECT_EQ(tracker.Decide("X", "B", 2000), kNotElected);
  EXPECT_EQ(tracker.Decide("X", "A", 2000), kElected);
  EXPECT_EQ(tracker.elected("X"), "A");
  EXPECT_EQ(tracker.failovers(), 0u);
  EXPECT_EQ(tracker.clusters(), 1u);
}

TEST(HaTrackerTest, ElectedWritesRefreshLastSeen) {
  HaTracker tracker(OptionsWithTimeout(kTimeout));
  ASSERT_EQ(tracker.Decide("X", "A", 0), kElected);
  ASSERT_EQ(tracker.Decide("X", "A", 20000), kElected);
  EXPECT_EQ(tracker.Decide("X", "B", kTimeout), kNotElected);  // A was seen 10 s ago
  EXPECT_EQ(tracker.Decide("X", "B", 20000 + kTimeout - 1), kNotElected);
  EXPECT_EQ(tracker.Decide("X", "B", 20000 + kTimeout), kElected);
}

TEST(HaTrackerTest, EarlierTimeDoesNotMoveLastSeenBack) {
  HaTracker tracker(OptionsWithTimeout(kTimeout));
  ASSERT_EQ(tracker.Decide("X", "A", 20000), kElected);
  // Another endpoint thread read the clock a little earlier and got the mutex later.
  ASSERT_EQ(tracker.Decide("X", "A", 19000), kElected);
  EXPECT_EQ(tracker.Decide("X", "B", 19000 + kTimeout), kNotElected);
  EXPECT_EQ(tracker.Decide("X", "B", 20000 + kTimeout), kElected);
}

TEST(HaTrackerTest, FailoverHappensExactlyAtTheTimeout) {
  HaTracker tracker(OptionsWithTimeout(kTimeout));
  ASSERT_EQ(tracker.Decide("X", "A", 1000), kElected);
  EXPECT_EQ(tracker.Decide("X", "B", 1000 + kTimeout - 1), kNotElected);
  EXPECT_EQ(tracker.failovers(), 0u);
  EXPECT_EQ(tracker.Decide("X", "B", 1000 + kTimeout), kElected);
  EXPECT_EQ(tracker.failovers(), 1u);
  EXPECT_EQ(tracker.elected("X"), "B");
  // A comes back at once: too late.
  EXPECT_EQ(tracker.Decide("X", "A", 1000 + kTimeout), kNotElected);
}

TEST(HaTrackerTest, NoSwitchBackWhileTheNewReplicaKeepsWriting) {
  HaTracker tracker(OptionsWithTimeout(kTimeout));
  ASSERT_EQ(tracker.Decide("X", "A", 0), kElected);
  ASSERT_EQ(tracker.Decide("X", "B", kTimeout), kElected);
  int64_t now = kTimeout;
  for (int i = 0; i < 10; ++i) {
    now += kTimeout / 2;
    EXPECT_EQ(tracker.Decide("X", "B", now), kElected) << i;
    EXPECT_EQ(tracker.Decide("X", "A", now + 1), kNotElected) << i;
  }
  EXPECT_EQ(tracker.failovers(), 1u);
  // Once B goes silent for a timeout, A takes over again: that is a second failover.
  EXPECT_EQ(tracker.Decide("X", "A", now + kTimeout - 1), kNotElected);
  EXPECT_EQ(tracker.Decide("X", "A", now + kTimeout), kElected);
  EXPECT_EQ(tracker.Decide("X", "B", now + kTimeout), kNotElected);
  EXPECT_EQ(tracker.failovers(), 2u);
}

TEST(HaTrackerTest, ThreeReplicasNextWriterTakesOver) {
  HaTracker tracker(OptionsWithTimeout(kTimeout));
  ASSERT_EQ(tracker.Decide("X", "A", 0), kElected);
  EXPECT_EQ(tracker.Decide("X", "B", 10), kNotElected);
  EXPECT_EQ(tracker.Decide("X", "C", 20), kNotElected);
  // A falls silent; C writes first after the timeout and wins, B stays out.
  EXPECT_EQ(tracker.Decide("X", "C", kTimeout + 5), kElected);
  EXPECT_EQ(tracker.Decide("X", "B", kTimeout + 6), kNotElected);
  EXPECT_EQ(tracker.Decide("X", "A", kTimeout + 7), kNotElected);
  EXPECT_EQ(tracker.elected("X"), "C");
  // C falls silent; B is next.
  EXPECT_EQ(tracker.Decide("X", "B", 2 * kTimeout + 5), kElected);
  EXPECT_EQ(tracker.Decide("X", "A", 2 * kTimeout + 6), kNotElected);
  EXPECT_EQ(tracker.Decide("X", "C", 2 * kTimeout + 7), kNotElected);
  EXPECT_EQ(tracker.failovers(), 2u);
}

TEST(HaTrackerTest, ClustersAreIndependent) {
  HaTracker tracker(OptionsWithTimeout(kTimeout));
  ASSERT_EQ(tracker.Decide("X", "A", 0), kElected);
  ASSERT_EQ(tracker.Decide("Y", "B", 0), kElected);
  EXPECT_EQ(tracker.Decide("Y", "A", 1), kNotElected);
  EXPECT_EQ(tracker.Decide("X", "B", 1), kNotElected);
  // The same replica names in another cluster do not refresh X's election.
  EXPECT_EQ(tracker.Decide("Y", "B", kTimeout / 2), kElected);
  EXPECT_EQ(tracker.Decide("X", "B", kTimeout), kElected);
  EXPECT_EQ(tracker.elected("X"), "B");
  EXPECT_EQ(tracker.elected("Y"), "B");
  EXPECT_EQ(tracker.Decide("Y", "A", kTimeout), kNotElected);
  const uint64_t y_generation = tracker.generation("Y");
  EXPECT_EQ(tracker.Decide("X", "A", 3 * kTimeout), kElected);  // X fails over again; Y does not move
  EXPECT_EQ(tracker.generation("Y"), y_generation);
  EXPECT_EQ(tracker.clusters(), 2u);
  EXPECT_EQ(tracker.generation("Z"), 0u);
  EXPECT_EQ(tracker.elected("Z"), "");
}

TEST(HaTrackerTest, SeriesWithoutReplicaAreNotReplicated) {
  HaTracker tracker(OptionsWithTimeout(kTimeout));
  uint64_t generation = 99;
  EXPECT_EQ(tracker.Decide("X", "", 0, &generation), kNotReplicated);
  EXPECT_EQ(generation, 0u);
  EXPECT_EQ(tracker.Decide("", "", 0), kNotReplicated);
  const std::vector<Label> labels = Sorted({{"__name__", "up"}, {"cluster", "X"}, {"job", "node"}});
  EXPECT_EQ(tracker.DecideSeries(labels, 0), kNotReplicated);
  const std::vector<Label> empty_replica = Sorted({{"__name__", "up"}, {"__replica__", ""}, {"cluster", "X"}});
  EXPECT_EQ(tracker.DecideSeries(empty_replica, 0), kNotReplicated);
  EXPECT_EQ(tracker.clusters(), 0u);
}

TEST(HaTrackerTest, LabelsAreFoundInSortedSpans) {
  HaTracker tracker(OptionsWithTimeout(kTimeout));
  const std::vector<Label> a = Sorted(
      {{"__name__", "up"}, {"__replica__", "A"}, {"cluster", "X"}, {"instance", "h:9100"}, {"job", "node"}});
  const std::vector<Label> b = Sorted({{"__name__", "up"}, {"__replica__", "B"}, {"cluster", "X"}});
  HaLabels found = tracker.LabelsOf(a);
  EXPECT_EQ(found.cluster, "X");
  EXPECT_EQ(found.replica, "A");
  EXPECT_EQ(tracker.DecideSeries(a, 0), kElected);
  EXPECT_EQ(tracker.DecideSeries(b, 0), kNotElected);

  // No cluster label: the cluster value "", a cluster of its own.
  const std::vector<Label> b_no_cluster = Sorted({{"__name__", "up"}, {"__replica__", "B"}, {"zone", "z"}});
  const std::vector<Label> a_no_cluster = Sorted({{"__name__", "up"}, {"__replica__", "A"}});
  found = tracker.LabelsOf(b_no_cluster);
  EXPECT_EQ(found.cluster, "");
  EXPECT_EQ(found.replica, "B");
  EXPECT_EQ(tracker.DecideSeries(b_no_cluster, 1), kElected);
  EXPECT_EQ(tracker.DecideSeries(a_no_cluster, 1), kNotElected);
  EXPECT_EQ(tracker.elected(""), "B");
  EXPECT_EQ(tracker.elected("X"), "A");

  // Label names come from the options; the defaults then mean nothing.
  HaTracker::Options options = OptionsWithTimeout(kTimeout);
  options.cluster_label = "ha_cluster";
  options.replica_label = "prometheus_replica";
  HaTracker custom(options);
  EXPECT_EQ(custom.DecideSeries(a, 0), kNotReplicated);
  const std::vector<Label> c = Sorted({{"__name__", "up"},
                                       {"__replica__", "ignored"},
                                       {"cluster", "ignored"},
                                       {"ha_cluster", "Y"},
                                       {"prometheus_replica", "C"}});
  found = custom.LabelsOf(c);
  EXPECT_EQ(found.cluster, "Y");
  EXPECT_EQ(found.replica, "C");
  EXPECT_EQ(custom.DecideSeries(c, 0), kElected);
  EXPECT_EQ(custom.elected("Y"), "C");

  // Label names that are prefixes of others are not confused with them.
  const std::vector<Label> prefixes = Sorted({{"__replica__x", "R"}, {"clusterx", "Z"}});
  found = tracker.LabelsOf(prefixes);
  EXPECT_EQ(found.cluster, "");
  EXPECT_EQ(found.replica, "");
  EXPECT_EQ(tracker.LabelsOf({}).replica, "");
}

TEST(HaTrackerTest, FailoverCallsCallbackAndBumpsGeneration) {
  std::vector<Failover> failovers;
  HaTracker* tracker_ptr = nullptr;
  std::vector<uint64_t> generations_seen_in_callback;
  HaTracker::Options options = OptionsWithTimeout(kTimeout);
  options.on_failover = [&](std::string_view cluster, std::string_view from, std::string_view to) {
    failovers.push_back({std::string(cluster), std::string(from), std::string(to)});
    // Runs outside the tracker's mutex, after the switch.
    generations_seen_in_callback.push_back(tracker_ptr->generation(cluster));
  };
  HaTracker tracker(options);
  tracker_ptr = &tracker;

  uint64_t generation = 0;
  ASSERT_EQ(tracker.Decide("X", "A", 0, &generation), kElected);
  const uint64_t first = generation;
  EXPECT_GT(first, 0u);
  EXPECT_EQ(tracker.generation("X"), first);
  ASSERT_EQ(tracker.Decide("X", "B", 1, &generation), kNotElected);
  EXPECT_EQ(generation, first);  // the cluster's generation, whoever asks
  EXPECT_TRUE(failovers.empty());

  ASSERT_EQ(tracker.Decide("X", "B", kTimeout, &generation), kElected);
  EXPECT_EQ(generation, first + 1);
  EXPECT_EQ(tracker.generation("X"), first + 1);
  ASSERT_EQ(tracker.Decide("X", "A", 3 * kTimeout, &generation), kElected);
  EXPECT_EQ(generation, first + 2);
  EXPECT_EQ(tracker.failovers(), 2u);
  EXPECT_THAT(failovers, ElementsAre(Failover{"X", "A", "B"}, Failover{"X", "B", "A"}));
  EXPECT_THAT(generations_seen_in_callback, ElementsAre(first + 1, first + 2));

  // A new cluster's first election is no failover.
  ASSERT_EQ(tracker.Decide("Y", "A", 3 * kTimeout), kElected);
  EXPECT_EQ(failovers.size(), 2u);
  EXPECT_EQ(tracker.failovers(), 2u);
}

TEST(HaTrackerTest, IdleClustersAreForgotten) {
  constexpr int64_t kTimeoutMs = 1000;
  constexpr int64_t kForget = HaTracker::kForgetAfterTimeouts * kTimeoutMs;
  HaTracker tracker(OptionsWithTimeout(kTimeoutMs));
  ASSERT_EQ(tracker.Decide("X", "A", 0), kElected);
  ASSERT_EQ(tracker.Decide("Y", "A", 0), kElected);
  const uint64_t x_generation = tracker.generation("X");
  ASSERT_EQ(tracker.Decide("Y", "A", kForget - 1), kElected);
  EXPECT_EQ(tracker.clusters(), 2u);  // X has been idle kForget - 1 ms: kept
  // Sweeps run at most once per timeout: by then X, idle since 0, is gone.
  const int64_t swept = kForget - 1 + kTimeoutMs;
  ASSERT_EQ(tracker.Decide("Z", "B", swept), kElected);
  EXPECT_EQ(tracker.clusters(), 2u);  // X swept, Y kept, Z added
  EXPECT_EQ(tracker.generation("X"), 0u);
  EXPECT_EQ(tracker.elected("X"), "");
  EXPECT_EQ(tracker.elected("Y"), "A");

  // X returns with the other replica: a new election, not a failover, with a generation it never had.
  uint64_t generation = 0;
  EXPECT_EQ(tracker.Decide("X", "B", swept + 1, &generation), kElected);
  EXPECT_EQ(tracker.Decide("X", "A", swept + 1), kNotElected);
  EXPECT_GT(generation, x_generation);
  EXPECT_EQ(tracker.failovers(), 0u);
}

TEST(HaTrackerTest, ForgettingStartsExactlyAtTenTimeouts) {
  constexpr int64_t kTimeoutMs = 1000;
  constexpr int64_t kForget = HaTracker::kForgetAfterTimeouts * kTimeoutMs;
  {
    HaTracker tracker(OptionsWithTimeout(kTimeoutMs));
    ASSERT_EQ(tracker.Decide("X", "A", 0), kElected);
    EXPECT_EQ(tracker.Decide("X", "B", kForget - 1), kElected);
    EXPECT_EQ(tracker.failovers(), 1u);  // still remembered: a failover
  }
  {
    HaTracker tracker(OptionsWithTimeout(kTimeoutMs));
    ASSERT_EQ(tracker.Decide("X", "A", 0), kElected);
    EXPECT_EQ(tracker.Decide("X", "B", kForget), kElected);
    EXPECT_EQ(tracker.failovers(), 0u);  // forgotten: a new election
  }
}

TEST(HaTrackerTest, MemoryIsBoundedByRecentClusters) {
  constexpr int64_t kTimeoutMs = 1000;
  HaTracker tracker(OptionsWithTimeout(kTimeoutMs));
  size_t most = 0;
  for (int i = 0; i < 1000; ++i) {
    const std::string cluster = "c" + std::to_string(i);
    ASSERT_EQ(tracker.Decide(cluster, "A", i * kTimeoutMs / 4), kElected);
    most = std::max(most, tracker.clusters());
  }
  // Forgotten after 40 calls; swept within 4 more.
  EXPECT_LE(most, 45u);
  EXPECT_GE(most, 40u);
}

TEST(HaTrackerTest, ConcurrentDecisionsElectOneReplicaPerClusterAtATime) {
  constexpr int kThreads = 4;  // one replica each
  constexpr int kClusters = 4;
  constexpr int kIterations = 20000;
  constexpr int kPhase = 500;  // iterations in which one replica per cluster stays silent
  std::atomic<uint64_t> callbacks{0};
  HaTracker::Options options = OptionsWithTimeout(100);
  options.on_failover = [&](std::string_view, std::string_view from, std::string_view to) {
    EXPECT_NE(from, to);
    callbacks.fetch_add(1);
  };
  HaTracker tracker(options);
  std::atomic<int64_t> clock{0};
  std::latch start(kThreads);

  struct Elected {
    int cluster;
    uint64_t generation;
    int replica;
    auto operator<=>(const Elected&) const = default;
  };
  std::vector<std::set<Elected>> elected_by_thread(kThreads);
  std::vector<std::thread> threads;
  for (int replica = 0; replica < kThreads; ++replica) {
    threads.emplace_back([&, replica] {
      const std::string replica_name = "r" + std::to_string(replica);
      std::vector<uint64_t> last_generation(kClusters, 0);
      start.arrive_and_wait();
      for (int i = 0; i < kIterations; ++i) {
        const int64_t now = clock.fetch_add(1);
        for (int cluster = 0; cluster < kClusters; ++cluster) {
          if ((i / kPhase + cluster) % kThreads == replica) continue;  // silent for this cluster
          const std::string cluster_name = "c" + std::to_string(cluster);
          uint64_t generation = 0;
          const HaDecision decision = tracker.Decide(cluster_name, replica_name, now, &generation);
          ASSERT_NE(decision, kNotReplicated);
          ASSERT_GE(generation, last_generation[cluster]);  // generations never go back
          last_generation[cluster] = generation;
          if (decision == kElected) elected_by_thread[replica].insert({cluster, generation, replica});
        }
      }
    });
  }
  for (std::thread& thread : threads) thread.join();

  // Exactly one replica was elected in each (cluster, generation).
  std::map<std::pair<int, uint64_t>, std::set<int>> replicas;
  for (const std::set<Elected>& elected : elected_by_thread) {
    for (const Elected& e : elected) replicas[{e.cluster, e.generation}].insert(e.replica);
  }
  for (const auto& [key, who] : replicas) {
    EXPECT_EQ(who.size(), 1u) << "cluster c" << key.first << " generation " << key.second;
  }
  // Every cluster has an elected replica now, and each failover was reported once.
  for (int cluster = 0; cluster < kClusters; ++cluster) {
    const std::string name = "c" + std::to_string(cluster);
    EXPECT_NE(tracker.elected(name), "") << name;
    EXPECT_GT(tracker.generation(name), 0u) << name;
  }
  EXPECT_GT(tracker.failovers(), 0u);
  EXPECT_EQ(callbacks.load(), tracker.failovers());
}

TEST(HaRequestCacheTest, AsksTheTrackerOncePerPair) {
  HaTracker tracker(OptionsWithTimeout(kTimeout));
  ASSERT_EQ(tracker.Decide("X", "A", 0), kElected);
  const std::vector<Label> b1 = Sorted({{"__name__", "up"}, {"__replica__", "B"}, {"cluster", "X"}});
  const std::vector<Label> b2 = Sorted({{"__name__", "down"}, {"__replica__", "B"}, {"cluster", "X"}});
  const std::vector<Label> plain = Sorted({{"__name__", "up"}, {"cluster", "X"}});

  HaRequestCache early(&tracker, 10);
  for (int i = 0; i < 100; ++i) {
    EXPECT_EQ(early.DecideSeries(i % 2 ? b1 : b2), kNotElected);
    EXPECT_EQ(early.DecideSeries(plain), kNotReplicated);
  }
  EXPECT_EQ(early.tracker_lookups(), 1u);

  // A request past the timeout fails over on its first series; the rest follow without lookups.
  HaRequestCache late(&tracker, kTimeout);
  uint64_t generation = 0;
  for (int i = 0; i < 100; ++i) {
    EXPECT_EQ(late.DecideSeries(i % 2 ? b1 : b2, &generation), kElected);
    EXPECT_EQ(generation, tracker.generation("X"));
  }
  EXPECT_EQ(late.tracker_lookups(), 1u);
  EXPECT_EQ(tracker.failovers(), 1u);
}

TEST(HaRequestCacheTest, ManyPairsStayCorrect) {
  HaTracker tracker(OptionsWithTimeout(kTimeout));
  // Elect replica "A" in clusters c0..c9.
  for (int c = 0; c < 10; ++c) ASSERT_EQ(tracker.Decide("c" + std::to_string(c), "A", 0), kElected);

  std::vector<std::string> clusters, replicas;
  for (int c = 0; c < 10; ++c) clusters.push_back("c" + std::to_string(c));
  for (const char* r : {"A", "B"}) replicas.push_back(r);
  HaRequestCache cache(&tracker, 1);
  for (int round = 0; round < 3; ++round) {
    for (const std::string& cluster : clusters) {
      for (const std::string& replica : replicas) {
        const HaDecision expected = replica == "A" ? kElected : kNotElected;
        EXPECT_EQ(cache.Decide(cluster, replica), expected) << cluster << " " << replica;
      }
    }
  }
  // 20 pairs, more than the cache holds: it asks again, but never more than once per series.
  EXPECT_LE(cache.tracker_lookups(), 60u);
  EXPECT_GE(cache.tracker_lookups(), 20u);
  // The empty cluster and a cluster named like a replica are pairs of their own.
  EXPECT_EQ(cache.Decide("", "B"), kElected);
  EXPECT_EQ(cache.Decide("", "A"), kNotElected);
  EXPECT_EQ(cache.Decide("B", ""), kNotReplicated);
}

TEST(HaTrackerTest, DecisionNames) {
  EXPECT_STREQ(HaDecisionName(kNotReplicated), "not_replicated");
  EXPECT_STREQ(HaDecisionName(kElected), "elected");
  EXPECT_STREQ(HaDecisionName(kNotElected), "not_elected");
}

}  // namespace
}  // namespace prom2gcm
