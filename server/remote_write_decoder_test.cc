#include "server/remote_write_decoder.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "server/series_labels.h"
#include "server/testing/payloads.h"

namespace prom2gcm {
namespace {

using testing::AddSeriesV1;
using testing::V2Builder;

DecodedRequest DecodeV1(const ::prometheus::prompb::WriteRequest& message, const char** error = nullptr,
                        const WriteLimits& limits = WriteLimits{}) {
  DecodedRequest request;
  request.body = message.SerializeAsString();
  const char* e = DecodeRemoteWriteV1(&request, limits);
  if (error) *error = e;
  else EXPECT_EQ(e, nullptr);
  return request;
}

DecodedRequest DecodeV2(const io::prometheus::write::v2::Request& message, const char** error = nullptr,
                        const WriteLimits& limits = WriteLimits{}) {
  DecodedRequest request;
  request.body = message.SerializeAsString();
  const char* e = DecodeRemoteWriteV2(&request, limits);
  if (error) *error = e;
  else EXPECT_EQ(e, nullptr);
  return request;
}

TEST(DecodeV1Test, SeriesLabelsSamplesAndHash) {
  ::prometheus::prompb::WriteRequest message;
  AddSeriesV1(&message, {{"__name__", "up"}, {"job", "node"}}, {{1000, 1}, {2000, 0.5}});
  AddSeriesV1(&message, {{"__name__", "load"}, {"job", "node"}}, {{1500, 3.25}});
  DecodedRequest r = DecodeV1(message);
  ASSERT_EQ(r.series.size(), 2u);
  EXPECT_EQ(r.rejected_series, 0u);
  const Series& up = r.series[0];
  ASSERT_EQ(r.LabelsOf(up).size(), 2u);
  EXPECT_EQ(r.LabelsOf(up)[0].name, "__name__");
  EXPECT_EQ(r.LabelsOf(up)[1].value, "node");
  EXPECT_EQ(r.LabelValue(up, "job"), "node");
  ASSERT_EQ(r.SamplesOf(up).size(), 2u);
  EXPECT_EQ(r.SamplesOf(up)[1].timestamp_ms, 2000);
  EXPECT_EQ(r.SamplesOf(up)[1].value, 0.5);
  EXPECT_EQ(r.SamplesOf(r.series[1])[0].value, 3.25);
  EXPECT_NE(up.hash, r.series[1].hash);
  // Views point into the request's own buffer: nothing was copied.
  EXPECT_GE(r.LabelsOf(up)[0].name.data(), r.body.data());
  EXPECT_LT(r.LabelsOf(up)[0].name.data(), r.body.data() + r.body.size());
}

TEST(DecodeV1Test, StaleMarkerKeepsItsBits) {
  ::prometheus::prompb::WriteRequest message;
  AddSeriesV1(&message, {{"__name__", "up"}}, {{1000, testing::StaleMarker()}, {2000, std::nan("")}});
  DecodedRequest r = DecodeV1(message);
  ASSERT_EQ(r.samples.size(), 2u);
  EXPECT_TRUE(IsStaleMarker(r.samples[0].value));
  EXPECT_TRUE(std::isnan(r.samples[1].value));
  EXPECT_FALSE(IsStaleMarker(r.samples[1].value));
}

TEST(DecodeV1Test, BadSeriesAreLeftOutAndCounted) {
  ::prometheus::prompb::WriteRequest message;
  AddSeriesV1(&message, {{"__name__", "a"}}, {{1, 1}});
  AddSeriesV1(&message, {{"job", "x"}, {"__name__", "b"}}, {{1, 2}});  // unsorted
  AddSeriesV1(&message, {{"job", "x"}}, {{1, 3}});                     // no name
  AddSeriesV1(&message, {{"__name__", "c"}}, {{1, 4}});
  DecodedRequest r = DecodeV1(message);
  ASSERT_EQ(r.series.size(), 2u);
  EXPECT_EQ(r.rejected_series, 2u);
  EXPECT_EQ(r.first_rejection, "labels not sorted by name");
  EXPECT_EQ(r.samples.size(), 2u);  // the rejected series' samples were taken back out
  EXPECT_EQ(r.SamplesOf(r.series[1])[0].value, 4);
  EXPECT_EQ(r.LabelValue(r.series[1], "__name__"), "c");
}

TEST(DecodeV1Test, ExemplarsHistogramsAndMetadata) {
  ::prometheus::prompb::WriteRequest message;
  auto* series = AddSeriesV1(&message, {{"__name__", "latency"}}, {});
  auto* exemplar = series->add_exemplars();
  exemplar->set_value(0.25);
  exemplar->set_timestamp(7);
  auto* label = exemplar->add_labels();
  label->set_name("trace_id");
  label->set_value("abc");
  auto* histogram = series->add_histograms();
  histogram->set_timestamp(9);
  histogram->set_count_int(3);
  auto* metadata = message.add_metadata();
  metadata->set_type(::prometheus::prompb::MetricMetadata::COUNTER);
  metadata->set_metric_family_name("http_requests");
  metadata->set_help("Requests.");
  metadata->set_unit("requests");
  DecodedRequest r = DecodeV1(message);
  ASSERT_EQ(r.series.size(), 1u);
  ASSERT_EQ(r.ExemplarsOf(r.series[0]).size(), 1u);
  const Exemplar& e = r.ExemplarsOf(r.series[0])[0];
  EXPECT_EQ(e.value, 0.25);
  EXPECT_EQ(e.timestamp_ms, 7);
  ASSERT_EQ(r.LabelsOf(e).size(), 1u);
  EXPECT_EQ(r.LabelsOf(e)[0].value, "abc");
  ASSERT_EQ(r.HistogramsOf(r.series[0]).size(), 1u);
  EXPECT_EQ(r.HistogramsOf(r.series[0])[0].timestamp_ms, 9);
  ::prometheus::prompb::Histogram reparsed;
  ASSERT_TRUE(reparsed.ParseFromString(std::string(r.HistogramsOf(r.series[0])[0].encoded)));
  EXPECT_EQ(reparsed.count_int(), 3u);
  ASSERT_EQ(r.metadata.size(), 1u);
  EXPECT_EQ(r.metadata[0].family_name, "http_requests");
  EXPECT_EQ(r.metadata[0].type, MetricType::kCounter);
  EXPECT_EQ(r.metadata[0].help, "Requests.");
  EXPECT_EQ(r.metadata[0].unit, "requests");
}

TEST(DecodeV1Test, MalformedProtobufFailsWholeRequest) {
  ::prometheus::prompb::WriteRequest message;
  AddSeriesV1(&message, {{"__name__", "up"}}, {{1, 1}});
  DecodedRequest r;
  r.body = message.SerializeAsString();
  r.body.resize(r.body.size() - 3);
  EXPECT_NE(DecodeRemoteWriteV1(&r), nullptr);

  DecodedRequest wrong_type;
  wrong_type.body = std::string{0x08, 0x01};  // timeseries as a varint
  EXPECT_NE(DecodeRemoteWriteV1(&wrong_type), nullptr);
}

TEST(DecodeV1Test, UnknownFieldsAreSkipped) {
  ::prometheus::prompb::WriteRequest message;
  AddSeriesV1(&message, {{"__name__", "up"}}, {{1, 1}});
  DecodedRequest r;
  r.body = message.SerializeAsString() + std::string{0x78, 0x05};  // field 15 varint
  EXPECT_EQ(DecodeRemoteWriteV1(&r), nullptr);
  EXPECT_EQ(r.series.size(), 1u);
}

TEST(DecodeV2Test, SymbolsMetadataAndStartTimestamps) {
  V2Builder b;
  auto* counter = b.AddSeries({{"__name__", "requests_total"}, {"job", "api"}}, {{2000, 10}});
  counter->mutable_samples(0)->set_start_timestamp(1000);
  counter->mutable_metadata()->set_type(io::prometheus::write::v2::Metadata::METRIC_TYPE_COUNTER);
  counter->mutable_metadata()->set_help_ref(b.Symbol("Requests served."));
  counter->mutable_metadata()->set_unit_ref(b.Symbol("requests"));
  auto* old = b.AddSeries({{"__name__", "old_total"}}, {{3000, 1}});
  old->set_created_timestamp(500);
  DecodedRequest r = DecodeV2(b.request());
  ASSERT_EQ(r.series.size(), 2u);
  const Series& s = r.series[0];
  EXPECT_EQ(s.type, MetricType::kCounter);
  EXPECT_EQ(s.help, "Requests served.");
  EXPECT_EQ(s.unit, "requests");
  EXPECT_EQ(r.LabelValue(s, "job"), "api");
  EXPECT_EQ(r.SamplesOf(s)[0].start_timestamp_ms, 1000);
  EXPECT_EQ(r.series[1].start_timestamp_ms, 500);
  EXPECT_EQ(r.series[1].type, MetricType::kUnspecified);
}

TEST(DecodeV2Test, HashMatchesTheSameSeriesInV1) {
  ::prometheus::prompb::WriteRequest v1;
  AddSeriesV1(&v1, {{"__name__", "up"}, {"job", "x"}}, {{1, 1}});
  V2Builder v2;
  v2.AddSeries({{"__name__", "up"}, {"job", "x"}}, {{1, 1}});
  EXPECT_EQ(DecodeV1(v1).series[0].hash, DecodeV2(v2.request()).series[0].hash);
}

TEST(DecodeV2Test, SymbolsAfterSeriesStillResolve) {
  V2Builder b;
  b.AddSeries({{"__name__", "up"}}, {{1, 1}});
  io::prometheus::write::v2::Request reordered;
  *reordered.mutable_timeseries() = b.request().timeseries();
  std::string body = reordered.SerializeAsString();
  io::prometheus::write::v2::Request symbols_only;
  *symbols_only.mutable_symbols() = b.request().symbols();
  body += symbols_only.SerializeAsString();
  DecodedRequest r;
  r.body = body;
  ASSERT_EQ(DecodeRemoteWriteV2(&r), nullptr);
  ASSERT_EQ(r.series.size(), 1u);
  EXPECT_EQ(r.LabelValue(r.series[0], "__name__"), "up");
}

TEST(DecodeV2Test, BadReferencesRejectOnlyTheirSeries) {
  V2Builder b;
  b.AddSeries({{"__name__", "good"}}, {{1, 1}});
  b.AddSeries({{"__name__", "odd"}}, {{1, 2}})->add_labels_refs(1);
  b.AddSeries({{"__name__", "past"}}, {{1, 3}})->set_labels_refs(1, 999);
  b.AddSeries({{"__name__", "meta"}}, {{1, 4}})->mutable_metadata()->set_help_ref(999);
  auto* ex = b.AddSeries({{"__name__", "exemplar"}}, {{1, 5}})->add_exemplars();
  ex->add_labels_refs(999);
  ex->add_labels_refs(0);
  b.AddSeries({{"__name__", "good2"}}, {{1, 6}});
  DecodedRequest r = DecodeV2(b.request());
  ASSERT_EQ(r.series.size(), 2u);
  EXPECT_EQ(r.rejected_series, 4u);
  EXPECT_EQ(r.first_rejection, "odd number of label references");
  EXPECT_EQ(r.samples.size(), 2u);
  EXPECT_EQ(r.exemplars.size(), 0u);
  EXPECT_EQ(r.LabelValue(r.series[1], "__name__"), "good2");
}

TEST(DecodeV2Test, NativeHistogramsAndExemplars) {
  V2Builder b;
  auto* series = b.AddSeries({{"__name__", "latency"}}, {});
  auto* h = series->add_histograms();
  h->set_timestamp(42);
  h->set_schema(3);
  auto* e = series->add_exemplars();
  e->set_value(1.5);
  e->add_labels_refs(b.Symbol("trace_id"));
  e->add_labels_refs(b.Symbol("0af7651916cd43dd8448eb211c80319c"));
  DecodedRequest r = DecodeV2(b.request());
  ASSERT_EQ(r.series.size(), 1u);
  EXPECT_EQ(r.HistogramsOf(r.series[0])[0].timestamp_ms, 42);
  ASSERT_EQ(r.exemplars.size(), 1u);
  EXPECT_EQ(r.LabelsOf(r.exemplars[0])[0].name, "trace_id");
  EXPECT_EQ(r.LabelsOf(r.exemplars[0])[0].value, "0af7651916cd43dd8448eb211c80319c");
}

TEST(DecodeV2Test, V1BodyDecodesAsEmpty) {
  // 2.0 reserves 1.0's field numbers, so a 1.0 body sent as 2.0 decodes to nothing instead of garbage.
  ::prometheus::prompb::WriteRequest v1;
  AddSeriesV1(&v1, {{"__name__", "up"}}, {{1, 1}});
  DecodedRequest r;
  r.body = v1.SerializeAsString();
  EXPECT_EQ(DecodeRemoteWriteV2(&r), nullptr);
  EXPECT_TRUE(r.series.empty());
}

TEST(DecodeV1Test, InvalidUtf8RejectsTheSeriesDropsTheExemplarOrMetadataString) {
  ::prometheus::prompb::WriteRequest message;
  AddSeriesV1(&message, {{"__name__", "good"}}, {{1, 1}});
  AddSeriesV1(&message, {{"__name__", "bad_value"}, {"path", "/caf\xc3"}}, {{1, 2}});
  AddSeriesV1(&message, {{"__name__", "bad_name"}, {"\xc0\xafx", "v"}}, {{1, 3}});
  auto* with_exemplar = AddSeriesV1(&message, {{"__name__", "latency"}}, {{1, 4}});
  auto* exemplar = with_exemplar->add_exemplars();
  exemplar->set_value(0.5);
  auto* label = exemplar->add_labels();
  label->set_name("trace_id");
  label->set_value("\xed\xa0\x80");  // a surrogate
  auto* metadata = message.add_metadata();
  metadata->set_metric_family_name("good");
  metadata->set_help("Bad \xff help.");
  metadata->set_unit("seconds");
  message.add_metadata()->set_metric_family_name("bad\xf4\x90\x80\x80");
  DecodedRequest r = DecodeV1(message);
  ASSERT_EQ(r.series.size(), 2u);
  EXPECT_EQ(r.LabelValue(r.series[0], "__name__"), "good");
  EXPECT_EQ(r.LabelValue(r.series[1], "__name__"), "latency");
  EXPECT_EQ(r.samples.size(), 2u);
  EXPECT_EQ(r.rejected_series, 2u);
  EXPECT_EQ(r.first_rejection, "label value is not valid UTF-8");
  EXPECT_TRUE(r.exemplars.empty());
  EXPECT_TRUE(r.exemplar_labels.empty());
  EXPECT_EQ(r.invalid_utf8_exemplars, 1u);
  ASSERT_EQ(r.metadata.size(), 1u);
  EXPECT_EQ(r.metadata[0].family_name, "good");
  EXPECT_EQ(r.metadata[0].help, "");
  EXPECT_EQ(r.metadata[0].unit, "seconds");
  EXPECT_EQ(r.invalid_utf8_metadata, 2u);
}

TEST(DecodeV2Test, InvalidUtf8SymbolRejectsTheSeriesThatUseIt) {
  V2Builder b;
  b.AddSeries({{"__name__", "good"}, {"city", "z\xc3\xbcrich"}}, {{1, 1}});
  b.AddSeries({{"__name__", "bad"}, {"city", "z\xfcrich"}}, {{1, 2}});  // Latin-1, not UTF-8
  auto* kept = b.AddSeries({{"__name__", "kept"}}, {{1, 3}});
  kept->mutable_metadata()->set_help_ref(b.Symbol("help \xc3"));
  kept->mutable_metadata()->set_unit_ref(b.Symbol("bytes"));
  auto* e = kept->add_exemplars();
  e->add_labels_refs(b.Symbol("trace_id"));
  e->add_labels_refs(b.Symbol("\xe0\x80\x80"));
  DecodedRequest r = DecodeV2(b.request());
  ASSERT_EQ(r.series.size(), 2u);
  EXPECT_EQ(r.rejected_series, 1u);
  EXPECT_EQ(r.first_rejection, "label name or value is not valid UTF-8");
  EXPECT_EQ(r.LabelValue(r.series[0], "city"), "z\xc3\xbcrich");
  EXPECT_EQ(r.series[1].help, "");
  EXPECT_EQ(r.series[1].unit, "bytes");
  EXPECT_TRUE(r.exemplars.empty());
  EXPECT_EQ(r.invalid_utf8_exemplars, 1u);
  EXPECT_EQ(r.invalid_utf8_metadata, 1u);
}

constexpr WriteLimits kSmallLimits{.max_series_per_request = 3, .max_labels_per_series = 3,
                                   .max_label_name_bytes = 8, .max_label_value_bytes = 8};

uint32_t Hits(const DecodedRequest& r, Limit limit) { return r.limit_hits[static_cast<size_t>(limit)]; }

TEST(DecodeLimitsTest, V1SeriesOverALimitIsLeftOutAndTheOthersKept) {
  ::prometheus::prompb::WriteRequest message;
  AddSeriesV1(&message, {{"__name__", "ok"}, {"job", "12345678"}}, {{1, 1}});
  AddSeriesV1(&message, {{"__name__", "long_val"}, {"job", "123456789"}}, {{1, 1}});
  AddSeriesV1(&message, {{"__name__", "many"}, {"a", "1"}, {"b", "2"}, {"c", "3"}}, {{1, 1}, {2, 2}});
  const char* error = nullptr;
  DecodedRequest r = DecodeV1(message, &error, kSmallLimits);
  EXPECT_EQ(error, nullptr);
  ASSERT_EQ(r.series.size(), 1u);
  EXPECT_EQ(r.LabelValue(r.series[0], "__name__"), "ok");
  EXPECT_EQ(r.samples.size(), 1u);  // the refused series' samples were taken back out
  EXPECT_EQ(r.rejected_series, 2u);
  EXPECT_EQ(r.first_rejection, "label value longer than --web.max-label-value-length");
  EXPECT_EQ(Hits(r, Limit::kLabelValueLength), 1u);
  EXPECT_EQ(Hits(r, Limit::kLabelsPerSeries), 1u);
  EXPECT_EQ(Hits(r, Limit::kLabelNameLength), 0u);
  EXPECT_EQ(Hits(r, Limit::kSeriesPerRequest), 0u);
}

TEST(DecodeLimitsTest, V2LabelNameOverTheLimit) {
  V2Builder b;
  b.AddSeries({{"__name__", "ok"}}, {{1, 1}});
  b.AddSeries({{"__name__", "bad"}, {"name_too_long", "x"}}, {{1, 1}});
  const char* error = nullptr;
  DecodedRequest r = DecodeV2(b.request(), &error, kSmallLimits);
  EXPECT_EQ(error, nullptr);
  EXPECT_EQ(r.series.size(), 1u);
  EXPECT_EQ(r.first_rejection, "label name longer than --web.max-label-name-length");
  EXPECT_EQ(Hits(r, Limit::kLabelNameLength), 1u);
}

TEST(DecodeLimitsTest, RequestWithMoreSeriesThanAllowedStops) {
  ::prometheus::prompb::WriteRequest v1;
  V2Builder v2;
  for (int i = 0; i < 3; ++i) {
    AddSeriesV1(&v1, {{"__name__", "s" + std::to_string(i)}}, {{1, 1}});
    v2.AddSeries({{"__name__", "s" + std::to_string(i)}}, {{1, 1}});
  }
  const char* error = nullptr;
  DecodedRequest at_limit = DecodeV1(v1, &error, kSmallLimits);
  EXPECT_EQ(error, nullptr);
  EXPECT_EQ(at_limit.series.size(), 3u);
  EXPECT_EQ(Hits(at_limit, Limit::kSeriesPerRequest), 0u);

  AddSeriesV1(&v1, {{"__name__", "s3"}}, {{1, 1}});
  v2.AddSeries({{"__name__", "s3"}}, {{1, 1}});
  DecodedRequest over_v1 = DecodeV1(v1, &error, kSmallLimits);
  EXPECT_STREQ(error, "more series than --web.max-series-per-request");
  EXPECT_EQ(Hits(over_v1, Limit::kSeriesPerRequest), 1u);
  DecodedRequest over_v2 = DecodeV2(v2.request(), &error, kSmallLimits);
  EXPECT_STREQ(error, "more series than --web.max-series-per-request");
  EXPECT_EQ(Hits(over_v2, Limit::kSeriesPerRequest), 1u);
}

TEST(DecodeLimitsTest, RefusedSeriesCountTowardsTheSeriesLimit) {
  ::prometheus::prompb::WriteRequest message;
  for (int i = 0; i < 4; ++i) AddSeriesV1(&message, {{"__name__", "s"}, {"v", "123456789"}}, {{1, 1}});
  const char* error = nullptr;
  DecodedRequest r = DecodeV1(message, &error, kSmallLimits);
  EXPECT_STREQ(error, "more series than --web.max-series-per-request");
}

TEST(DecodeLimitsTest, ClearResetsTheHits) {
  ::prometheus::prompb::WriteRequest message;
  AddSeriesV1(&message, {{"__name__", "s"}, {"v", "123456789"}}, {{1, 1}});
  DecodedRequest r = DecodeV1(message, nullptr, kSmallLimits);
  EXPECT_EQ(Hits(r, Limit::kLabelValueLength), 1u);
  r.Clear();
  EXPECT_EQ(Hits(r, Limit::kLabelValueLength), 0u);
}

// Hand-encoded protobuf, for layouts the generated code does not produce.
std::string VarintBytes(uint64_t value) {
  std::string out;
  while (value >= 0x80) {
    out += static_cast<char>((value & 0x7f) | 0x80);
    value >>= 7;
  }
  return out + static_cast<char>(value);
}
std::string StringField(int field, std::string_view value) {
  return static_cast<char>(field << 3 | 2) + VarintBytes(value.size()) + std::string(value);
}
std::string VarintField(int field, uint64_t value) { return static_cast<char>(field << 3) + VarintBytes(value); }
std::string DoubleField(int field, double value) {
  std::string out(9, static_cast<char>(field << 3 | 1));
  std::memcpy(out.data() + 1, &value, 8);
  return out;
}

// A request of one series: labels __name__="up" and `label`, and `sample`, each an encoded message.
DecodedRequest DecodeOneSeries(const std::string& label, const std::string& sample, const char** error) {
  DecodedRequest request;
  request.body = StringField(1, StringField(1, StringField(1, "__name__") + StringField(2, "up")) +
                                    StringField(1, label) + StringField(2, sample));
  *error = DecodeRemoteWriteV1(&request, WriteLimits{});
  return request;
}

// The decoder reads Prometheus' own layout of labels and samples by a shorter path; every other layout
// must decode as protobuf would, and malformed ones must still fail.
TEST(DecodeV1Test, LabelAndSampleLayoutsBesidesPrometheusOwn) {
  const std::string compact_sample = DoubleField(1, 2.5) + VarintField(2, 1000);
  const std::string long_value(200, 'v');
  struct LabelCase {
    std::string encoded, name, value;
  };
  const std::vector<LabelCase> labels = {
      {StringField(1, "a") + StringField(2, "b"), "a", "b"},  // Prometheus' layout
      {StringField(1, "a"), "a", ""},                        // empty value left out
      {StringField(1, "a") + StringField(2, ""), "a", ""},   // empty value written
      {StringField(2, "b") + StringField(1, "a"), "a", "b"},  // value first
      {StringField(1, "a") + StringField(2, long_value), "a", long_value},  // two-byte length
      {StringField(1, "x") + StringField(1, "a") + StringField(2, "b"), "a", "b"},  // the last name wins
      {StringField(1, "a") + StringField(2, "b") + VarintField(3, 1), "a", "b"},  // unknown field after
  };
  for (const LabelCase& c : labels) {
    const char* error = nullptr;
    DecodedRequest r = DecodeOneSeries(c.encoded, compact_sample, &error);
    ASSERT_EQ(error, nullptr) << c.name;
    ASSERT_EQ(r.series.size(), 1u);
    ASSERT_EQ(r.LabelsOf(r.series[0]).size(), 2u);
    EXPECT_EQ(r.LabelsOf(r.series[0])[1].name, c.name);
    EXPECT_EQ(r.LabelsOf(r.series[0])[1].value, c.value);
    // The same labels have the same identity however they were laid out.
    const std::vector<Label> expected = {{"__name__", "up"}, {c.name, c.value}};
    EXPECT_EQ(r.series[0].hash, HashLabels(expected)) << c.name << "=" << c.value.substr(0, 8);
  }

  struct SampleCase {
    std::string encoded;
    int64_t timestamp_ms, start_timestamp_ms;
    double value;
  };
  const std::vector<SampleCase> samples = {
      {compact_sample, 1000, 0, 2.5},
      {VarintField(2, 1000) + DoubleField(1, 2.5), 1000, 0, 2.5},  // timestamp first
      {VarintField(2, 1000), 1000, 0, 0},                          // zero value left out
      {DoubleField(1, 2.5), 0, 0, 2.5},                            // zero timestamp left out
      {DoubleField(1, 2.5) + VarintField(2, static_cast<uint64_t>(-5)), -5, 0, 2.5},  // ten-byte varint
      {compact_sample + VarintField(3, 7), 1000, 7, 2.5},          // start timestamp after
      {compact_sample + DoubleField(1, 4), 1000, 0, 4},            // the last value wins
  };
  for (const SampleCase& c : samples) {
    const char* error = nullptr;
    DecodedRequest r = DecodeOneSeries(StringField(1, "a") + StringField(2, "b"), c.encoded, &error);
    ASSERT_EQ(error, nullptr) << c.timestamp_ms;
    ASSERT_EQ(r.series.size(), 1u);
    ASSERT_EQ(r.SamplesOf(r.series[0]).size(), 1u);
    const Sample& sample = r.SamplesOf(r.series[0])[0];
    EXPECT_EQ(sample.timestamp_ms, c.timestamp_ms);
    EXPECT_EQ(sample.start_timestamp_ms, c.start_timestamp_ms);
    EXPECT_EQ(sample.value, c.value);
  }

  const std::vector<std::pair<std::string, std::string>> malformed = {
      {StringField(1, "a") + StringField(2, "b") + VarintField(2, 1), compact_sample},  // value as a varint
      {std::string{0x0a, 0x05, 'a'}, compact_sample},                                  // name past the end
      {StringField(1, "a") + StringField(2, "b"), compact_sample.substr(0, 10) + '\x80'},  // truncated
      {StringField(1, "a") + StringField(2, "b"), compact_sample + StringField(2, "x")},  // timestamp as bytes
  };
  for (const auto& [label, sample] : malformed) {
    const char* error = nullptr;
    DecodeOneSeries(label, sample, &error);
    EXPECT_STREQ(error, "malformed time series");
  }
}

// A series' labels are hashed in place when they lie next to each other in Prometheus' layout; when
// a sample comes between them, or before them all, the hash must still be the labels' own.
TEST(DecodeV1Test, HashIsTheLabelsOwnWhereverTheSamplesAre) {
  const std::string name = StringField(1, StringField(1, "__name__") + StringField(2, "up"));
  const std::string job = StringField(1, StringField(1, "job") + StringField(2, "node"));
  const std::string sample = StringField(2, DoubleField(1, 2.5) + VarintField(2, 1000));
  const std::vector<Label> labels = {{"__name__", "up"}, {"job", "node"}};
  for (const std::string& series : {name + job + sample, sample + name + job, name + sample + job,
                                    name + sample + job + sample}) {
    DecodedRequest request;
    request.body = StringField(1, series);
    ASSERT_EQ(DecodeRemoteWriteV1(&request, WriteLimits{}), nullptr);
    ASSERT_EQ(request.series.size(), 1u);
    EXPECT_EQ(request.series[0].hash, HashLabels(labels));
    EXPECT_EQ(request.LabelValue(request.series[0], "job"), "node");
  }
}

}  // namespace
}  // namespace prom2gcm
