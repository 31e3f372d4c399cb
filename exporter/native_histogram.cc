#include "exporter/native_histogram.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

#include "server/wire_reader.h"
#include "server/wire_writer.h"

namespace prom2gcm {
namespace {

// ---- Decoding ------------------------------------------------------------------------------------

// Bucket indices at schema 0 of every double, +Inf included, lie within +-1076; the margin keeps
// indices of such buckets valid while bounding the layouts a histogram can ask for.
constexpr int64_t kIndexMagnitudeAtSchemaZero = 1100;

int64_t MaxAbsIndex(int32_t schema) {
  return schema >= 0 ? kIndexMagnitudeAtSchemaZero << schema : (kIndexMagnitudeAtSchemaZero >> -schema) + 1;
}

// A power-of-two exponent limited to where ldexp gives 0 or inf anyway, so it fits an int.
int ClampExponent(int64_t exponent) { return static_cast<int>(std::clamp<int64_t>(exponent, -2200, 2200)); }

int64_t Zigzag(uint64_t v) { return static_cast<int64_t>(v >> 1) ^ -static_cast<int64_t>(v & 1); }

bool IsValidSchema(int64_t schema) {
  return (schema >= kMinExponentialSchema && schema <= kMaxExponentialSchema) || schema == kCustomBucketsSchema;
}

// What the field walk saw, beyond the values stored in the histogram.
struct DecodeState {
  bool integer_fields = false;  // count_int, zero_count_int or *_deltas
  bool float_fields = false;    // count_float, zero_count_float or *_counts
  int64_t schema = 0;
  uint64_t count_int = 0;
  uint64_t zero_count_int = 0;
  uint64_t integer_bucket_total = 0;  // every absolute integer count (zero bucket excluded)
  bool integer_total_overflowed = false;
  int64_t positive_running = 0, negative_running = 0;  // absolute count of the last delta-coded bucket
};

void AddToIntegerTotal(DecodeState* state, uint64_t count) {
  if (__builtin_add_overflow(state->integer_bucket_total, count, &state->integer_bucket_total)) {
    state->integer_total_overflowed = true;
  }
}

// BucketSpan: offset = 1 (sint32), length = 2 (uint32).
bool ReadSpan(WireReader& outer, std::vector<HistogramSpan>* spans) {
  if (!outer.Expect(WireType::kLengthDelimited)) return false;
  WireReader r(outer.bytes());
  HistogramSpan span;
  while (r.Next()) {
    if (r.field() == 1 && r.Expect(WireType::kVarint)) {
      const int64_t offset = Zigzag(r.varint());
      if (offset < std::numeric_limits<int32_t>::min() || offset > std::numeric_limits<int32_t>::max()) {
        return outer.Fail("bucket span offset out of int32 range");
      }
      span.offset = static_cast<int32_t>(offset);
    } else if (r.field() == 2 && r.Expect(WireType::kVarint)) {
      if (r.varint() > std::numeric_limits<uint32_t>::max()) {
        return outer.Fail("bucket span length out of uint32 range");
      }
      span.length = static_cast<uint32_t>(r.varint());
    }
  }
  if (r.failed()) return outer.Fail("malformed bucket span");
  spans->push_back(span);
  return true;
}

// Integer buckets: each delta is the difference to the previous bucket's count (the first one's, to 0).
bool ReadDeltas(WireReader& r, int64_t* running, std::vector<double>* counts, DecodeState* state) {
  bool negative = false, overflow = false;
  const bool ok = ForEachVarint(r, [&](uint64_t encoded) {
    if (__builtin_add_overflow(*running, Zigzag(encoded), running)) overflow = true;
    if (*running < 0) negative = true;
    counts->push_back(static_cast<double>(*running));
    AddToIntegerTotal(state, static_cast<uint64_t>(*running));
  });
  if (!ok) return false;
  if (overflow) return r.Fail("bucket deltas overflow int64");
  if (negative) return r.Fail("bucket deltas give a negative bucket count");
  return true;
}

// A repeated double, packed or not.
bool ReadDoubles(WireReader& r, std::vector<double>* out) {
  if (r.type() == WireType::kFixed64) {
    out->push_back(r.as_double());
    return true;
  }
  if (r.type() != WireType::kLengthDelimited) return r.Fail("wrong wire type for a repeated double");
  const std::string_view packed = r.bytes();
  if (packed.size() % 8 != 0) return r.Fail("packed doubles not a multiple of 8 bytes");
  for (size_t offset = 0; offset < packed.size(); offset += 8) {
    double value;
    std::memcpy(&value, packed.data() + offset, 8);
    out->push_back(value);
  }
  return true;
}

// Histogram fields, identical in 1.0 and 2.0 (2.0 adds start_timestamp = 17).
void ReadField(WireReader& r, NativeHistogram* h, DecodeState* state) {
  switch (r.field()) {
    case 1:
      if (r.Expect(WireType::kVarint)) {
        state->count_int = r.varint();
        state->integer_fields = true;
      }
      break;
    case 2:
      if (r.Expect(WireType::kFixed64)) {
        h->count = r.as_double();
        state->float_fields = true;
      }
      break;
    case 3:
      if (r.Expect(WireType::kFixed64)) h->sum = r.as_double();
      break;
    case 4:
      if (r.Expect(WireType::kVarint)) state->schema = Zigzag(r.varint());
      break;
    case 5:
      if (r.Expect(WireType::kFixed64)) h->zero_threshold = r.as_double();
      break;
    case 6:
      if (r.Expect(WireType::kVarint)) {
        state->zero_count_int = r.varint();
        h->zero_count = static_cast<double>(r.varint());
        state->integer_fields = true;
      }
      break;
    case 7:
      if (r.Expect(WireType::kFixed64)) {
        h->zero_count = r.as_double();
        state->float_fields = true;
      }
      break;
    case 8: ReadSpan(r, &h->negative_spans); break;
    case 9:
      state->integer_fields = true;
      ReadDeltas(r, &state->negative_running, &h->negative_counts, state);
      break;
    case 10:
      state->float_fields = true;
      ReadDoubles(r, &h->negative_counts);
      break;
    case 11: ReadSpan(r, &h->positive_spans); break;
    case 12:
      state->integer_fields = true;
      ReadDeltas(r, &state->positive_running, &h->positive_counts, state);
      break;
    case 13:
      state->float_fields = true;
      ReadDoubles(r, &h->positive_counts);
      break;
    case 14:
      if (r.Expect(WireType::kVarint)) {
        h->reset_hint = r.varint() <= 3 ? static_cast<HistogramResetHint>(r.varint()) : HistogramResetHint::kUnknown;
      }
      break;
    case 15:
      if (r.Expect(WireType::kVarint)) h->timestamp_ms = static_cast<int64_t>(r.varint());
      break;
    case 16: ReadDoubles(r, &h->custom_values); break;
    case 17:
      if (r.Expect(WireType::kVarint)) h->start_timestamp_ms = static_cast<int64_t>(r.varint());
      break;
    default: break;  // unknown fields are skipped
  }
}

void Clear(NativeHistogram* h) {
  h->float_counts = false;
  h->count = h->sum = h->zero_threshold = h->zero_count = 0;
  h->schema = 0;
  h->positive_spans.clear();
  h->positive_counts.clear();
  h->negative_spans.clear();
  h->negative_counts.clear();
  h->reset_hint = HistogramResetHint::kUnknown;
  h->timestamp_ms = h->start_timestamp_ms = 0;
  h->custom_values.clear();
}

bool IsFiniteNonNegative(double v) { return v >= 0 && v <= std::numeric_limits<double>::max(); }

// Checks that the spans cover exactly `counts` buckets, all with indices in [min_index, max_index].
// Returns an empty string or the reason.
std::string CheckSpans(const std::vector<HistogramSpan>& spans, size_t counts, int64_t min_index,
                       int64_t max_index, const char* side) {
  uint64_t covered = 0;
  int64_t index = 0;
  for (size_t i = 0; i < spans.size(); ++i) {
    if (i > 0 && spans[i].offset < 0) {
      return std::string(side) + " span " + std::to_string(i) + " has a negative offset";
    }
    index += spans[i].offset;
    if (spans[i].length == 0) continue;
    const int64_t last = index + spans[i].length - 1;
    if (index < min_index || last > max_index) {
      return std::string(side) + " bucket index out of range [" + std::to_string(min_index) + ", " +
             std::to_string(max_index) + "] for the schema";
    }
    index = last + 1;
    covered += spans[i].length;
  }
  if (covered != counts) {
    return std::string(side) + " spans cover " + std::to_string(covered) + " buckets but " + std::to_string(counts) +
           " counts were given";
  }
  return {};
}

std::string CheckCounts(const std::vector<double>& counts, const char* side) {
  for (double c : counts) {
    if (!IsFiniteNonNegative(c)) return std::string(side) + " bucket count negative or not finite";
  }
  return {};
}

std::string CheckCustomValues(const NativeHistogram& h) {
  if (!h.IsCustomBuckets()) return h.custom_values.empty() ? "" : "custom values given with an exponential schema";
  if (h.custom_values.empty()) return "custom-bucket histogram without custom values";
  for (size_t i = 0; i < h.custom_values.size(); ++i) {
    if (!std::isfinite(h.custom_values[i])) return "custom value not finite";
    if (i > 0 && !(h.custom_values[i - 1] < h.custom_values[i])) return "custom values not strictly increasing";
  }
  if (!h.negative_spans.empty() || !h.negative_counts.empty()) return "custom-bucket histogram with negative buckets";
  if (h.zero_count != 0) return "custom-bucket histogram with a zero bucket count";
  return {};
}

std::string CheckBuckets(const NativeHistogram& h) {
  const int64_t min_index = h.IsCustomBuckets() ? 0 : -MaxAbsIndex(h.schema);
  const int64_t max_index =
      h.IsCustomBuckets() ? static_cast<int64_t>(h.custom_values.size()) : MaxAbsIndex(h.schema);
  std::string reason = CheckSpans(h.positive_spans, h.positive_counts.size(), min_index, max_index, "positive");
  if (reason.empty()) {
    reason = CheckSpans(h.negative_spans, h.negative_counts.size(), min_index, max_index, "negative");
  }
  if (reason.empty()) reason = CheckCounts(h.positive_counts, "positive");
  if (reason.empty()) reason = CheckCounts(h.negative_counts, "negative");
  return reason;
}

// Integer histograms: the count covers the buckets exactly, or, when NaN was observed (sum NaN), at
// least (NaN observations are counted but in no bucket).
std::string CheckIntegerCount(const NativeHistogram& h, const DecodeState& state) {
  uint64_t total;
  if (state.integer_total_overflowed ||
      __builtin_add_overflow(state.integer_bucket_total, state.zero_count_int, &total)) {
    return "bucket counts add up to more than 2^64";
  }
  const bool matches = std::isnan(h.sum) ? state.count_int >= total : state.count_int == total;
  if (matches) return {};
  return "count " + std::to_string(state.count_int) + " does not match the bucket counts' total " +
         std::to_string(total);
}

std::string Validate(const NativeHistogram& h, const DecodeState& state) {
  if (!IsValidSchema(state.schema)) {
    return "schema " + std::to_string(state.schema) + " out of range (valid: -4..8 and -53)";
  }
  if (state.integer_fields && state.float_fields) return "mixes integer and float counts";
  if (!IsFiniteNonNegative(h.count)) return "count negative or not finite";
  if (!IsFiniteNonNegative(h.zero_count)) return "zero count negative or not finite";
  if (!IsFiniteNonNegative(h.zero_threshold)) return "zero threshold negative or not finite";
  std::string reason = CheckCustomValues(h);
  if (reason.empty()) reason = CheckBuckets(h);
  if (reason.empty() && state.integer_fields) reason = CheckIntegerCount(h, state);
  return reason;
}

// ---- Bucket lists ----------------------------------------------------------------------------------

struct Bucket {
  int64_t index;
  double count;
};
using Buckets = std::vector<Bucket>;  // sorted by index, indices unique

Buckets Expand(const std::vector<HistogramSpan>& spans, const std::vector<double>& counts) {
  Buckets out;
  out.reserve(counts.size());
  ForEachBucket(spans, counts, [&](int32_t index, double count) { out.push_back({index, count}); });
  return out;
}

// Writes the non-zero buckets back as spans and counts.
void Compact(const Buckets& buckets, std::vector<HistogramSpan>* spans, std::vector<double>* counts) {
  spans->clear();
  counts->clear();
  int64_t next = 0;  // the index after the last bucket written
  for (const Bucket& b : buckets) {
    if (!(b.count > 0)) continue;
    if (spans->empty() || b.index != next) {
      spans->push_back({static_cast<int32_t>(spans->empty() ? b.index : b.index - next), 0});
    }
    ++spans->back().length;
    counts->push_back(b.count);
    next = b.index + 1;
  }
}

// The bucket at `delta` schemas coarser that contains bucket `index`: the coarse bucket j covers the
// fine buckets (j-1)*2^delta + 1 .. j*2^delta.
int64_t ReduceIndex(int64_t index, int delta) { return ((index - 1) >> delta) + 1; }

Buckets Reduce(const Buckets& buckets, int delta) {
  if (delta == 0) return buckets;
  Buckets out;
  for (const Bucket& b : buckets) {
    const int64_t index = ReduceIndex(b.index, delta);
    if (!out.empty() && out.back().index == index) {
      out.back().count += b.count;
    } else {
      out.push_back({index, b.count});
    }
  }
  return out;
}

// Per index: max(0, a - b), over the union of indices.
Buckets Difference(const Buckets& a, const Buckets& b) {
  Buckets out;
  size_t i = 0, j = 0;
  while (i < a.size() || j < b.size()) {
    if (j == b.size() || (i < a.size() && a[i].index < b[j].index)) {
      out.push_back(a[i++]);
    } else if (i == a.size() || b[j].index < a[i].index) {
      ++j;  // only in b: the difference would be negative
    } else {
      out.push_back({a[i].index, std::max(0.0, a[i].count - b[j].count)});
      ++i, ++j;
    }
  }
  return out;
}

// Whether some bucket of `previous` holds more than the same bucket of `current` (absent: 0).
bool AnyDecrease(const Buckets& previous, const Buckets& current) {
  size_t j = 0;
  for (const Bucket& p : previous) {
    while (j < current.size() && current[j].index < p.index) ++j;
    const double now = j < current.size() && current[j].index == p.index ? current[j].count : 0;
    if (now < p.count) return true;
  }
  return false;
}

// A histogram's buckets at a coarser (or equal) schema and a larger (or equal) zero threshold.
struct AlignedBuckets {
  Buckets positive, negative;
  double zero_count = 0;
  bool threshold_splits_bucket = false;  // a populated bucket straddles the new zero threshold
};

// Moves the buckets lying within [-threshold, threshold] into the zero count.
void FoldIntoZeroBucket(Buckets* buckets, int32_t schema, double threshold, AlignedBuckets* aligned) {
  size_t kept = 0;
  for (const Bucket& b : *buckets) {
    if (ExponentialBound(schema, b.index) <= threshold) {
      aligned->zero_count += b.count;
      continue;
    }
    if (b.count > 0 && ExponentialBound(schema, b.index - 1) < threshold) aligned->threshold_splits_bucket = true;
    (*buckets)[kept++] = b;
  }
  buckets->resize(kept);
}

AlignedBuckets Align(const NativeHistogram& h, int32_t schema, double zero_threshold) {
  AlignedBuckets aligned;
  const int delta = h.schema - schema;
  aligned.positive = Reduce(Expand(h.positive_spans, h.positive_counts), delta);
  aligned.negative = Reduce(Expand(h.negative_spans, h.negative_counts), delta);
  aligned.zero_count = h.zero_count;
  if (zero_threshold > h.zero_threshold) {
    FoldIntoZeroBucket(&aligned.positive, schema, zero_threshold, &aligned);
    FoldIntoZeroBucket(&aligned.negative, schema, zero_threshold, &aligned);
  }
  return aligned;
}

bool SameCustomBounds(const NativeHistogram& a, const NativeHistogram& b) {
  return a.IsCustomBuckets() && b.IsCustomBuckets() && a.custom_values == b.custom_values;
}

// ---- Distribution --------------------------------------------------------------------------------

double Total(const std::vector<double>& counts) {
  double total = 0;
  for (double c : counts) total += c;
  return total;
}

int64_t RoundCount(double v) {
  if (!(v > 0)) return 0;
  if (!(v < 9.2e18)) return std::numeric_limits<int64_t>::max();
  return std::llround(v);
}

double GeometricMidpoint(int32_t schema, int64_t index) { return ExponentialBound(schema + 1, 2 * index - 1); }

// Whether bucket `index` has a lower bound above 0 (far below 2^-1074 bounds underflow to 0).
bool LowerBoundIsPositive(int32_t schema, int64_t index) {
  const double log2_bound = std::ldexp(static_cast<double>(index - 1), -schema);
  return log2_bound > -1070 || ExponentialBound(schema, index - 1) > 0;
}

struct IndexRange {
  int64_t min = std::numeric_limits<int64_t>::max();
  int64_t max = std::numeric_limits<int64_t>::min();
  bool empty() const { return min > max; }
  void Add(int64_t index) {
    min = std::min(min, index);
    max = std::max(max, index);
  }
};

// The highest schema, down to -4, at which the populated positive buckets fit in max_buckets.
int32_t LayoutSchema(const NativeHistogram& h, int32_t max_buckets) {
  IndexRange populated;
  ForEachBucket(h.positive_spans, h.positive_counts, [&](int32_t index, double count) {
    if (count > 0) populated.Add(index);
  });
  int32_t schema = h.schema;
  if (max_buckets <= 0 || populated.empty()) return schema;
  for (; schema > kMinExponentialSchema; --schema) {
    const int delta = h.schema - schema;
    const int64_t finite = ReduceIndex(populated.max, delta) - ReduceIndex(populated.min, delta) + 1;
    if (finite + 2 <= max_buckets) break;
  }
  return schema;
}

// Exponential layout at `schema`; *counts gets the (unrounded) count of each GCM bucket.
void FillExponential(const NativeHistogram& h, int32_t schema, DistributionValue* d, std::vector<double>* counts) {
  const int delta = h.schema - schema;
  IndexRange range;
  ForEachBucket(h.positive_spans, h.positive_counts, [&](int32_t index, double count) {
    const int64_t reduced = ReduceIndex(index, delta);
    if (count > 0 && LowerBoundIsPositive(schema, reduced)) range.Add(reduced);
  });
  d->layout = BucketLayout::kExponential;
  d->schema = schema;
  d->growth_factor = ExponentialBound(schema, 1);
  const double underflow = h.zero_count + Total(h.negative_counts);
  if (range.empty()) {
    d->num_finite_buckets = 1;
    d->scale = h.zero_threshold > 0 ? h.zero_threshold : 1;
    counts->assign(1, underflow + Total(h.positive_counts));
    return;
  }
  d->num_finite_buckets = static_cast<int32_t>(range.max - range.min + 1);
  d->scale = ExponentialBound(schema, range.min - 1);
  counts->assign(static_cast<size_t>(d->num_finite_buckets) + 1, 0.0);
  (*counts)[0] = underflow;
  ForEachBucket(h.positive_spans, h.positive_counts, [&](int32_t index, double count) {
    if (!(count > 0)) return;
    const int64_t reduced = ReduceIndex(index, delta);
    (*counts)[reduced < range.min ? 0 : static_cast<size_t>(reduced - range.min + 1)] += count;
  });
}

// Explicit layout: custom bucket i is GCM bucket i.
void FillExplicit(const NativeHistogram& h, DistributionValue* d, std::vector<double>* counts) {
  d->layout = BucketLayout::kExplicit;
  d->schema = kCustomBucketsSchema;
  d->bounds = h.custom_values;
  counts->assign(h.custom_values.size() + 1, 0.0);
  ForEachBucket(h.positive_spans, h.positive_counts,
                [&](int32_t index, double count) { (*counts)[static_cast<size_t>(index)] += count; });
}

// Rounds the cumulative counts, so the rounded buckets add up to the rounded total; trims trailing
// zero buckets. Returns the total.
int64_t RoundCounts(const std::vector<double>& counts, std::vector<int64_t>* out) {
  out->clear();
  out->reserve(counts.size());
  double cumulative = 0;
  int64_t previous = 0;
  for (double c : counts) {
    cumulative += c;
    const int64_t rounded = RoundCount(cumulative);
    out->push_back(rounded - previous);
    previous = rounded;
  }
  while (!out->empty() && out->back() == 0) out->pop_back();
  return previous;
}

// Calls fn(point, count) for each bucket with its representative point (see the header).
template <typename Fn>
void ForEachRepresentative(const NativeHistogram& h, Fn&& fn) {
  if (h.IsCustomBuckets()) {
    const std::vector<double>& bounds = h.custom_values;
    ForEachBucket(h.positive_spans, h.positive_counts, [&](int32_t index, double count) {
      const size_t i = static_cast<size_t>(index);
      const double point = i == 0               ? bounds.front()
                           : i == bounds.size() ? bounds.back()
                                                : bounds[i - 1] / 2 + bounds[i] / 2;
      fn(point, count);
    });
    return;
  }
  fn(0.0, h.zero_count);
  ForEachBucket(h.positive_spans, h.positive_counts,
                [&](int32_t index, double count) { fn(GeometricMidpoint(h.schema, index), count); });
  ForEachBucket(h.negative_spans, h.negative_counts,
                [&](int32_t index, double count) { fn(-GeometricMidpoint(h.schema, index), count); });
}

double EstimatedMean(const NativeHistogram& h) {
  double weighted = 0, total = 0;
  ForEachRepresentative(h, [&](double point, double count) {
    if (count > 0) {
      weighted += point * count;
      total += count;
    }
  });
  const double mean = total > 0 ? weighted / total : 0;
  return std::isfinite(mean) ? mean : 0;
}

void SetMoments(const NativeHistogram& h, DistributionValue* d) {
  d->mean = d->sum_of_squared_deviation = 0;
  if (d->count == 0) return;
  double mean = h.sum / h.count;
  if (!std::isfinite(mean)) mean = EstimatedMean(h);
  double squared_deviation = 0;
  ForEachRepresentative(h, [&](double point, double count) {
    if (count > 0) squared_deviation += count * (point - mean) * (point - mean);
  });
  d->mean = mean;
  d->sum_of_squared_deviation =
      std::isfinite(squared_deviation) ? squared_deviation : std::numeric_limits<double>::max();
}

// ---- Encoding ------------------------------------------------------------------------------------

constexpr uint32_t kVarintType = 0, kLengthDelimitedType = 2;

size_t LengthDelimitedSize(uint32_t field, size_t payload) {
  return VarintSize(static_cast<uint64_t>(field) << 3) + VarintSize(payload) + payload;
}

// Exponential{num_finite_buckets = 1, growth_factor = 2, scale = 3}.
size_t ExponentialSize(const DistributionValue& d) {
  return 1 + VarintSize(static_cast<uint64_t>(static_cast<int64_t>(d.num_finite_buckets))) + 9 + 9;
}

// Explicit{bounds = 1, packed}.
size_t ExplicitSize(const DistributionValue& d) {
  return d.bounds.empty() ? 0 : LengthDelimitedSize(1, 8 * d.bounds.size());
}

// BucketOptions{exponential_buckets = 2 | explicit_buckets = 3}.
size_t BucketOptionsSize(const DistributionValue& d) {
  return d.layout == BucketLayout::kExponential ? LengthDelimitedSize(2, ExponentialSize(d))
                                                : LengthDelimitedSize(3, ExplicitSize(d));
}

size_t PackedCountsSize(const DistributionValue& d) {
  size_t size = 0;
  for (int64_t c : d.bucket_counts) size += VarintSize(static_cast<uint64_t>(c));
  return size;
}

// Distribution{count = 1, mean = 2, sum_of_squared_deviation = 3, bucket_options = 6,
// bucket_counts = 7 (packed)}.
size_t DistributionSize(const DistributionValue& d) {
  size_t size = 0;
  if (d.count != 0) size += 1 + VarintSize(static_cast<uint64_t>(d.count));
  if (d.mean != 0) size += 9;
  if (d.sum_of_squared_deviation != 0) size += 9;
  size += LengthDelimitedSize(6, BucketOptionsSize(d));
  if (!d.bucket_counts.empty()) size += LengthDelimitedSize(7, PackedCountsSize(d));
  size += d.encoded_exemplars.size();
  return size;
}

void AppendBucketOptions(std::string* out, const DistributionValue& d) {
  AppendTag(out, 6, kLengthDelimitedType);
  AppendVarint(out, BucketOptionsSize(d));
  if (d.layout == BucketLayout::kExponential) {
    AppendTag(out, 2, kLengthDelimitedType);
    AppendVarint(out, ExponentialSize(d));
    AppendTag(out, 1, kVarintType);
    AppendVarint(out, static_cast<uint64_t>(static_cast<int64_t>(d.num_finite_buckets)));
    AppendDouble(out, 2, d.growth_factor);
    AppendDouble(out, 3, d.scale);
    return;
  }
  AppendTag(out, 3, kLengthDelimitedType);
  AppendVarint(out, ExplicitSize(d));
  if (d.bounds.empty()) return;
  AppendTag(out, 1, kLengthDelimitedType);
  AppendVarint(out, 8 * d.bounds.size());
  for (double bound : d.bounds) {
    char bytes[8];
    std::memcpy(bytes, &bound, 8);
    out->append(bytes, 8);
  }
}

}  // namespace

double ExponentialBound(int32_t schema, int64_t index) {
  if (schema <= 0) {
    const int64_t width = int64_t{1} << -schema;  // each bucket spans 2^-schema powers of two
    return std::ldexp(1.0, ClampExponent(ClampExponent(index) * width));
  }
  const int64_t whole = index >> schema;  // floor(index / 2^schema)
  const int64_t fraction = index - (whole << schema);
  return std::ldexp(std::exp2(std::ldexp(static_cast<double>(fraction), -schema)), ClampExponent(whole));
}

bool DecodeNativeHistogram(std::string_view encoded, NativeHistogram* out, std::string* error) {
  Clear(out);
  DecodeState state;
  WireReader r(encoded);
  while (r.Next()) ReadField(r, out, &state);
  if (r.failed()) {
    *error = std::string("native histogram: ") + r.error();
    return false;
  }
  out->schema = static_cast<int32_t>(state.schema);
  out->float_counts = state.float_fields;
  if (!state.float_fields) out->count = static_cast<double>(state.count_int);
  const std::string reason = Validate(*out, state);
  if (!reason.empty()) {
    *error = "native histogram: " + reason;
    return false;
  }
  return true;
}

DistributionValue ToDistribution(const NativeHistogram& histogram, const DistributionOptions& options) {
  DistributionValue d;
  std::vector<double> counts;
  if (histogram.IsCustomBuckets()) {
    FillExplicit(histogram, &d, &counts);
  } else {
    FillExponential(histogram, LayoutSchema(histogram, options.max_buckets), &d, &counts);
  }
  d.count = RoundCounts(counts, &d.bucket_counts);
  d.negative_folded = RoundCount(Total(histogram.negative_counts));
  d.unbucketed = std::max<int64_t>(0, RoundCount(histogram.count) - d.count);
  SetMoments(histogram, &d);
  return d;
}

void AppendDistributionValue(std::string* out, const DistributionValue& d) {
  AppendTag(out, 5, kLengthDelimitedType);  // TypedValue.distribution_value
  AppendVarint(out, DistributionSize(d));
  if (d.count != 0) {
    AppendTag(out, 1, kVarintType);
    AppendVarint(out, static_cast<uint64_t>(d.count));
  }
  if (d.mean != 0) AppendDouble(out, 2, d.mean);
  if (d.sum_of_squared_deviation != 0) AppendDouble(out, 3, d.sum_of_squared_deviation);
  AppendBucketOptions(out, d);
  if (!d.bucket_counts.empty()) {
    AppendTag(out, 7, kLengthDelimitedType);
    AppendVarint(out, PackedCountsSize(d));
    for (int64_t c : d.bucket_counts) AppendVarint(out, static_cast<uint64_t>(c));
  }
  out->append(d.encoded_exemplars);
}

bool IsReset(const NativeHistogram& previous, const NativeHistogram& current) {
  if (current.reset_hint == HistogramResetHint::kGauge) return false;
  if (current.reset_hint == HistogramResetHint::kYes) return true;
  if (current.count < previous.count) return true;
  if (current.IsCustomBuckets() || previous.IsCustomBuckets()) {
    if (!SameCustomBounds(previous, current)) return true;
    return AnyDecrease(Expand(previous.positive_spans, previous.positive_counts),
                       Expand(current.positive_spans, current.positive_counts));
  }
  if (current.schema > previous.schema) return true;
  if (current.zero_threshold < previous.zero_threshold) return true;
  const AlignedBuckets before = Align(previous, current.schema, current.zero_threshold);
  if (before.threshold_splits_bucket) return true;
  if (current.zero_count < before.zero_count) return true;
  return AnyDecrease(before.positive, Expand(current.positive_spans, current.positive_counts)) ||
         AnyDecrease(before.negative, Expand(current.negative_spans, current.negative_counts));
}

NativeHistogram Subtract(const NativeHistogram& current, const NativeHistogram& baseline) {
  NativeHistogram out = current;
  if (current.IsCustomBuckets() || baseline.IsCustomBuckets()) {
    if (!SameCustomBounds(current, baseline)) return current;
    Compact(Difference(Expand(current.positive_spans, current.positive_counts),
                       Expand(baseline.positive_spans, baseline.positive_counts)),
            &out.positive_spans, &out.positive_counts);
  } else {
    const int32_t schema = std::min(current.schema, baseline.schema);
    const double zero_threshold = std::max(current.zero_threshold, baseline.zero_threshold);
    const AlignedBuckets now = Align(current, schema, zero_threshold);
    const AlignedBuckets before = Align(baseline, schema, zero_threshold);
    out.schema = schema;
    out.zero_threshold = zero_threshold;
    out.zero_count = std::max(0.0, now.zero_count - before.zero_count);
    Compact(Difference(now.positive, before.positive), &out.positive_spans, &out.positive_counts);
    Compact(Difference(now.negative, before.negative), &out.negative_spans, &out.negative_counts);
  }
  out.count = std::max(0.0, current.count - baseline.count);
  out.sum = current.sum - baseline.sum;
  out.float_counts = current.float_counts || baseline.float_counts;
  return out;
}

NativeHistogram ReduceResolution(const NativeHistogram& histogram, int32_t target_schema) {
  if (histogram.IsCustomBuckets() || target_schema >= histogram.schema || target_schema < kMinExponentialSchema) {
    return histogram;
  }
  NativeHistogram out = histogram;
  const AlignedBuckets aligned = Align(histogram, target_schema, histogram.zero_threshold);
  out.schema = target_schema;
  Compact(aligned.positive, &out.positive_spans, &out.positive_counts);
  Compact(aligned.negative, &out.negative_spans, &out.negative_counts);
  return out;
}

}  // namespace prom2gcm
