// HistogramAssembler: puts classic Prometheus histograms back together. Remote-write scatters a
// histogram NAME over its series NAME_bucket{le=...}, NAME_sum and NAME_count, which Prometheus shards
// independently, so the parts of one scrape arrive in different requests, on different endpoint
// threads, in any order. GCM wants the whole histogram as one distribution point.
//
// The assembler keys each part by its histogram (the part's labels with __name__ = NAME and no `le`)
// and its timestamp, and collects a set per (histogram, timestamp). A set is finished:
//   - complete: it has `_sum`, `_count`, the +Inf bucket, and every bound of the histogram's layout
//     (the finite bounds of its last finished set);
//   - stale: a part carries Prometheus' stale marker, which ends the histogram (sent on at once);
//   - timed out (Options::wait_ms after its first part): with `_sum`, `_count` and +Inf it is
//     finished as it is (this is how a histogram's first set, whose layout is not known yet,
//     finishes, and how a layout that lost a bound goes on); otherwise it is dropped, counted as
//     incomplete.
// Sets of one histogram finish in timestamp order, so a later set waits for an earlier one. A part
// for a timestamp at or before the histogram's last finished set is dropped, counted as late.
//
// A finished set is a custom-bucket NativeHistogram (schema -53, custom_values = the finite bounds,
// per-bucket counts), which native_histogram.h converts like any other. Cumulative bucket counts that
// decrease with `le` (an inconsistent scrape) are clamped so that no bucket is negative.
//
// Thread-safety: all public methods are thread-safe. State is striped by histogram hash, each stripe
// under its own mutex; no other lock is taken inside, so callers may hold a shard's mutex.
#ifndef PROM2GCM_EXPORTER_HISTOGRAM_ASSEMBLER_H_
#define PROM2GCM_EXPORTER_HISTOGRAM_ASSEMBLER_H_

#include <array>
#include <cstdint>
#include <limits>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "exporter/confirmation_ledger.h"
#include "exporter/exemplars.h"
#include "exporter/native_histogram.h"
#include "server/decoded_request.h"

namespace prom2gcm {

enum class HistogramPart : uint8_t { kBucket, kSum, kCount };

// The labels of an assembled histogram: owned copies, sorted by name, __name__ = the family name.
using OwnedLabels = std::vector<std::pair<std::string, std::string>>;

// One finished set.
struct AssembledHistogram {
  uint64_t histogram_hash = 0;
  std::shared_ptr<const OwnedLabels> labels;
  bool gauge = false;  // a gauge histogram (type from the parts' metadata)
  bool stale = false;  // ended by a stale marker; `histogram` is empty
  NativeHistogram histogram;
  std::vector<GcmExemplar> exemplars;  // the parts' exemplars that came since the previous set
  std::vector<uint64_t> seqs;          // ledger references of its parts (see Add)
};

// Why parts or sets went nowhere.
enum class AssemblyDrop : uint8_t {
  kIncomplete,   // a set timed out without _sum, _count, +Inf or a bound of its layout (counted per set)
  kLatePart,     // a part for a timestamp whose set had already finished (counted per part)
  kNoBounds,     // a set with only the +Inf bucket: GCM distributions need a bound (counted per set)
  kCount,
};
const char* AssemblyDropName(AssemblyDrop drop);

struct AssemblyCounts {
  std::array<uint64_t, static_cast<size_t>(AssemblyDrop::kCount)> by_reason{};
  void Add(AssemblyDrop drop, uint64_t n = 1) { by_reason[static_cast<size_t>(drop)] += n; }
};

class HistogramAssembler {
 public:
  struct Options {
    int64_t wait_ms = 15000;     // how long a set may wait for its missing parts
    int64_t idle_ttl_ms = 600000;  // histograms without parts for this long are forgotten
  };

  // What a part series contributes, decided once per part series (see Identify).
  struct PartInfo {
    uint64_t histogram_hash = 0;
    HistogramPart part = HistogramPart::kBucket;
    double le = 0;  // kBucket only
    bool gauge = false;
  };

  // The part a series of a classic histogram family is, from its labels; false (with a one-line
  // reason) for a name without _bucket/_sum/_count or a bucket whose `le` is missing or not a number.
  static bool Identify(std::span<const Label> labels, bool gauge, PartInfo* info, const char** reason);

