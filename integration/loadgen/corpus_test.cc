#include "integration/loadgen/corpus.h"

#include <gtest/gtest.h>

#include <cstring>
#include <map>

#include "server/testing/payloads.h"

namespace prom2gcm::loadgen {
namespace {

using testing::AddSeriesV1;

const Corpus& RecordedV1() {
  static const Corpus* corpus = [] {
    auto* loaded = new Corpus;
    std::string error;
    EXPECT_TRUE(Corpus::Load(std::string(PROM2GCM_SOURCE_DIR) + "/testdata/v1", loaded, &error)) << error;
    return loaded;
  }();
  return *corpus;
}

std::map<std::string, std::string> LabelsOf(const ::prometheus::prompb::TimeSeries& series) {
  std::map<std::string, std::string> labels;
  for (const auto& label : series.labels()) labels[label.name()] = label.value();
  return labels;
}

uint64_t Bits(double value) {
  uint64_t bits;
  std::memcpy(&bits, &value, sizeof bits);
  return bits;
}

TEST(CorpusTest, LoadsTheRecordedV1Corpus) {
  const Corpus& corpus = RecordedV1();
  EXPECT_EQ(corpus.format(), WireProtocol::kV1);
  EXPECT_EQ(corpus.size(), 32u);
  EXPECT_EQ(corpus.metadata_requests().size(), 9u);
  EXPECT_EQ(corpus.samples_per_pass(), 13550);
  EXPECT_EQ(corpus.samples(0), 397);
  EXPECT_EQ(corpus.time_range().interval_ms, 5000);
  EXPECT_EQ(corpus.time_range().span_ms(), 80708);
  EXPECT_EQ(corpus.time_range().period_ms(), 85000);
  // The first request's series were last seen at the end of the previous pass.
  EXPECT_FALSE(corpus.predecessor_distances(0).empty());
}

TEST(CorpusTest, LoadsTheGeneratedV2Corpus) {
  Corpus corpus;
  std::string error;
  ASSERT_TRUE(Corpus::Load(std::string(PROM2GCM_SOURCE_DIR) + "/testdata/v2", &corpus, &error)) << error;
  EXPECT_EQ(corpus.format(), WireProtocol::kV2);
  EXPECT_EQ(corpus.size(), 8u);
  EXPECT_TRUE(corpus.metadata_requests().empty());
  EXPECT_EQ(corpus.samples_per_pass(), 79 + 31);  // float samples + native histograms (manifest.tsv)
  EXPECT_EQ(corpus.time_range().interval_ms, 15000);
}

TEST(CorpusTest, LoadFailsOnAFolderWithoutPayloads) {
  Corpus corpus;
  std::string error;
  EXPECT_FALSE(Corpus::Load(std::string(PROM2GCM_SOURCE_DIR) + "/proto", &corpus, &error));
  EXPECT_NE(error.find("no *.pb.snappy"), std::string::npos) << error;
}

TEST(CorpusTest, LastPassEndsAtNowAndPassesArePeriodsApart) {
  const TimeRange range{.min_ms = 1000, .max_ms = 21000, .interval_ms = 5000};
  EXPECT_EQ(range.period_ms(), 25000);
  const int64_t now = 1700000000000;
  EXPECT_EQ(range.max_ms + PassShiftMs(range, now, 2, 3), now);
  EXPECT_EQ(PassShiftMs(range, now, 1, 3) - PassShiftMs(range, now, 0, 3), 25000);
  EXPECT_EQ(PassShiftMs(range, now, 2, 3) - PassShiftMs(range, now, 1, 3), 25000);
}

TEST(CorpusTest, PeriodIsAWholeNumberOfIntervalsLongerThanTheSpan) {
  EXPECT_EQ((TimeRange{.min_ms = 0, .max_ms = 80708, .interval_ms = 5000}).period_ms(), 85000);
  EXPECT_EQ((TimeRange{.min_ms = 0, .max_ms = 80000, .interval_ms = 5000}).period_ms(), 85000);
  EXPECT_EQ((TimeRange{.min_ms = 7, .max_ms = 7, .interval_ms = 1000}).period_ms(), 1000);
}

// Replays three passes of the recorded corpus: per series, every timestamp is later than the one
// before, and the gap across a seam is the corpus' 5 s for series scraped all along.
TEST(CorpusTest, ShiftedPassesKeepPerSeriesOrderAndSpacing) {
  const Corpus& corpus = RecordedV1();
  const int64_t now = 1800000000000;
  std::map<std::string, std::vector<int64_t>> timestamps;
  for (int64_t pass = 0; pass < 3; ++pass) {
    const int64_t shift = PassShiftMs(corpus.time_range(), now, pass, 3);
    for (size_t i = 0; i < corpus.size(); ++i) {
      ::prometheus::prompb::WriteRequest request = corpus.v1_request(i);
      ShiftTimestamps(shift, &request);
      for (const auto& series : request.timeseries()) {
        for (const auto& sample : series.samples()) timestamps[SeriesKey(series)].push_back(sample.timestamp());
      }
    }
  }
  int64_t newest = 0;
  int series_scraped_all_along = 0;
  for (const auto& [key, series_timestamps] : timestamps) {
    bool steady = series_timestamps.size() == 3 * 17;  // 17 scrapes in 80 s
    for (size_t j = 1; j < series_timestamps.size(); ++j) {
      const int64_t gap = series_timestamps[j] - series_timestamps[j - 1];
      ASSERT_GT(gap, 0) << key;
      ASSERT_EQ(gap % 5000, 0) << key;
      if (gap != 5000) steady = false;
    }
    if (series_timestamps.size() == 3 * 17) {
      EXPECT_TRUE(steady) << key;
      ++series_scraped_all_along;
    }
    newest = std::max(newest, series_timestamps.back());
  }
  EXPECT_GT(series_scraped_all_along, 100);
  EXPECT_EQ(newest, now);
}

TEST(CorpusTest, ShiftLeavesUnsetTimestampsAlone) {
  v2::Request request;
  request.add_symbols("");
  v2::TimeSeries* series = request.add_timeseries();
  series->set_created_timestamp(500);
  v2::Sample* with_start = series->add_samples();
  with_start->set_timestamp(1000);
  with_start->set_start_timestamp(400);
  series->add_samples()->set_timestamp(2000);
  series->add_exemplars()->set_timestamp(0);
  v2::Histogram* histogram = series->add_histograms();
  histogram->set_timestamp(3000);
  histogram->set_start_timestamp(300);

  ShiftTimestamps(10, &request);
  EXPECT_EQ(series->created_timestamp(), 510);
  EXPECT_EQ(series->samples(0).timestamp(), 1010);
  EXPECT_EQ(series->samples(0).start_timestamp(), 410);
  EXPECT_EQ(series->samples(1).timestamp(), 2010);
  EXPECT_EQ(series->samples(1).start_timestamp(), 0);
  EXPECT_EQ(series->exemplars(0).timestamp(), 0);
  EXPECT_EQ(series->histograms(0).timestamp(), 3010);
  EXPECT_EQ(series->histograms(0).start_timestamp(), 310);
}

TEST(CorpusTest, ReplicaLabelIsInsertedInSortedPlace) {
  ::prometheus::prompb::WriteRequest request;
  AddSeriesV1(&request, {{"__name__", "a"}, {"job", "j"}, {"mode", "idle"}}, {{1, 1}});
  AddSeriesV1(&request, {{"__name__", "b"}}, {{1, 1}});
  AddSeriesV1(&request, {{"__name__", "c"}, {"loadgen_replica", "x"}, {"zone", "z"}}, {{1, 1}});
  const std::vector<std::string*> values = InsertReplicaLabel(&request);
  ASSERT_EQ(values.size(), 3u);
  for (std::string* value : values) *value = "7";

  const std::vector<std::vector<std::string>> want = {{"__name__", "job", "loadgen_replica", "mode"},
                                                      {"__name__", "loadgen_replica"},
                                                      {"__name__", "loadgen_replica", "zone"}};
  for (int i = 0; i < 3; ++i) {
    std::vector<std::string> names;
    for (const auto& label : request.timeseries(i).labels()) names.push_back(label.name());
    EXPECT_EQ(names, want[i]);
    EXPECT_EQ(LabelsOf(request.timeseries(i)).at("loadgen_replica"), "7");
  }
}

TEST(CorpusTest, ReplicaLabelRefsAreInsertedInSortedPlace) {
  testing::V2Builder builder;
  builder.AddSeries({{"__name__", "a"}, {"job", "j"}, {"mode", "idle"}}, {{1, 1}});
  builder.AddSeries({{"__name__", "b"}}, {{1, 1}});
  v2::Request request = builder.request();
  const int value_symbol = InsertReplicaLabel(&request);
  *request.mutable_symbols(value_symbol) = "3";

  EXPECT_EQ(SeriesKey(request, request.timeseries(0)), std::string("__name__\0a\0job\0j\0loadgen_replica\0"
                                                                   "3\0mode\0idle\0",
                                                                   45));
  EXPECT_EQ(SeriesKey(request, request.timeseries(1)), std::string("__name__\0b\0loadgen_replica\0"
                                                                   "3\0",
                                                                   29));
  EXPECT_EQ(request.symbols(0), "");
}

TEST(CorpusTest, PredecessorsAreThePreviousOccurrencesAcrossPasses) {
  ::prometheus::prompb::WriteRequest a, b, c;
  AddSeriesV1(&a, {{"__name__", "s1"}}, {{1000, 1}});
  AddSeriesV1(&b, {{"__name__", "s2"}}, {{1000, 1}});
  AddSeriesV1(&c, {{"__name__", "s1"}}, {{2000, 1}});
  AddSeriesV1(&c, {{"__name__", "s2"}}, {{2000, 1}});
  const Corpus corpus = Corpus::FromV1({a, b, c});
  EXPECT_EQ(corpus.predecessor_distances(0), std::vector<int64_t>({1}));  // c of the previous pass
  EXPECT_EQ(corpus.predecessor_distances(1), std::vector<int64_t>({2}));
  EXPECT_EQ(corpus.predecessor_distances(2), std::vector<int64_t>({1, 2}));
  EXPECT_EQ(corpus.time_range().interval_ms, 1000);
}

TEST(CorpusTest, MetadataOfHistogramSeriesIsFoundThroughTheFamily) {
  ::prometheus::prompb::WriteRequest metadata;
  auto add_family = [&](const std::string& name, ::prometheus::prompb::MetricMetadata::MetricType type) {
    ::prometheus::prompb::MetricMetadata* family = metadata.add_metadata();
    family->set_metric_family_name(name);
    family->set_type(type);
  };
  add_family("latency_seconds", ::prometheus::prompb::MetricMetadata::HISTOGRAM);
  add_family("requests", ::prometheus::prompb::MetricMetadata::COUNTER);
  ::prometheus::prompb::WriteRequest samples;
  AddSeriesV1(&samples, {{"__name__", "up"}}, {{1000, 1}});
  const Corpus corpus = Corpus::FromV1({metadata, samples});
  ASSERT_NE(corpus.FindMetadata("latency_seconds_bucket"), nullptr);
  EXPECT_EQ(corpus.FindMetadata("latency_seconds_sum")->metric_family_name(), "latency_seconds");
  EXPECT_NE(corpus.FindMetadata("requests"), nullptr);
  EXPECT_EQ(corpus.FindMetadata("requests_count"), nullptr);  // a counter has no _count series
  EXPECT_EQ(corpus.FindMetadata("up"), nullptr);
}

// Every recorded request, converted to 2.0 and decoded again, has the same series, samples (bit for
// bit, staleness markers included) and the metadata of its family.
TEST(CorpusTest, V2ConversionRoundTripsLabelsSamplesAndMetadata) {
  const Corpus& corpus = RecordedV1();
  int64_t series_with_metadata = 0;
  for (size_t i = 0; i < corpus.size(); ++i) {
    v2::Request decoded;
    ASSERT_TRUE(decoded.ParseFromString(corpus.ToV2(i).SerializeAsString()));
    ASSERT_EQ(decoded.symbols(0), "");
    const ::prometheus::prompb::WriteRequest& original = corpus.v1_request(i);
    ASSERT_EQ(decoded.timeseries_size(), original.timeseries_size());
    for (int s = 0; s < original.timeseries_size(); ++s) {
      const ::prometheus::prompb::TimeSeries& want = original.timeseries(s);
      const v2::TimeSeries& got = decoded.timeseries(s);
      ASSERT_EQ(SeriesKey(decoded, got), SeriesKey(want));
      ASSERT_EQ(got.samples_size(), want.samples_size());
      for (int j = 0; j < want.samples_size(); ++j) {
        EXPECT_EQ(got.samples(j).timestamp(), want.samples(j).timestamp());
        EXPECT_EQ(Bits(got.samples(j).value()), Bits(want.samples(j).value()));
      }
      const ::prometheus::prompb::MetricMetadata* family = corpus.FindMetadata(LabelsOf(want).at("__name__"));
      if (family == nullptr) {
        EXPECT_FALSE(got.has_metadata());
        continue;
      }
      ++series_with_metadata;
      EXPECT_EQ(static_cast<int>(got.metadata().type()), static_cast<int>(family->type()));
      EXPECT_EQ(decoded.symbols(static_cast<int>(got.metadata().help_ref())), family->help());
      EXPECT_EQ(decoded.symbols(static_cast<int>(got.metadata().unit_ref())), family->unit());
    }
  }
  EXPECT_GT(series_with_metadata, 10000);
  const ::prometheus::prompb::MetricMetadata* cpu = corpus.FindMetadata("node_cpu_seconds_total");
  ASSERT_NE(cpu, nullptr);
  EXPECT_EQ(cpu->type(), ::prometheus::prompb::MetricMetadata::COUNTER);
  EXPECT_FALSE(cpu->help().empty());
}

// Histograms and exemplars share field numbers between 1.0 and 2.0, so a faithful conversion
// serializes to the same bytes.
TEST(CorpusTest, V2ConversionKeepsHistogramsAndExemplars) {
  ::prometheus::prompb::WriteRequest request;
  ::prometheus::prompb::TimeSeries* series = AddSeriesV1(&request, {{"__name__", "h"}}, {});
  ::prometheus::prompb::Histogram* histogram = series->add_histograms();
  histogram->set_count_int(7);
  histogram->set_sum(3.5);
  histogram->set_schema(-2);
  histogram->set_zero_threshold(1e-9);
  histogram->set_zero_count_int(1);
  ::prometheus::prompb::BucketSpan* span = histogram->add_positive_spans();
  span->set_offset(-1);
  span->set_length(2);
  histogram->add_positive_deltas(4);
  histogram->add_positive_deltas(-2);
  histogram->add_negative_spans()->set_length(1);
  histogram->add_negative_counts(2.5);
  histogram->add_custom_values(0.5);
  histogram->set_reset_hint(::prometheus::prompb::Histogram::GAUGE);
  histogram->set_timestamp(1234);
  ::prometheus::prompb::Exemplar* exemplar = series->add_exemplars();
  exemplar->set_value(2);
  exemplar->set_timestamp(1200);
  ::prometheus::prompb::Label* trace = exemplar->add_labels();
  trace->set_name("trace_id");
  trace->set_value("abc");

  const v2::Request converted = Corpus::FromV1({request}).ToV2(0);
  ASSERT_EQ(converted.timeseries_size(), 1);
  const v2::TimeSeries& got = converted.timeseries(0);
  ASSERT_EQ(got.histograms_size(), 1);
  EXPECT_EQ(got.histograms(0).SerializeAsString(), histogram->SerializeAsString());
  ASSERT_EQ(got.exemplars_size(), 1);
  EXPECT_EQ(got.exemplars(0).value(), 2);
  EXPECT_EQ(got.exemplars(0).timestamp(), 1200);
  ASSERT_EQ(got.exemplars(0).labels_refs_size(), 2);
  EXPECT_EQ(converted.symbols(static_cast<int>(got.exemplars(0).labels_refs(0))), "trace_id");
  EXPECT_EQ(converted.symbols(static_cast<int>(got.exemplars(0).labels_refs(1))), "abc");
}

}  // namespace
}  // namespace prom2gcm::loadgen
