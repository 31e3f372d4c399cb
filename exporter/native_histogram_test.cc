#include "exporter/native_histogram.h"

#include <gtest/gtest.h>
#include <snappy.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "google/monitoring/v3/common.pb.h"
#include "io/prometheus/write/v2/types.pb.h"
#include "prometheus/types.pb.h"
#include "server/testing/payloads.h"

namespace prom2gcm {
namespace {

namespace v2 = io::prometheus::write::v2;
using google::api::Distribution;
using google::monitoring::v3::TypedValue;
using BucketMap = std::map<int32_t, double>;  // bucket index -> absolute count

// ---- Building messages with the generated classes ------------------------------------------------

// A histogram to encode. Integer histograms get count_int = zero + positive + negative unless
// `count` is set; float ones count_float likewise.
struct Spec {
  int32_t schema = 0;
  bool integer = true;
  double zero_threshold = 0;
  double zero_count = 0;
  BucketMap positive, negative;
  double sum = 0;
  double count = -1;  // -1: the buckets' total
  std::vector<double> custom_values;
  v2::Histogram::ResetHint reset_hint = v2::Histogram::RESET_HINT_UNSPECIFIED;
};

// Writes buckets as spans; gaps of up to two buckets stay inside a span as zero counts (as
// Prometheus does), longer gaps start a new span.
template <typename AddSpan, typename AddCount>
void WriteBuckets(const BucketMap& buckets, AddSpan add_span, AddCount add_count) {
  v2::BucketSpan* span = nullptr;
  int32_t next = 0;
  for (const auto& [index, count] : buckets) {
    if (span == nullptr || index - next > 2) {
      const int32_t offset = span == nullptr ? index : index - next;
      span = add_span();
      span->set_offset(offset);
    } else {
      for (; next < index; ++next, span->set_length(span->length() + 1)) add_count(0.0);
    }
    span->set_length(span->length() + 1);
    add_count(count);
    next = index + 1;
  }
}

double Total(const BucketMap& buckets) {
  double total = 0;
  for (const auto& [index, count] : buckets) total += count;
  return total;
}

v2::Histogram ToMessage(const Spec& spec) {
  v2::Histogram m;
  const double count =
      spec.count >= 0 ? spec.count : spec.zero_count + Total(spec.positive) + Total(spec.negative);
  m.set_schema(spec.schema);
  m.set_sum(spec.sum);
  m.set_zero_threshold(spec.zero_threshold);
  m.set_reset_hint(spec.reset_hint);
  m.set_timestamp(1700000000000);
  for (double bound : spec.custom_values) m.add_custom_values(bound);
  if (spec.integer) {
    m.set_count_int(static_cast<uint64_t>(count));
    m.set_zero_count_int(static_cast<uint64_t>(spec.zero_count));
    int64_t previous = 0;
    WriteBuckets(spec.positive, [&] { return m.add_positive_spans(); }, [&](double c) {
      m.add_positive_deltas(static_cast<int64_t>(c) - previous);
      previous = static_cast<int64_t>(c);
    });
    previous = 0;
    WriteBuckets(spec.negative, [&] { return m.add_negative_spans(); }, [&](double c) {
      m.add_negative_deltas(static_cast<int64_t>(c) - previous);
      previous = static_cast<int64_t>(c);
    });
  } else {
    m.set_count_float(count);
    m.set_zero_count_float(spec.zero_count);
    WriteBuckets(spec.positive, [&] { return m.add_positive_spans(); }, [&](double c) { m.add_positive_counts(c); });
    WriteBuckets(spec.negative, [&] { return m.add_negative_spans(); }, [&](double c) { m.add_negative_counts(c); });
  }
  return m;
}

NativeHistogram Decode(const std::string& bytes) {
  NativeHistogram h;
  std::string error;
  EXPECT_TRUE(DecodeNativeHistogram(bytes, &h, &error)) << error;
  return h;
}

NativeHistogram Decode(const Spec& spec) { return Decode(ToMessage(spec).SerializeAsString()); }

BucketMap Buckets(const std::vector<HistogramSpan>& spans, const std::vector<double>& counts) {
  BucketMap out;
  ForEachBucket(spans, counts, [&](int32_t index, double count) {
    if (count != 0) out[index] = count;
  });
  return out;
}

// What AppendDistributionValue wrote, parsed with the generated classes.
Distribution EncodeAndParse(const DistributionValue& d) {
  std::string bytes;
  AppendDistributionValue(&bytes, d);
  TypedValue value;
  EXPECT_TRUE(value.ParseFromString(bytes));
  EXPECT_EQ(value.value_case(), TypedValue::kDistributionValue);
  return value.distribution_value();
}

std::vector<int64_t> PaddedCounts(const Distribution& d, size_t buckets) {
  std::vector<int64_t> counts(d.bucket_counts().begin(), d.bucket_counts().end());
  EXPECT_LE(counts.size(), buckets);
  counts.resize(buckets, 0);
  return counts;
}

// ---- Prometheus bucketing, computed independently of the code under test --------------------------

// base^index with base = 2^(2^-schema).
double PromBound(int32_t schema, double index) { return std::pow(2.0, std::ldexp(index, -schema)); }

// The bucket i with PromBound(i-1) < magnitude <= PromBound(i).
int32_t PromIndex(int32_t schema, double magnitude) {
  int32_t index = static_cast<int32_t>(std::ceil(std::log2(magnitude) * std::ldexp(1.0, schema)));
  while (PromBound(schema, index - 1) >= magnitude) --index;
  while (PromBound(schema, index) < magnitude) ++index;
  return index;
}

Spec FromObservations(int32_t schema, double zero_threshold, const std::vector<double>& values) {
  Spec spec;
  spec.schema = schema;
  spec.zero_threshold = zero_threshold;
  for (double v : values) {
    spec.sum += v;
    if (std::abs(v) <= zero_threshold) {
      ++spec.zero_count;
    } else {
      ++(v > 0 ? spec.positive : spec.negative)[PromIndex(schema, std::abs(v))];
    }
  }
  return spec;
}

// The GCM bucket of v under exponential options, by GCM's definition of the bounds.
int GcmBucket(const Distribution::BucketOptions::Exponential& e, double v) {
  if (v < e.scale()) return 0;
  for (int i = 1; i <= e.num_finite_buckets(); ++i) {
    if (v < e.scale() * std::pow(e.growth_factor(), i)) return i;
  }
  return e.num_finite_buckets() + 1;
}

// Observations at their bucket's representative point (geometric midpoint, 0 in the zero bucket),
// squared distance to the mean, summed.
double EstimatedSquaredDeviation(const Spec& spec, double mean) {
  double total = spec.zero_count * mean * mean;
  for (const auto& [index, count] : spec.positive) {
    total += count * std::pow(PromBound(spec.schema, index - 0.5) - mean, 2);
  }
  for (const auto& [index, count] : spec.negative) {
    total += count * std::pow(-PromBound(spec.schema, index - 0.5) - mean, 2);
  }
  return total;
}

// Checks the GCM layout of a histogram made of `values` at `schema`: bounds equal the Prometheus
// bounds, and each observation's GCM bucket (by GCM's rules) holds it.
void ExpectExactExponentialLayout(int32_t schema, double zero_threshold, const std::vector<double>& values) {
  SCOPED_TRACE("schema " + std::to_string(schema));
  const Spec spec = FromObservations(schema, zero_threshold, values);
  ASSERT_FALSE(spec.positive.empty());
  const DistributionValue d = ToDistribution(Decode(spec));
  const Distribution gcm = EncodeAndParse(d);
  ASSERT_TRUE(gcm.bucket_options().has_exponential_buckets());
  const Distribution::BucketOptions::Exponential& e = gcm.bucket_options().exponential_buckets();
  const int32_t min_index = spec.positive.begin()->first;
  const int32_t max_index = spec.positive.rbegin()->first;
  ASSERT_EQ(e.num_finite_buckets(), max_index - min_index + 1);
  EXPECT_EQ(d.schema, schema);
  EXPECT_NEAR(e.growth_factor() / PromBound(schema, 1), 1, 1e-15);
  // GCM bucket k (1..N+1) starts at scale * growth^(k-1): Prometheus bucket min+k-1's lower bound.
  for (int k = 1; k <= e.num_finite_buckets() + 1; ++k) {
    const double gcm_lower = e.scale() * std::pow(e.growth_factor(), k - 1);
    EXPECT_NEAR(gcm_lower / PromBound(schema, min_index + k - 2), 1, 1e-12) << "bucket " << k;
  }
  std::vector<int64_t> expected(e.num_finite_buckets() + 2, 0);
  for (double v : values) ++expected[GcmBucket(e, v)];
  EXPECT_EQ(PaddedCounts(gcm, expected.size()), expected);
  EXPECT_EQ(expected.back(), 0);  // nothing overflows
  EXPECT_EQ(gcm.count(), static_cast<int64_t>(values.size()));
  const double mean = spec.sum / values.size();
  EXPECT_NEAR(gcm.mean(), mean, 1e-12 * std::abs(mean));
  const double deviation = EstimatedSquaredDeviation(spec, mean);
  EXPECT_NEAR(gcm.sum_of_squared_deviation(), deviation, 1e-9 * deviation);
}

// ---- Exponential layouts --------------------------------------------------------------------------

TEST(NativeHistogramTest, SchemaZeroLayoutIsExact) {
  ExpectExactExponentialLayout(0, 0.001,
                               {0.0, 0.0005, -0.0002, 1.5, 3, 3.5, 5, 6, 7, 100, 150, 1000.5, -2.5, -40});
}

TEST(NativeHistogramTest, SchemaThreeLayoutIsExact) {
  ExpectExactExponentialLayout(3, 0, {0.0, 0.0123, 0.0125, 0.3, 0.55, 0.7, 1.2, 1.25, 9.0, 9.3, -0.3});
}

TEST(NativeHistogramTest, SchemaMinusTwoLayoutIsExact) {
  ExpectExactExponentialLayout(-2, 0, {0.3, 2, 20, 300, 5000, 70000, 70001, -7, 0});
}

TEST(NativeHistogramTest, MapsBucketIndexToGcmBucket) {
  Spec spec;
  spec.schema = 0;
  spec.positive = {{-2, 1}, {0, 4}, {3, 2}};
  const DistributionValue d = ToDistribution(Decode(spec));
  EXPECT_EQ(d.layout, BucketLayout::kExponential);
  EXPECT_EQ(d.num_finite_buckets, 6);  // indices -2..3
  EXPECT_EQ(d.scale, 0.125);           // 2^(-2-1)
  EXPECT_EQ(d.growth_factor, 2.0);
  EXPECT_EQ(d.bucket_counts, (std::vector<int64_t>{0, 1, 0, 4, 0, 0, 2}));
  EXPECT_EQ(d.count, 7);
}

// Accepted approximation: Prometheus buckets include their upper bound, GCM ones their lower bound.
// The count stays with its Prometheus bucket, whose GCM counterpart excludes the bound itself.
TEST(NativeHistogramTest, ObservationOnUpperBoundStaysInItsPrometheusBucket) {
  const Spec spec = FromObservations(0, 0, {4.0});
  ASSERT_EQ(spec.positive, (BucketMap{{2, 1}}));  // (2, 4]
  const DistributionValue d = ToDistribution(Decode(spec));
  EXPECT_EQ(d.scale, 2.0);
  EXPECT_EQ(d.num_finite_buckets, 1);
  EXPECT_EQ(d.bucket_counts, (std::vector<int64_t>{0, 1}));  // GCM bucket [2, 4)
}

TEST(NativeHistogramTest, ZeroBucketGoesToUnderflow) {
  Spec spec;
  spec.schema = 3;
  spec.zero_threshold = 0.001;
  spec.zero_count = 5;
  spec.positive = {{4, 2}};
  DistributionValue d = ToDistribution(Decode(spec));
  EXPECT_EQ(d.bucket_counts, (std::vector<int64_t>{5, 2}));
  EXPECT_EQ(d.negative_folded, 0);

  // Only the zero bucket: one finite bucket starting at the zero threshold.
  spec.positive.clear();
  d = ToDistribution(Decode(spec));
  EXPECT_EQ(d.num_finite_buckets, 1);
  EXPECT_EQ(d.scale, 0.001);
  EXPECT_EQ(d.growth_factor, PromBound(3, 1));
  EXPECT_EQ(d.bucket_counts, (std::vector<int64_t>{5}));
  EXPECT_EQ(d.count, 5);
  EXPECT_EQ(d.mean, 0);
  EXPECT_EQ(d.sum_of_squared_deviation, 0);

  // A zero threshold of 0: scale 1.
  spec.zero_threshold = 0;
  EXPECT_EQ(ToDistribution(Decode(spec)).scale, 1.0);
}

TEST(NativeHistogramTest, EmptyHistogram) {
  Spec spec;
  const DistributionValue d = ToDistribution(Decode(spec));
  EXPECT_EQ(d.count, 0);
  EXPECT_TRUE(d.bucket_counts.empty());
  EXPECT_EQ(d.mean, 0);
  const Distribution gcm = EncodeAndParse(d);
  EXPECT_EQ(gcm.count(), 0);
  EXPECT_EQ(gcm.bucket_options().exponential_buckets().num_finite_buckets(), 1);
  EXPECT_EQ(gcm.bucket_counts_size(), 0);
}

TEST(NativeHistogramTest, NegativeBucketsAreFoldedIntoUnderflow) {
  Spec spec;
  spec.schema = 0;
  spec.zero_threshold = 0.001;
  spec.zero_count = 1;
  spec.positive = {{1, 2}, {3, 1}};
  spec.negative = {{1, 3}, {4, 2}};
  spec.sum = 2 * 1.5 + 6 - 3 * 1.5 - 2 * 12;
  const DistributionValue d = ToDistribution(Decode(spec));
  EXPECT_EQ(d.bucket_counts, (std::vector<int64_t>{6, 2, 0, 1}));
  EXPECT_EQ(d.negative_folded, 5);
  EXPECT_EQ(d.count, 9);
  EXPECT_DOUBLE_EQ(d.mean, spec.sum / 9);
  // The estimate places negative observations at their own (negated) midpoints.
  EXPECT_NEAR(d.sum_of_squared_deviation, EstimatedSquaredDeviation(spec, spec.sum / 9), 1e-9);
}

TEST(NativeHistogramTest, ReducesResolutionToFitGcmBucketLimit) {
  Spec spec;
  spec.schema = 8;
  spec.positive = {{-300, 1}, {300, 1}};
  NativeHistogram h = Decode(spec);
  const DistributionValue unlimited = ToDistribution(h, {.max_buckets = 0});
  EXPECT_EQ(unlimited.schema, 8);
  EXPECT_EQ(unlimited.num_finite_buckets, 601);

  const DistributionValue d = ToDistribution(h);
  EXPECT_EQ(d.schema, 6);  // indices -75..75
  EXPECT_EQ(d.num_finite_buckets, 151);
  EXPECT_LE(d.num_finite_buckets + 2, kGcmMaxBuckets);
  EXPECT_EQ(d.count, 2);
  EXPECT_EQ(d.bucket_counts.front(), 0);
  EXPECT_EQ(d.bucket_counts[1], 1);
  EXPECT_EQ(d.bucket_counts.back(), 1);
  EXPECT_EQ(d.bucket_counts.size(), 152u);
  // The coarse first bucket contains the fine one.
  EXPECT_LE(d.scale, PromBound(8, -301));
  EXPECT_GE(d.scale * d.growth_factor, PromBound(8, -300) * (1 - 1e-15));
}

// ---- Custom buckets -------------------------------------------------------------------------------

TEST(NativeHistogramTest, CustomBucketsMapOneToOne) {
  Spec spec;
  spec.schema = kCustomBucketsSchema;
  spec.custom_values = {0.1, 0.5, 1, 5};
  // Observations 0.05 | 0.7 0.8 0.9 | 10: buckets 0 (-inf, 0.1], 2 (0.5, 1] and 4 (5, +inf).
  spec.positive = {{0, 1}, {2, 3}, {4, 1}};
  spec.sum = 0.05 + 0.7 + 0.8 + 0.9 + 10;
  const DistributionValue d = ToDistribution(Decode(spec));
  const Distribution gcm = EncodeAndParse(d);
  ASSERT_TRUE(gcm.bucket_options().has_explicit_buckets());
  const auto& bounds = gcm.bucket_options().explicit_buckets().bounds();
  EXPECT_EQ(std::vector<double>(bounds.begin(), bounds.end()), spec.custom_values);
  EXPECT_EQ(PaddedCounts(gcm, 5), (std::vector<int64_t>{1, 0, 3, 0, 1}));
  // By GCM's rule, explicit bucket i holds bounds[i-1] <= v < bounds[i]: each observation's bucket.
  std::vector<int64_t> expected(bounds.size() + 1, 0);
  for (double v : {0.05, 0.7, 0.8, 0.9, 10.0}) {
    ++expected[std::upper_bound(bounds.begin(), bounds.end(), v) - bounds.begin()];
  }
  EXPECT_EQ(PaddedCounts(gcm, 5), expected);
  EXPECT_EQ(gcm.count(), 5);
  const double mean = spec.sum / 5;
  EXPECT_DOUBLE_EQ(gcm.mean(), mean);
  // Midpoint 0.75 for (0.5, 1]; the open-ended buckets at their finite bound.
  const double deviation = std::pow(0.1 - mean, 2) + 3 * std::pow(0.75 - mean, 2) + std::pow(5 - mean, 2);
  EXPECT_NEAR(gcm.sum_of_squared_deviation(), deviation, 1e-12 * deviation);
}

TEST(NativeHistogramTest, CustomBucketsTrimTrailingZeros) {
  Spec spec;
  spec.schema = kCustomBucketsSchema;
  spec.custom_values = {1, 2, 3};
  spec.positive = {{0, 1}, {1, 1}};
  const DistributionValue d = ToDistribution(Decode(spec));
  EXPECT_EQ(d.bucket_counts, (std::vector<int64_t>{1, 1}));
  EXPECT_EQ(d.bounds, spec.custom_values);
  EXPECT_EQ(d.schema, kCustomBucketsSchema);
}

// ---- Float histograms -----------------------------------------------------------------------------

TEST(NativeHistogramTest, FloatCountsAreRoundedCumulatively) {
  Spec spec;
  spec.integer = false;
  spec.schema = 0;
  spec.positive = {{1, 0.4}, {2, 0.4}, {3, 0.4}};
  spec.sum = 2.4;
  const NativeHistogram h = Decode(spec);
  EXPECT_TRUE(h.float_counts);
  EXPECT_DOUBLE_EQ(h.count, 1.2);
  const DistributionValue d = ToDistribution(h);
  // Cumulative 0.4, 0.8, 1.2 round to 0, 1, 1.
  EXPECT_EQ(d.bucket_counts, (std::vector<int64_t>{0, 0, 1}));
  EXPECT_EQ(d.count, 1);
  EXPECT_DOUBLE_EQ(d.mean, 2.4 / 1.2);  // the message's count
}

TEST(NativeHistogramTest, FloatCountsKeepTheirTotal) {
  Spec spec;
  spec.integer = false;
  spec.schema = 1;
  spec.zero_count = 0.5;
  spec.positive = {{-4, 1.5}, {-3, 2.25}, {0, 3.5}, {2, 1.75}};
  spec.negative = {{1, 0.25}};
  const DistributionValue d = ToDistribution(Decode(spec));
  int64_t total = 0;
  for (int64_t c : d.bucket_counts) {
    EXPECT_GE(c, 0);
    total += c;
  }
  EXPECT_EQ(total, d.count);
  EXPECT_EQ(d.count, std::llround(0.5 + 1.5 + 2.25 + 3.5 + 1.75 + 0.25));
  EXPECT_EQ(d.negative_folded, 0);  // 0.25 rounds to 0
}

// ---- Test data ------------------------------------------------------------------------------------

v2::Request ReadPayload(const std::string& file) {
  const std::string compressed = testing::ReadSourceFile("testdata/v2/" + file);
  std::string raw;
  EXPECT_TRUE(snappy::Uncompress(compressed.data(), compressed.size(), &raw));
  v2::Request request;
  EXPECT_TRUE(request.ParseFromString(raw));
  return request;
}

// Absolute counts from a message's spans and deltas or counts.
BucketMap MessageBuckets(const google::protobuf::RepeatedPtrField<v2::BucketSpan>& spans,
                         const google::protobuf::RepeatedField<int64_t>& deltas,
                         const google::protobuf::RepeatedField<double>& counts) {
  BucketMap out;
  int64_t index = 0, absolute = 0;
  int position = 0;
  for (const v2::BucketSpan& span : spans) {
    index += span.offset();
    for (uint32_t k = 0; k < span.length(); ++k, ++index, ++position) {
      double count;
      if (!deltas.empty()) {
        absolute += deltas[position];
        count = static_cast<double>(absolute);
      } else {
        count = counts[position];
      }
      if (count != 0) out[static_cast<int32_t>(index)] = count;
    }
  }
  return out;
}

void ExpectDecodedAsMessage(const v2::Histogram& m) {
  const NativeHistogram h = Decode(m.SerializeAsString());
  const bool integer = m.count_case() == v2::Histogram::kCountInt;
  EXPECT_EQ(h.float_counts, !integer);
  const double count = integer ? static_cast<double>(m.count_int()) : m.count_float();
  const double zero_count = m.zero_count_case() == v2::Histogram::kZeroCountInt
                                ? static_cast<double>(m.zero_count_int())
                                : m.zero_count_float();
  EXPECT_EQ(h.count, count);
  EXPECT_EQ(h.zero_count, zero_count);
  EXPECT_EQ(h.schema, m.schema());
  EXPECT_EQ(h.zero_threshold, m.zero_threshold());
  EXPECT_EQ(h.sum, m.sum());
  EXPECT_EQ(static_cast<int>(h.reset_hint), static_cast<int>(m.reset_hint()));
  EXPECT_EQ(h.timestamp_ms, m.timestamp());
  EXPECT_EQ(h.start_timestamp_ms, m.start_timestamp());
  EXPECT_EQ(h.custom_values, std::vector<double>(m.custom_values().begin(), m.custom_values().end()));
  const BucketMap positive = MessageBuckets(m.positive_spans(), m.positive_deltas(), m.positive_counts());
  const BucketMap negative = MessageBuckets(m.negative_spans(), m.negative_deltas(), m.negative_counts());
  EXPECT_EQ(Buckets(h.positive_spans, h.positive_counts), positive);
  EXPECT_EQ(Buckets(h.negative_spans, h.negative_counts), negative);
  EXPECT_EQ(zero_count + Total(positive) + Total(negative), count);

  const DistributionValue d = ToDistribution(h);
  int64_t total = 0;
  for (int64_t c : d.bucket_counts) total += c;
  EXPECT_EQ(d.count, total);
  EXPECT_EQ(d.count, std::llround(count));
  EXPECT_EQ(d.negative_folded, std::llround(Total(negative)));
  EXPECT_EQ(d.unbucketed, 0);
  if (integer && !h.IsCustomBuckets()) {
    // Underflow: zero bucket and negative buckets; the rest: the positive buckets.
    ASSERT_FALSE(count != 0 && d.bucket_counts.empty());
    const int64_t underflow = d.bucket_counts.empty() ? 0 : d.bucket_counts[0];
    if (positive.empty()) {
      EXPECT_EQ(underflow, d.count);
    } else {
      EXPECT_EQ(underflow, std::llround(zero_count + Total(negative)));
      EXPECT_EQ(d.count - underflow, std::llround(Total(positive)));
      EXPECT_NEAR(d.scale / PromBound(h.schema, positive.begin()->first - 1), 1, 1e-15);
    }
  }
  EXPECT_DOUBLE_EQ(d.mean, count > 0 ? m.sum() / count : 0);

  const Distribution gcm = EncodeAndParse(d);
  EXPECT_EQ(gcm.count(), d.count);
  EXPECT_EQ(gcm.mean(), d.mean);
  EXPECT_EQ(gcm.sum_of_squared_deviation(), d.sum_of_squared_deviation);
  EXPECT_EQ(std::vector<int64_t>(gcm.bucket_counts().begin(), gcm.bucket_counts().end()), d.bucket_counts);
  if (h.IsCustomBuckets()) {
    const auto& bounds = gcm.bucket_options().explicit_buckets().bounds();
    EXPECT_EQ(std::vector<double>(bounds.begin(), bounds.end()), h.custom_values);
  } else {
    const auto& e = gcm.bucket_options().exponential_buckets();
    EXPECT_EQ(e.num_finite_buckets(), d.num_finite_buckets);
    EXPECT_EQ(e.growth_factor(), d.growth_factor);
    EXPECT_EQ(e.scale(), d.scale);
  }
}

int ExpectPayloadDecoded(const std::string& file) {
  SCOPED_TRACE(file);
  const v2::Request request = ReadPayload(file);
  int histograms = 0;
  for (const v2::TimeSeries& series : request.timeseries()) {
    for (const v2::Histogram& m : series.histograms()) {
      SCOPED_TRACE("histogram " + std::to_string(histograms));
      ExpectDecodedAsMessage(m);
      ++histograms;
    }
  }
  return histograms;
}

TEST(NativeHistogramTest, DecodesIntegerHistogramsOfTestdata) {
  EXPECT_EQ(ExpectPayloadDecoded("03_native_histograms_int.pb.snappy"), 11);
}

TEST(NativeHistogramTest, DecodesFloatHistogramsOfTestdata) {
  EXPECT_EQ(ExpectPayloadDecoded("04_native_histograms_float.pb.snappy"), 9);
}

TEST(NativeHistogramTest, DecodesCustomBucketHistogramsOfTestdata) {
  EXPECT_EQ(ExpectPayloadDecoded("05_native_histograms_nhcb.pb.snappy"), 6);
}

// The other payloads' histograms (exemplars, the legacy created timestamp, a stale histogram whose sum
// is the staleness NaN) decode and convert consistently too.
TEST(NativeHistogramTest, DecodesOtherHistogramsOfTestdata) {
  int histograms = 0;
  for (const char* file : {"06_exemplars.pb.snappy", "07_created_timestamp_legacy.pb.snappy",
                           "08_mixed_stale.pb.snappy"}) {
    const v2::Request request = ReadPayload(file);
    for (const v2::TimeSeries& series : request.timeseries()) {
      for (const v2::Histogram& m : series.histograms()) {
        const DistributionValue d = ToDistribution(Decode(m.SerializeAsString()));
        EXPECT_EQ(d.count, static_cast<int64_t>(m.count_int())) << file;
        EXPECT_TRUE(std::isfinite(d.mean)) << file;
        ++histograms;
      }
    }
  }
  EXPECT_EQ(histograms, 5);
}

TEST(NativeHistogramTest, SingleCustomBoundOfTestdata) {
  const v2::Request request = ReadPayload("05_native_histograms_nhcb.pb.snappy");
  const v2::Histogram& m = request.timeseries(request.timeseries_size() - 1).histograms(0);
  const DistributionValue d = ToDistribution(Decode(m.SerializeAsString()));
  EXPECT_EQ(d.bounds, std::vector<double>{0.0});
  EXPECT_EQ(d.bucket_counts, (std::vector<int64_t>{3, 4}));
  EXPECT_DOUBLE_EQ(d.mean, 12.5 / 7);
}

TEST(NativeHistogramTest, DecodesRemoteWrite1Histograms) {
  ::prometheus::prompb::Histogram m;
  m.set_count_int(3);
  m.set_sum(4.5);
  m.set_schema(0);
  m.set_zero_count_int(1);
  m.set_zero_threshold(0.001);
  ::prometheus::prompb::BucketSpan* span = m.add_positive_spans();
  span->set_offset(1);
  span->set_length(2);
  m.add_positive_deltas(1);
  m.add_positive_deltas(0);
  m.set_reset_hint(::prometheus::prompb::Histogram::NO);
  m.set_timestamp(1234);
  const NativeHistogram h = Decode(m.SerializeAsString());
  EXPECT_EQ(h.count, 3);
  EXPECT_EQ(Buckets(h.positive_spans, h.positive_counts), (BucketMap{{1, 1}, {2, 1}}));
  EXPECT_EQ(h.reset_hint, HistogramResetHint::kNo);
  EXPECT_EQ(h.timestamp_ms, 1234);
  EXPECT_EQ(ToDistribution(h).bucket_counts, (std::vector<int64_t>{1, 1, 1}));
}

// ---- Encoding ---------------------------------------------------------------------------------------

TEST(NativeHistogramTest, AppendsAfterExistingBytes) {
  Spec spec;
  spec.positive = {{1, 2}};
  spec.sum = 3;
  const DistributionValue d = ToDistribution(Decode(spec));
  std::string bytes = "prefix";
  AppendDistributionValue(&bytes, d);
  ASSERT_EQ(bytes.substr(0, 6), "prefix");
  TypedValue value;
  ASSERT_TRUE(value.ParseFromString(bytes.substr(6)));
  EXPECT_EQ(value.distribution_value().count(), 2);
  EXPECT_EQ(value.distribution_value().mean(), 1.5);
  // A reference encoding by the generated classes is byte-identical.
  TypedValue reference;
  Distribution* gcm = reference.mutable_distribution_value();
  gcm->set_count(2);
  gcm->set_mean(1.5);
  gcm->set_sum_of_squared_deviation(d.sum_of_squared_deviation);
  auto* e = gcm->mutable_bucket_options()->mutable_exponential_buckets();
  e->set_num_finite_buckets(1);
  e->set_growth_factor(2);
  e->set_scale(1);
  gcm->add_bucket_counts(0);
  gcm->add_bucket_counts(2);
  EXPECT_EQ(bytes.substr(6), reference.SerializeAsString());
}

// ---- Counter resets ---------------------------------------------------------------------------------

Spec CounterSpec(BucketMap positive, double zero_count = 1) {
  Spec spec;
  spec.schema = 0;
  spec.zero_threshold = 0.001;
  spec.zero_count = zero_count;
  spec.positive = std::move(positive);
  return spec;
}

TEST(NativeHistogramTest, GrowthIsNoReset) {
  const NativeHistogram before = Decode(CounterSpec({{1, 2}, {2, 3}}));
  EXPECT_FALSE(IsReset(before, Decode(CounterSpec({{1, 2}, {2, 4}, {5, 1}}, 2))));
  EXPECT_FALSE(IsReset(before, before));
}

TEST(NativeHistogramTest, ResetHints) {
  const NativeHistogram before = Decode(CounterSpec({{1, 2}, {2, 3}}));
  Spec grown = CounterSpec({{1, 3}, {2, 3}});
  grown.reset_hint = v2::Histogram::RESET_HINT_YES;
  EXPECT_TRUE(IsReset(before, Decode(grown)));

  Spec dropped = CounterSpec({{1, 1}}, 0);
  dropped.reset_hint = v2::Histogram::RESET_HINT_GAUGE;
  EXPECT_FALSE(IsReset(before, Decode(dropped)));
  // NO does not hide a decrease.
  dropped.reset_hint = v2::Histogram::RESET_HINT_NO;
  EXPECT_TRUE(IsReset(before, Decode(dropped)));
}

TEST(NativeHistogramTest, DecreasesAreResets) {
  const NativeHistogram before = Decode(CounterSpec({{1, 2}, {2, 3}}));
  EXPECT_TRUE(IsReset(before, Decode(CounterSpec({{1, 2}, {2, 2}}))));           // count
  EXPECT_TRUE(IsReset(before, Decode(CounterSpec({{1, 1}, {2, 5}}))));           // one bucket
  EXPECT_TRUE(IsReset(before, Decode(CounterSpec({{2, 3}, {3, 3}}))));           // a bucket vanished
  EXPECT_TRUE(IsReset(before, Decode(CounterSpec({{1, 2}, {2, 3}, {3, 2}}, 0))));  // zero bucket
}

TEST(NativeHistogramTest, SchemaChangesAndResets) {
  Spec fine = CounterSpec({{1, 1}, {2, 1}, {3, 1}});
  fine.schema = 1;
  const NativeHistogram before = Decode(fine);
  // Coarser: compared after merging (1, 2 -> 1; 3 -> 2).
  EXPECT_FALSE(IsReset(before, Decode(CounterSpec({{1, 2}, {2, 1}}))));
  EXPECT_TRUE(IsReset(before, Decode(CounterSpec({{1, 1}, {2, 2}}))));
  // Finer: a new histogram.
  Spec finer = fine;
  finer.schema = 2;
  EXPECT_TRUE(IsReset(before, Decode(finer)));
}

TEST(NativeHistogramTest, ZeroThresholdChangesAndResets) {
  const NativeHistogram before = Decode(CounterSpec({{-3, 2}, {1, 1}}));  // -3: (1/16, 1/8]
  Spec wider = CounterSpec({{1, 1}}, 3);
  wider.zero_threshold = 0.125;  // takes in bucket -3
  EXPECT_FALSE(IsReset(before, Decode(wider)));
  wider.zero_threshold = 0.1;  // inside bucket -3
  EXPECT_TRUE(IsReset(before, Decode(wider)));
  Spec narrower = CounterSpec({{-3, 2}, {1, 1}}, 1);
  narrower.zero_threshold = 0.0001;
  EXPECT_TRUE(IsReset(before, Decode(narrower)));
}

TEST(NativeHistogramTest, CustomBoundChangesAreResets) {
  Spec custom;
  custom.schema = kCustomBucketsSchema;
  custom.custom_values = {1, 2};
  custom.positive = {{0, 1}, {2, 1}};
  const NativeHistogram before = Decode(custom);
  Spec grown = custom;
  grown.positive = {{0, 2}, {2, 1}};
  EXPECT_FALSE(IsReset(before, Decode(grown)));
  grown.custom_values = {1, 3};
  EXPECT_TRUE(IsReset(before, Decode(grown)));
  EXPECT_TRUE(IsReset(before, Decode(CounterSpec({{0, 5}}))));
  EXPECT_TRUE(IsReset(Decode(CounterSpec({{0, 1}})), before));
}

// ---- Subtract and resolution ------------------------------------------------------------------------

TEST(NativeHistogramTest, SubtractSameSchema) {
  Spec before = CounterSpec({{1, 2}, {2, 3}, {5, 1}}, 1);
  before.sum = 10;
  Spec after = CounterSpec({{1, 2}, {2, 7}, {3, 1}, {5, 1}}, 3);
  after.sum = 25;
  const NativeHistogram delta = Subtract(Decode(after), Decode(before));
  EXPECT_EQ(delta.schema, 0);
  EXPECT_EQ(delta.count, 7);
  EXPECT_EQ(delta.sum, 15);
  EXPECT_EQ(delta.zero_count, 2);
  EXPECT_EQ(Buckets(delta.positive_spans, delta.positive_counts), (BucketMap{{2, 4}, {3, 1}}));
  ASSERT_EQ(delta.positive_spans.size(), 1u);  // only the non-zero buckets
  EXPECT_EQ(delta.positive_spans[0].offset, 2);
  EXPECT_EQ(delta.positive_spans[0].length, 2u);
  EXPECT_EQ(ToDistribution(delta).bucket_counts, (std::vector<int64_t>{2, 4, 1}));
}

TEST(NativeHistogramTest, SubtractReducesTheFinerBaseline) {
  Spec before = CounterSpec({{1, 1}, {2, 1}, {3, 2}, {4, 0}}, 0);
  before.schema = 1;
  const NativeHistogram after = Decode(CounterSpec({{1, 5}, {2, 4}}, 0));
  const NativeHistogram delta = Subtract(after, Decode(before));
  EXPECT_EQ(delta.schema, 0);
  EXPECT_EQ(Buckets(delta.positive_spans, delta.positive_counts), (BucketMap{{1, 3}, {2, 2}}));
  EXPECT_EQ(delta.count, 5);
}

TEST(NativeHistogramTest, SubtractReducesTheFinerCurrent) {
  Spec after = CounterSpec({}, 0);
  after.schema = 2;
  for (int32_t i = 1; i <= 8; ++i) after.positive[i] = 1;
  const NativeHistogram delta = Subtract(Decode(after), Decode(CounterSpec({{1, 2}, {2, 1}}, 0)));
  EXPECT_EQ(delta.schema, 0);
  EXPECT_EQ(Buckets(delta.positive_spans, delta.positive_counts), (BucketMap{{1, 2}, {2, 3}}));
}

TEST(NativeHistogramTest, SubtractFoldsBucketsIntoAWiderZeroBucket) {
  const NativeHistogram before = Decode(CounterSpec({{-3, 2}, {1, 1}}, 1));
  Spec after = CounterSpec({{1, 3}}, 4);
  after.zero_threshold = 0.125;
  const NativeHistogram delta = Subtract(Decode(after), before);
  EXPECT_EQ(delta.zero_threshold, 0.125);
  EXPECT_EQ(delta.zero_count, 1);  // 4 - (1 + 2)
  EXPECT_EQ(Buckets(delta.positive_spans, delta.positive_counts), (BucketMap{{1, 2}}));
}

TEST(NativeHistogramTest, SubtractCustomBuckets) {
  Spec before;
  before.schema = kCustomBucketsSchema;
  before.custom_values = {1, 2};
  before.positive = {{0, 1}, {2, 1}};
  Spec after = before;
  after.positive = {{0, 3}, {1, 1}, {2, 1}};
  NativeHistogram delta = Subtract(Decode(after), Decode(before));
  EXPECT_EQ(Buckets(delta.positive_spans, delta.positive_counts), (BucketMap{{0, 2}, {1, 1}}));
  EXPECT_EQ(delta.count, 3);
  EXPECT_EQ(ToDistribution(delta).bucket_counts, (std::vector<int64_t>{2, 1}));
  // Different bounds: incompatible, current unchanged.
  after.custom_values = {1, 5};
  delta = Subtract(Decode(after), Decode(before));
  EXPECT_EQ(delta.count, 5);
}

// Merging must put every fine bucket into the coarse bucket containing it.
TEST(NativeHistogramTest, ReduceResolutionMergesContainingBuckets) {
  for (const auto& [from, to] : {std::pair{3, 0}, std::pair{2, -1}, std::pair{0, -4}, std::pair{8, 5}}) {
    SCOPED_TRACE(std::to_string(from) + " -> " + std::to_string(to));
    Spec spec;
    spec.schema = from;
    BucketMap expected_positive, expected_negative;
    for (int32_t i = -20; i <= 20; ++i) {
      spec.positive[i] = 100 + i;
      spec.negative[i] = 50 + i;
      // The coarse bucket j with PromBound(to, j-1) <= PromBound(from, i-1) and PromBound(from, i) <= PromBound(to, j).
      int32_t j = PromIndex(to, PromBound(from, i));
      EXPECT_LE(PromBound(to, j - 1), PromBound(from, i - 1) * (1 + 1e-12));
      expected_positive[j] += 100 + i;
      expected_negative[j] += 50 + i;
    }
    const NativeHistogram reduced = ReduceResolution(Decode(spec), to);
    EXPECT_EQ(reduced.schema, to);
    EXPECT_EQ(Buckets(reduced.positive_spans, reduced.positive_counts), expected_positive);
    EXPECT_EQ(Buckets(reduced.negative_spans, reduced.negative_counts), expected_negative);
    EXPECT_EQ(reduced.count, Total(spec.positive) + Total(spec.negative));
  }
}

TEST(NativeHistogramTest, ReduceResolutionLeavesOtherTargetsAlone) {
  Spec spec = CounterSpec({{1, 1}});
  const NativeHistogram h = Decode(spec);
  EXPECT_EQ(ReduceResolution(h, 0).schema, 0);
  EXPECT_EQ(ReduceResolution(h, 2).schema, 0);
  EXPECT_EQ(ReduceResolution(h, -5).schema, 0);
}

TEST(NativeHistogramTest, ExponentialBoundMatchesPow) {
  for (int32_t schema = -4; schema <= 8; ++schema) {
    for (int64_t index : {-1000, -17, -1, 0, 1, 5, 255, 256, 257, 1000}) {
      const double expected = PromBound(schema, static_cast<double>(index));
      if (expected == 0 || std::isinf(expected)) continue;
      EXPECT_NEAR(ExponentialBound(schema, index) / expected, 1, 1e-14) << schema << " " << index;
    }
  }
  EXPECT_EQ(ExponentialBound(0, 3), 8.0);
  EXPECT_EQ(ExponentialBound(-2, -1), 1.0 / 16);
  EXPECT_EQ(ExponentialBound(3, 16), 4.0);
}

// ---- Malformed input ----------------------------------------------------------------------------------

void ExpectRejected(const std::string& bytes, const std::string& reason_part) {
  NativeHistogram h;
  std::string error;
  EXPECT_FALSE(DecodeNativeHistogram(bytes, &h, &error)) << reason_part;
  EXPECT_EQ(error.rfind("native histogram: ", 0), 0u) << error;
  EXPECT_EQ(error.find('\n'), std::string::npos) << error;
  EXPECT_NE(error.find(reason_part), std::string::npos) << error;
}

void ExpectRejected(const v2::Histogram& m, const std::string& reason_part) {
  ExpectRejected(m.SerializeAsString(), reason_part);
}

TEST(NativeHistogramTest, RejectsMalformedWireFormat) {
  const std::string bytes = ToMessage(CounterSpec({{1, 2}})).SerializeAsString();
  ExpectRejected(bytes.substr(0, bytes.size() - 1), "truncated");
  std::string fixed_schema = "\x21";  // field 4 as fixed64
  fixed_schema.append(8, '\0');
  ExpectRejected(fixed_schema, "wrong wire type");
  ExpectRejected(std::string("\x6a\x03\x01\x02\x03", 5), "multiple of 8 bytes");  // field 13: 3 bytes of doubles
}

TEST(NativeHistogramTest, RejectsSchemaOutOfRange) {
  for (int32_t schema : {9, -5, -52, 100}) {
    v2::Histogram m = ToMessage(CounterSpec({}));
    m.set_schema(schema);
    ExpectRejected(m, "schema " + std::to_string(schema) + " out of range");
  }
}

TEST(NativeHistogramTest, RejectsSpansNotMatchingCounts) {
  v2::Histogram m = ToMessage(CounterSpec({{1, 2}, {2, 3}}));
  m.mutable_positive_spans(0)->set_length(3);
  ExpectRejected(m, "positive spans cover 3 buckets but 2 counts");
  m = ToMessage(CounterSpec({{1, 2}}));
  m.add_negative_deltas(1);
  m.set_count_int(4);
  ExpectRejected(m, "negative spans cover 0 buckets but 1 counts");
}

TEST(NativeHistogramTest, RejectsNegativeAndNonFiniteCounts) {
  v2::Histogram m = ToMessage(CounterSpec({{1, 2}, {2, 3}}));
  m.set_positive_deltas(1, -5);  // 2 then -3
  ExpectRejected(m, "negative bucket count");

  Spec spec = CounterSpec({{1, 2}});
  spec.integer = false;
  m = ToMessage(spec);
  m.set_positive_counts(0, -1);
  ExpectRejected(m, "positive bucket count negative");
  m.set_positive_counts(0, NAN);
  ExpectRejected(m, "positive bucket count negative or not finite");
  m = ToMessage(spec);
  m.set_count_float(NAN);
  ExpectRejected(m, "count negative or not finite");
  m = ToMessage(spec);
  m.set_zero_threshold(-1);
  ExpectRejected(m, "zero threshold");
}

TEST(NativeHistogramTest, RejectsMixedIntegerAndFloat) {
  v2::Histogram m = ToMessage(CounterSpec({{1, 2}}));
  m.add_positive_counts(1.0);
  ExpectRejected(m, "mixes integer and float");
}

TEST(NativeHistogramTest, RejectsBadSpans) {
  v2::Histogram m = ToMessage(CounterSpec({{1, 2}}, 0));
  m.mutable_positive_spans(0)->set_offset(5000);  // beyond any double's bucket at schema 0
  ExpectRejected(m, "bucket index out of range");
  m = ToMessage(CounterSpec({{1, 2}, {10, 1}}, 0));
  m.mutable_positive_spans(1)->set_offset(-3);
  ExpectRejected(m, "span 1 has a negative offset");
}

TEST(NativeHistogramTest, RejectsCountNotMatchingBuckets) {
  Spec spec = CounterSpec({{1, 2}});
  spec.count = 5;
  ExpectRejected(ToMessage(spec), "count 5 does not match the bucket counts' total 3");
  // NaN observed: counted, but in no bucket.
  spec.sum = NAN;
  const DistributionValue d = ToDistribution(Decode(spec));
  EXPECT_EQ(d.count, 3);
  EXPECT_EQ(d.unbucketed, 2);
  EXPECT_TRUE(std::isfinite(d.mean));
  spec.count = 2;
  ExpectRejected(ToMessage(spec), "does not match");
}

TEST(NativeHistogramTest, RejectsBadCustomBuckets) {
  Spec spec;
  spec.schema = kCustomBucketsSchema;
  spec.positive = {{0, 1}};
  ExpectRejected(ToMessage(spec), "without custom values");
  spec.custom_values = {1, 1};
  ExpectRejected(ToMessage(spec), "not strictly increasing");
  spec.custom_values = {1, INFINITY};
  ExpectRejected(ToMessage(spec), "not finite");
  spec.custom_values = {1, 2};
  spec.positive = {{3, 1}};  // only 0..2 exist
  ExpectRejected(ToMessage(spec), "bucket index out of range");
  spec.positive = {{0, 1}};
  spec.negative = {{0, 1}};
  ExpectRejected(ToMessage(spec), "negative buckets");
  spec.negative.clear();
  spec.zero_count = 1;
  ExpectRejected(ToMessage(spec), "zero bucket");
  Spec exponential = CounterSpec({{1, 1}});
  exponential.custom_values = {1};
  ExpectRejected(ToMessage(exponential), "custom values given with an exponential schema");
}

// Corrupted messages are either rejected or decode into histograms that convert consistently.
TEST(NativeHistogramTest, CorruptedMessagesNeverBreakTheConversion) {
  Spec exponential = FromObservations(3, 0.001, {0, 0.01, 0.3, 2, 2.5, 40, -1, -300});
  Spec custom;
  custom.schema = kCustomBucketsSchema;
  custom.custom_values = {0.1, 1, 10};
  custom.positive = {{0, 1}, {1, 2}, {3, 4}};
  Spec floats = exponential;
  floats.integer = false;
  std::mt19937 random(42);
  int decoded = 0;
  for (const Spec& spec : {exponential, custom, floats}) {
    const std::string valid = ToMessage(spec).SerializeAsString();
    for (int round = 0; round < 3000; ++round) {
      std::string bytes = valid;
      for (int flips = 1 + round % 3; flips > 0; --flips) {
        bytes[random() % bytes.size()] = static_cast<char>(random());
      }
      NativeHistogram h;
      std::string error;
      if (!DecodeNativeHistogram(bytes, &h, &error)) {
        EXPECT_FALSE(error.empty());
        continue;
      }
      ++decoded;
      const DistributionValue d = ToDistribution(h);
      int64_t total = 0;
      for (int64_t c : d.bucket_counts) {
        EXPECT_GE(c, 0);
        total += c;
      }
      EXPECT_EQ(total, d.count);
      EXPECT_LE(d.bucket_counts.size(), d.layout == BucketLayout::kExplicit ? d.bounds.size() + 1
                                                                            : size_t{kGcmMaxBuckets} - 1);
      EXPECT_FALSE(std::isnan(d.mean));
      EXPECT_FALSE(std::isnan(d.sum_of_squared_deviation));
      const NativeHistogram delta = Subtract(h, Decode(valid));
      EXPECT_GE(delta.count, 0);
      IsReset(Decode(valid), h);
    }
  }
  EXPECT_GT(decoded, 100);
}

}  // namespace
}  // namespace prom2gcm
