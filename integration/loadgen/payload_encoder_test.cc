#include "integration/loadgen/payload_encoder.h"

#include <gtest/gtest.h>
#include <snappy.h>

#include <algorithm>
#include <map>

#include "server/testing/payloads.h"

namespace prom2gcm::loadgen {
namespace {

using testing::AddSeriesV1;

template <typename Message>
Message Decode(const std::string& body) {
  std::string raw;
  EXPECT_TRUE(snappy::Uncompress(body.data(), body.size(), &raw));
  Message message;
  EXPECT_TRUE(message.ParseFromString(raw));
  return message;
}

std::vector<std::pair<std::string, std::string>> LabelPairs(const ::prometheus::prompb::TimeSeries& series) {
  std::vector<std::pair<std::string, std::string>> pairs;
  for (const auto& label : series.labels()) pairs.emplace_back(label.name(), label.value());
  return pairs;
}

std::vector<std::pair<std::string, std::string>> LabelPairs(const v2::Request& request, const v2::TimeSeries& series) {
  std::vector<std::pair<std::string, std::string>> pairs;
  for (int i = 0; i + 1 < series.labels_refs_size(); i += 2) {
    pairs.emplace_back(request.symbols(static_cast<int>(series.labels_refs(i))),
                       request.symbols(static_cast<int>(series.labels_refs(i + 1))));
  }
  return pairs;
}

// The labels without loadgen_replica, and that label's value ("" when absent).
std::string WithoutReplica(std::vector<std::pair<std::string, std::string>>* pairs) {
  std::string replica;
  std::erase_if(*pairs, [&](const auto& pair) {
    if (pair.first != kReplicaLabel) return false;
    replica = pair.second;
    return true;
  });
  return replica;
}

Corpus SmallV1Corpus() {
  ::prometheus::prompb::WriteRequest first, second;
  AddSeriesV1(&first, {{"__name__", "up"}, {"instance", "a"}, {"job", "node"}}, {{10000, 1}});
  AddSeriesV1(&first, {{"__name__", "up"}, {"instance", "b"}, {"job", "node"}}, {{10000, 0}});
  AddSeriesV1(&second, {{"__name__", "up"}, {"instance", "a"}, {"job", "node"}}, {{15000, 1}});
  ::prometheus::prompb::WriteRequest metadata;
  ::prometheus::prompb::MetricMetadata* up = metadata.add_metadata();
  up->set_metric_family_name("up");
  up->set_type(::prometheus::prompb::MetricMetadata::GAUGE);
  up->set_help("Target is up.");
  return Corpus::FromV1({metadata, first, second});
}

TEST(PayloadEncoderTest, CardinalityOneKeepsTheSeriesAsRecorded) {
  const Corpus corpus = SmallV1Corpus();
  PayloadEncoder encoder(corpus, WireProtocol::kV1, 1);
  const auto decoded = Decode<::prometheus::prompb::WriteRequest>(encoder.Encode(0, 0, 0));
  EXPECT_EQ(decoded.SerializeAsString(), corpus.v1_request(0).SerializeAsString());
}

TEST(PayloadEncoderTest, ReplicasGetTheirLabelAndShiftedTimestamps) {
  const Corpus corpus = SmallV1Corpus();
  PayloadEncoder encoder(corpus, WireProtocol::kV1, 3);
  // Out of order on purpose: the working copy is mutated in place and must not remember earlier bodies.
  for (const auto& [replica, shift] : std::vector<std::pair<int, int64_t>>{{2, 500}, {0, 100}, {1, 100}, {2, -7}}) {
    const auto decoded = Decode<::prometheus::prompb::WriteRequest>(encoder.Encode(0, replica, shift));
    ASSERT_EQ(decoded.timeseries_size(), 2);
    for (int s = 0; s < 2; ++s) {
      auto pairs = LabelPairs(decoded.timeseries(s));
      EXPECT_TRUE(std::is_sorted(pairs.begin(), pairs.end()));
      EXPECT_EQ(WithoutReplica(&pairs), std::to_string(replica));
      EXPECT_EQ(pairs, LabelPairs(corpus.v1_request(0).timeseries(s)));
      EXPECT_EQ(decoded.timeseries(s).samples(0).timestamp(), 10000 + shift);
    }
  }
}

TEST(PayloadEncoderTest, EncodesV2WithReplicasAndMetadata) {
  const Corpus corpus = SmallV1Corpus();
  PayloadEncoder encoder(corpus, WireProtocol::kV2, 2);
  const auto decoded = Decode<v2::Request>(encoder.Encode(0, 1, 1000));
  ASSERT_EQ(decoded.symbols(0), "");
  ASSERT_EQ(decoded.timeseries_size(), 2);
  for (int s = 0; s < 2; ++s) {
    const v2::TimeSeries& series = decoded.timeseries(s);
    auto pairs = LabelPairs(decoded, series);
    EXPECT_TRUE(std::is_sorted(pairs.begin(), pairs.end()));
    EXPECT_EQ(WithoutReplica(&pairs), "1");
    EXPECT_EQ(pairs, LabelPairs(corpus.v1_request(0).timeseries(s)));
    EXPECT_EQ(series.samples(0).timestamp(), 11000);
    EXPECT_EQ(series.metadata().type(), v2::Metadata::METRIC_TYPE_GAUGE);
    EXPECT_EQ(decoded.symbols(static_cast<int>(series.metadata().help_ref())), "Target is up.");
  }
}

// testdata/v2 replayed with replicas: every series is there once per replica, and start and created
// timestamps move with the samples (a zero one stays zero).
TEST(PayloadEncoderTest, ReplaysTheV2CorpusWithReplicas) {
  Corpus corpus;
  std::string error;
  ASSERT_TRUE(Corpus::Load(std::string(PROM2GCM_SOURCE_DIR) + "/testdata/v2", &corpus, &error)) << error;
  PayloadEncoder encoder(corpus, WireProtocol::kV2, 2);
  const int64_t shift = 3600000;
  for (size_t i = 0; i < corpus.size(); ++i) {
    const v2::Request& original = corpus.v2_request(i);
    for (int replica = 0; replica < 2; ++replica) {
      const auto decoded = Decode<v2::Request>(encoder.Encode(i, replica, shift));
      ASSERT_EQ(decoded.timeseries_size(), original.timeseries_size());
      for (int s = 0; s < original.timeseries_size(); ++s) {
        const v2::TimeSeries& got = decoded.timeseries(s);
        const v2::TimeSeries& want = original.timeseries(s);
        auto pairs = LabelPairs(decoded, got);
        EXPECT_EQ(WithoutReplica(&pairs), std::to_string(replica));
        EXPECT_EQ(pairs, LabelPairs(original, want));
        EXPECT_EQ(got.created_timestamp(), want.created_timestamp() == 0 ? 0 : want.created_timestamp() + shift);
        ASSERT_EQ(got.samples_size(), want.samples_size());
        for (int j = 0; j < want.samples_size(); ++j) {
          EXPECT_EQ(got.samples(j).timestamp(), want.samples(j).timestamp() + shift);
          const int64_t start = want.samples(j).start_timestamp();
          EXPECT_EQ(got.samples(j).start_timestamp(), start == 0 ? 0 : start + shift);
        }
        ASSERT_EQ(got.histograms_size(), want.histograms_size());
        for (int j = 0; j < want.histograms_size(); ++j) {
          EXPECT_EQ(got.histograms(j).timestamp(), want.histograms(j).timestamp() + shift);
        }
      }
    }
  }
}

TEST(EncoderPoolTest, LendsEveryEncoderOnce) {
  const Corpus corpus = SmallV1Corpus();
  EncoderPool pool(corpus, WireProtocol::kV1, 1, 2);
  std::unique_ptr<PayloadEncoder> first = pool.Acquire();
  std::unique_ptr<PayloadEncoder> second = pool.Acquire();
  EXPECT_NE(first.get(), second.get());
  PayloadEncoder* const released = first.get();
  pool.Release(std::move(first));
  EXPECT_EQ(pool.Acquire().get(), released);
}

}  // namespace
}  // namespace prom2gcm::loadgen