  explicit HistogramAssembler(const Options& options);

  // Adds one sample of a part series (labels: the part series' own; copied the first time its
  // histogram is seen). Sets this finishes are appended to *done.
  // A part kept in a set takes a ledger reference on seq (its request's log record; 0: none), which
  // goes with the finished set (AssembledHistogram::seqs) or is released when the set is dropped.
  void Add(const PartInfo& info, std::span<const Label> labels, const Sample& sample, uint64_t seq, int64_t now,
           std::vector<AssembledHistogram>* done, AssemblyCounts* counts);
  // Call before the first Add; the ledger must outlive the assembler.
  void set_ledger(ConfirmationLedger* ledger) { ledger_ = ledger; }

  // Keeps exemplars of a part series (its buckets') for the histogram's next finished set; at most
  // kMaxExemplars, the newest. Call before Add for the samples they came with.
  void AddExemplars(const PartInfo& info, std::span<const Label> labels, std::vector<GcmExemplar> exemplars,
                    int64_t now);
  static constexpr size_t kMaxExemplars = 64;

  // Finishes or drops sets waiting longer than the wait (all: every set, e.g. at shutdown) and
  // forgets idle histograms.
  void Expire(int64_t now, bool all, std::vector<AssembledHistogram>* done, AssemblyCounts* counts);

  // Sets not finished yet, in all histograms.
  size_t pending_sets() const;

 private:
  struct PartialSet {
    int64_t timestamp_ms = 0;
    std::vector<std::pair<double, double>> buckets;  // (le, cumulative count), +Inf included
    bool has_sum = false, has_count = false, stale = false;
    std::vector<uint64_t> seqs;  // one per part added with a seq
    double sum = 0, count = 0;
    int64_t first_seen_ms = 0;
  };
  struct Assembly {
    std::shared_ptr<const OwnedLabels> labels;
    bool gauge = false;
    bool layout_known = false;
    std::vector<double> layout;  // finite bounds of the last finished set, ascending
    int64_t last_finished_ms = std::numeric_limits<int64_t>::min();
    int64_t last_touched_ms = 0;
    // By timestamp, ascending; usually one or two. A vector rather than a map, and the bucket
    // storage of a finished set is kept for the next, so a set's buckets cost no allocation once
    // the histogram has finished one (the map's nodes and the buckets' growth were most of Add's
    // time).
    std::vector<PartialSet> sets;
    std::vector<std::pair<double, double>> spare_buckets;  // empty; its capacity is what is kept
    std::vector<GcmExemplar> exemplars;
  };
  struct Stripe {
    mutable std::mutex mutex;
    std::unordered_map<uint64_t, Assembly> assemblies;  // GUARDED_BY(mutex), by histogram hash
    size_t pending_sets = 0;                             // GUARDED_BY(mutex)
  };
  static constexpr size_t kStripes = 64;

  // The assembly of info's histogram, created (labels copied) if new. REQUIRES: stripe mutex held.
  Assembly& FindOrAdd(Stripe* stripe, const PartInfo& info, std::span<const Label> labels, int64_t now);
  // The assembly's set for timestamp_ms, created (first seen now) if new. REQUIRES: stripe mutex held.
  static PartialSet& FindOrAddSet(Stripe* stripe, Assembly* assembly, int64_t timestamp_ms, int64_t now);
  // Finishes the assembly's sets in timestamp order while they can be. REQUIRES: stripe mutex held.
  void Finish(uint64_t hash, Assembly* assembly, Stripe* stripe, int64_t now, bool all,
              std::vector<AssembledHistogram>* done, AssemblyCounts* counts);
  static bool IsComplete(const Assembly& assembly, const PartialSet& set, bool timed_out);
  static bool ToHistogram(PartialSet* set, NativeHistogram* out);  // sorts set->buckets
  static std::shared_ptr<const OwnedLabels> HistogramLabels(std::span<const Label> part_labels);

  void ReleaseSeqs(const std::vector<uint64_t>& seqs);

  const Options options_;
  ConfirmationLedger* ledger_ = nullptr;
  std::array<Stripe, kStripes> stripes_;
};

}  // namespace prom2gcm

#endif  // PROM2GCM_EXPORTER_HISTOGRAM_ASSEMBLER_H_
