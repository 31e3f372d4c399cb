// NativeHistogram: one Prometheus native histogram sample (a remote-write 1.0 prometheus.Histogram or
// 2.0 io.prometheus.write.v2.Histogram message; their field numbers agree) decoded into plain values,
// and its conversion into the fields of a Cloud Monitoring google.api.Distribution.
//
// Mapping rules (ToDistribution):
//   - Exponential schemas -4..8 become exponential bucket options. Prometheus bucket `i` at schema s
//     covers (base^(i-1), base^i] with base = 2^(2^-s); GCM finite bucket k (1 <= k <= N) covers
//     [scale*growth^(k-1), scale*growth^k). So growth_factor = base, scale = base^(min-1) with `min` the
//     lowest populated positive bucket, N = max - min + 1, and bucket i goes to GCM bucket i - min + 1.
//     GCM bucket 0, the underflow (-inf, scale), takes the zero bucket and the negative buckets (see
//     below); the overflow bucket N+1 stays empty. Without populated positive buckets the layout is
//     N = 1 with scale = zero_threshold (1 when that is 0), everything in the underflow bucket.
//   - Negative buckets cannot be laid out separately (exponential options have one, positive, range):
//     their counts are folded into the underflow bucket, which they do lie in (they are below scale).
//     DistributionValue::negative_folded says how many observations that was, for the exporter's
//     `negative_buckets_folded` count.
//   - Custom buckets (schema -53) become explicit bucket options with bounds = custom_values. Prometheus
//     bucket i covers (cv[i-1], cv[i]] (bucket 0 is (-inf, cv[0]], bucket len(cv) is (cv[last], +inf));
//     GCM explicit bucket i covers [bounds[i-1], bounds[i]) with the same two open ends, so bucket i
//     maps to GCM bucket i.
//   - Accepted approximation, both layouts: Prometheus buckets include their upper bound, GCM buckets
//     their lower bound. Counts move bucket for bucket, so an observation exactly on a bound is counted
//     in the GCM bucket whose (exclusive) upper bound it equals. Likewise the zero bucket [-zt, zt] and
//     negative observations land in the underflow bucket, although the zero bucket may reach zt.
//   - GCM allows at most 200 buckets per distribution. When an exponential layout would need more,
//     ToDistribution lowers the resolution (merging 2, 4, ... adjacent buckets, as Prometheus does)
//     until it fits or the schema is -4; DistributionValue::schema tells the schema used. Custom
//     layouts are never changed.
//   - bucket_counts are per bucket (not cumulative), underflow first, trailing zero buckets trimmed.
//     Float histograms are rounded so that the rounded counts add up: bucket k gets
//     round(C_k) - round(C_(k-1)), with C_k the cumulative count through bucket k. `count` is always the
//     sum of bucket_counts (GCM requires it): the message's count, rounded, for every valid histogram
//     except an integer one with NaN observations (sum NaN), whose NaNs are in no bucket
//     (DistributionValue::unbucketed counts them).
//   - mean = sum / count (the message's count), 0 for an empty distribution. When sum is not finite
//     (NaN observed), the mean is estimated from the buckets like the deviation below.
//   - sum_of_squared_deviation is an estimate: every observation is taken to sit at a representative
//     point of its Prometheus bucket, and the squared distances to the mean are summed. Representative
//     points: the geometric midpoint base^(i-1/2) of an exponential bucket (negated for negative
//     buckets), 0 for the zero bucket, the arithmetic midpoint of a finite custom bucket, and the finite
//     bound of the two open-ended custom buckets.
//
// Counter semantics: IsReset() tells whether a histogram starts a new counter lifetime relative to the
// previous one, and Subtract() makes the bucket-wise delta of a cumulative point from its baseline,
// first bringing both to a common schema and zero threshold.
//
// Thread-safety: plain values and pure functions; none needed.
#ifndef PROM2GCM_EXPORTER_NATIVE_HISTOGRAM_H_
#define PROM2GCM_EXPORTER_NATIVE_HISTOGRAM_H_

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace prom2gcm {

inline constexpr int32_t kMinExponentialSchema = -4;
inline constexpr int32_t kMaxExponentialSchema = 8;
inline constexpr int32_t kCustomBucketsSchema = -53;
// Cloud Monitoring's limit on the buckets of one distribution, underflow and overflow included.
inline constexpr int32_t kGcmMaxBuckets = 200;

// The wire enum ResetHint, identical in 1.0 and 2.0. Unknown wire values decode as kUnknown.
enum class HistogramResetHint : uint8_t { kUnknown = 0, kYes = 1, kNo = 2, kGauge = 3 };

// A run of `length` consecutive buckets. The first span's offset is the index of its first bucket;
// each later span's offset is the gap after the end of the previous span.
struct HistogramSpan {
  int32_t offset = 0;
  uint32_t length = 0;
};

struct NativeHistogram {
  bool IsCustomBuckets() const { return schema == kCustomBucketsSchema; }

  bool float_counts = false;  // the message used count_float / *_counts rather than integers
  double count = 0;           // count_int or count_float; includes NaN observations
  double sum = 0;
  int32_t schema = 0;
  double zero_threshold = 0;
  double zero_count = 0;
  // Absolute counts, one per bucket the spans cover (integer deltas already summed up). Integer counts
  // are exact up to 2^53.
  std::vector<HistogramSpan> positive_spans;
  std::vector<double> positive_counts;
  std::vector<HistogramSpan> negative_spans;
  std::vector<double> negative_counts;
  HistogramResetHint reset_hint = HistogramResetHint::kUnknown;
  int64_t timestamp_ms = 0;
  std::vector<double> custom_values;  // the upper bounds of custom buckets (schema -53)
  int64_t start_timestamp_ms = 0;     // 2.0 only; 0 when not given
};

// Calls fn(int32_t index, double count) for each bucket the spans cover, in index order. The spans
// must cover counts.size() buckets (DecodeNativeHistogram checks it).
template <typename Fn>
void ForEachBucket(std::span<const HistogramSpan> spans, std::span<const double> counts, Fn&& fn) {
  size_t position = 0;
  int64_t index = 0;
  for (size_t s = 0; s < spans.size(); ++s) {
    index += spans[s].offset;
    for (uint32_t k = 0; k < spans[s].length && position < counts.size(); ++k, ++index) {
      fn(static_cast<int32_t>(index), counts[position++]);
    }
  }
}

// Decodes and validates one Histogram message into *out (whose vectors keep their capacity). Returns
// false with a one-line reason in *error for malformed or invalid input: bad wire format, schema not
// in -4..8 or -53, spans not covering exactly the given deltas or counts, bucket indices beyond any
// double's bucket, negative or non-finite counts, integers mixed with floats, custom values missing,
// not strictly increasing or given with an exponential schema, custom buckets with negative or zero
// buckets, or an integer count that disagrees with its buckets.
bool DecodeNativeHistogram(std::string_view encoded, NativeHistogram* out, std::string* error);

struct DistributionOptions {
  // Most buckets (underflow and overflow included) an exponential layout may have; 0: no limit.
  int32_t max_buckets = kGcmMaxBuckets;
};

enum class BucketLayout : uint8_t { kExponential, kExplicit };

// The fields of a google.api.Distribution (without range and exemplars), plus accounting.
struct DistributionValue {
  int64_t count = 0;
  double mean = 0;
  double sum_of_squared_deviation = 0;
  BucketLayout layout = BucketLayout::kExponential;
  // kExponential: bucket options Exponential{num_finite_buckets, growth_factor, scale}.
  int32_t num_finite_buckets = 0;
  double growth_factor = 0;
  double scale = 0;
  // kExplicit: bucket options Explicit{bounds}.
  std::vector<double> bounds;
  std::vector<int64_t> bucket_counts;  // per bucket, underflow bucket first; trailing zeros trimmed
  std::string encoded_exemplars;       // Distribution.exemplars (field 10) entries, wire format (exemplars.h)

  int32_t schema = 0;           // the layout's schema: the histogram's, or lower when reduced to fit
  int64_t negative_folded = 0;  // observations of negative buckets folded into the underflow bucket
  int64_t unbucketed = 0;       // observations counted by the message but in no bucket (NaNs)
};

// Converts a decoded histogram by the rules at the top of this file.
DistributionValue ToDistribution(const NativeHistogram& histogram, const DistributionOptions& options = {});

// Appends the wire format of a google.monitoring.v3.TypedValue{distribution_value = d}.
void AppendDistributionValue(std::string* out, const DistributionValue& d);

// Whether `current` starts a new counter lifetime after `previous`: never for a gauge histogram
// (reset hint GAUGE); always for reset hint YES; otherwise when the count, the zero bucket or any
// bucket decreased (compared at current's schema and zero threshold), when the schema got finer, the
// zero threshold smaller or moved into a populated bucket of `previous`, or when the custom bounds
// changed or custom and exponential buckets were swapped. Hint NO does not hide a decrease: a
// cumulative point cannot go down.
bool IsReset(const NativeHistogram& previous, const NativeHistogram& current);

// The observations `current` made since `baseline`, bucket by bucket. Both are first brought to the
// coarser schema of the two and the larger zero threshold (buckets at or below it join the zero
// bucket). Meant for !IsReset(baseline, current): negative differences are clamped to 0, and a
// custom-bucket pair with different bounds (or a custom and an exponential one) gives `current`
// unchanged. Timestamps and reset hint come from `current`; the result's spans cover only non-zero
// buckets.
NativeHistogram Subtract(const NativeHistogram& current, const NativeHistogram& baseline);

// The histogram at a lower resolution: each bucket at the target schema gathers the 2^(s - target)
// buckets of schema s it covers. Custom buckets, and targets not in [-4, histogram.schema), give the
// histogram unchanged.
NativeHistogram ReduceResolution(const NativeHistogram& histogram, int32_t target_schema);

// The bound base^index of exponential buckets at `schema` (-4..8, or finer for midpoints): bucket i
// covers (ExponentialBound(s, i-1), ExponentialBound(s, i)].
double ExponentialBound(int32_t schema, int64_t index);

}  // namespace prom2gcm

#endif  // PROM2GCM_EXPORTER_NATIVE_HISTOGRAM_H_
