// Corpus holds the recorded remote-write requests of a testdata folder (testdata/v1 or testdata/v2),
// decoded once with the generated classes, and what replaying them needs: per-request sample counts,
// the corpus' time range and spacing, and for every request the earlier requests that share a series
// with it. This file also holds the transformations applied while replaying: the time shift of a pass,
// the loadgen_replica label that multiplies the series, and the 1.0 to 2.0 conversion.
//
// Time-shift rule. Pass p (0-based) of P planned passes moves every timestamp by
//   shift(p) = (now - max_ts) - (P - 1 - p) * period
// where min_ts/max_ts are the corpus' oldest and newest sample timestamps, interval is its most
// common spacing between two consecutive samples of one series (5 s for testdata/v1), and period is
// the span (max_ts - min_ts) plus one interval, rounded down to a whole number of intervals: the
// smallest multiple of the interval that is longer than the span. So the last pass ends at `now`,
// and since period > span every timestamp of pass p+1 is later than every timestamp of pass p:
// per series, timestamps strictly increase across passes. Since period is a whole number of
// intervals, a series scraped at a steady phase from the first to the last scrape keeps the corpus'
// spacing across the seam, even when targets are scraped at different phases (testdata/v1: 0 and
// +708 ms, span 80.708 s, period 85 s). Sample, histogram, exemplar, 2.0 start and created
// timestamps all move by the same amount; a zero exemplar/start/created timestamp means "unset" and
// stays zero.
//
// A Corpus owns its decoded messages. Thread-safety: immutable after construction; const methods may
// be called from any thread. The free functions mutate only the message they are given.
#ifndef PROM2GCM_INTEGRATION_LOADGEN_CORPUS_H_
#define PROM2GCM_INTEGRATION_LOADGEN_CORPUS_H_

#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

#include "io/prometheus/write/v2/types.pb.h"
#include "prometheus/remote.pb.h"

namespace prom2gcm::loadgen {

namespace v2 = ::io::prometheus::write::v2;

enum class WireProtocol { kV1 = 1, kV2 = 2 };

// The label that tells the replicas of a series apart when --cardinality > 1.
inline constexpr char kReplicaLabel[] = "loadgen_replica";

// Interval used when no series of the corpus has two samples.
inline constexpr int64_t kDefaultIntervalMs = 1000;

struct TimeRange {
  int64_t min_ms = 0;
  int64_t max_ms = 0;
  int64_t interval_ms = kDefaultIntervalMs;

  int64_t span_ms() const { return max_ms - min_ms; }
  // The time between the starts of two consecutive passes: the smallest multiple of the interval
  // longer than the span.
  int64_t period_ms() const { return (span_ms() / interval_ms + 1) * interval_ms; }
};

// The shift of pass `pass` out of `planned_passes` (see the time-shift rule above).
int64_t PassShiftMs(const TimeRange& range, int64_t now_ms, int64_t pass, int64_t planned_passes);

class Corpus {
 public:
  // Reads every *.pb.snappy file of `dir` in name order. 1.0 files are split into sample requests
  // and metadata requests; 2.0 files are all sample requests. Returns false with *error set if a file
  // cannot be read or decoded, 1.0 and 2.0 files are mixed, or there is no sample request.
  static bool Load(const std::string& dir, Corpus* corpus, std::string* error);

  // A corpus of already decoded messages, in recording order (for tests and tools).
  static Corpus FromV1(const std::vector<::prometheus::prompb::WriteRequest>& requests);
  static Corpus FromV2(const std::vector<v2::Request>& requests);

  Corpus() = default;

  WireProtocol format() const { return format_; }
  size_t size() const { return samples_.size(); }                                           // sample requests
  const ::prometheus::prompb::WriteRequest& v1_request(size_t i) const { return v1_requests_[i]; }  // REQUIRES: kV1
  const v2::Request& v2_request(size_t i) const { return v2_requests_[i]; }                 // REQUIRES: kV2
  // The metadata-only 1.0 requests, in recording order (empty for a 2.0 corpus).
  const std::vector<::prometheus::prompb::WriteRequest>& metadata_requests() const { return metadata_requests_; }

  // Float samples plus native histogram samples of sample request i, and of the whole corpus.
  int64_t samples(size_t i) const { return samples_[i]; }
  int64_t samples_per_pass() const { return samples_per_pass_; }
  const TimeRange& time_range() const { return time_range_; }

  // For each series of request i, how many requests back (1..size(), counting across the end of
  // the previous pass) its previous occurrence is. Sorted, without duplicates.
  const std::vector<int64_t>& predecessor_distances(size_t i) const { return predecessors_[i]; }

  // The metadata of the family a 1.0 series name belongs to: the exact name, else for
  // histogram/summary families the name without _bucket, _sum or _count. nullptr if unknown.
  const ::prometheus::prompb::MetricMetadata* FindMetadata(const std::string& metric_name) const;

  // Sample request i (REQUIRES: kV1) as a 2.0 request: a symbols table starting with "", the same
  // labels, samples, exemplars and histograms, and per-series metadata from the metadata requests.
  v2::Request ToV2(size_t i) const;

 private:
  void AddV1(const ::prometheus::prompb::WriteRequest& request);
  void Analyze();

  WireProtocol format_ = WireProtocol::kV1;
  std::vector<::prometheus::prompb::WriteRequest> v1_requests_;
  std::vector<v2::Request> v2_requests_;
  std::vector<::prometheus::prompb::WriteRequest> metadata_requests_;
  std::unordered_map<std::string, ::prometheus::prompb::MetricMetadata> metadata_by_family_;  // the latest wins
  std::vector<int64_t> samples_;
  int64_t samples_per_pass_ = 0;
  TimeRange time_range_;
  std::vector<std::vector<int64_t>> predecessors_;
};

// Identity of a series: its label pairs in order, each name and value followed by '\0'.
std::string SeriesKey(const ::prometheus::prompb::TimeSeries& series);
std::string SeriesKey(const v2::Request& request, const v2::TimeSeries& series);

// Float samples plus native histogram samples.
int64_t CountSamples(const ::prometheus::prompb::WriteRequest& request);
int64_t CountSamples(const v2::Request& request);

// Adds delta_ms to every timestamp of the request (zero exemplar/start/created timestamps stay zero).
void ShiftTimestamps(int64_t delta_ms, ::prometheus::prompb::WriteRequest* request);
void ShiftTimestamps(int64_t delta_ms, v2::Request* request);

// Inserts kReplicaLabel with an empty value into every series, at its sorted place (a label of that
// name already there is reused). Returns the value of that label in each series: assign the replica
// number to all of them before encoding. The pointers live as long as the request's labels do.
std::vector<std::string*> InsertReplicaLabel(::prometheus::prompb::WriteRequest* request);

// The same for 2.0: every series refers to one new symbol for the value, whose index is returned;
// assign the replica number to symbols(index).
int InsertReplicaLabel(v2::Request* request);

}  // namespace prom2gcm::loadgen

#endif  // PROM2GCM_INTEGRATION_LOADGEN_CORPUS_H_
