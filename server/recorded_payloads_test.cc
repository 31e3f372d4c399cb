// Golden tests: every payload in testdata/ (recorded from a real Prometheus, or generated 2.0) goes
// through the same path as a live request, and the decoded counts must equal those an independent
// decoder (testdata/manifest.py, python protobuf) wrote into testdata/manifest.tsv.
#include <gtest/gtest.h>

#include <sstream>
#include <string>
#include <vector>

#include "server/series_labels.h"
#include "server/testing/payloads.h"
#include "server/write_handler.h"

namespace prom2gcm {
namespace {

struct ManifestRow {
  std::string file, protocol;
  uint64_t series, samples, histograms, exemplars, metadata, stale_markers, uncompressed_bytes;
};

std::vector<ManifestRow> ReadManifest() {
  std::istringstream in(testing::ReadSourceFile("testdata/manifest.tsv"));
  std::vector<ManifestRow> rows;
  std::string line;
  std::getline(in, line);  // header
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    std::istringstream fields(line);
    ManifestRow row;
    fields >> row.file >> row.protocol >> row.series >> row.samples >> row.histograms >> row.exemplars >>
        row.metadata >> row.stale_markers >> row.uncompressed_bytes;
    rows.push_back(row);
  }
  return rows;
}

// Keeps copies of what a request held, since its views die with it.
class CountingSink : public SeriesSink {
 public:
  AppendResult Append(const DecodedRequest& r) override {
    series = r.series.size();
    samples = r.samples.size();
    histograms = r.histograms.size();
    exemplars = r.exemplars.size();
    typed = 0;
    stale = 0;
    for (const Series& s : r.series) {
      typed += s.type != MetricType::kUnspecified;
      // Each series' hash, however it was taken (in place in a 1.0 body, or through HashLabels), is
      // the hash of its labels.
      wrong_hashes += s.hash != HashLabels(r.LabelsOf(s));
    }
    for (const Sample& s : r.samples) stale += IsStaleMarker(s.value);
    return {};
  }
  uint64_t series = 0, samples = 0, histograms = 0, exemplars = 0, typed = 0, stale = 0, wrong_hashes = 0;
};

TEST(RecordedPayloadsTest, EveryPayloadDecodesAsTheManifestSays) {
  const std::vector<ManifestRow> rows = ReadManifest();
  ASSERT_GE(rows.size(), 10u);
  size_t v1 = 0, v2 = 0, v1_metadata_requests = 0;
  for (const ManifestRow& row : rows) {
    SCOPED_TRACE(row.file);
    prometheus::Registry registry;
    CountingSink sink;
    MetadataCache metadata;
    WriteHandler handler(WriteHandler::Options{}, &sink, &metadata, registry);
    const std::string body = testing::ReadSourceFile("testdata/" + row.file);
    const bool is_v2 = row.protocol == "2.0";
    const char* type =
        is_v2 ? testing::kV2Type : testing::kV1Type;
    WriteHttpResponse response = handler.Handle({type, "snappy", body});
    ASSERT_EQ(response.status, 204) << response.body;
    EXPECT_EQ(sink.series, row.series);
    EXPECT_EQ(sink.samples, row.samples);
    EXPECT_EQ(sink.histograms, row.histograms);
    EXPECT_EQ(sink.exemplars, row.exemplars);
    EXPECT_EQ(sink.stale, row.stale_markers);
    EXPECT_EQ(sink.wrong_hashes, 0u);
    if (is_v2) {
      ++v2;
      EXPECT_EQ(sink.typed, row.metadata);
    } else {
      ++v1;
      EXPECT_EQ(metadata.size() > 0, row.metadata > 0);
      v1_metadata_requests += row.metadata > 0;
    }
  }
  EXPECT_GT(v1, 0u);
  EXPECT_GT(v2, 0u);
  EXPECT_GT(v1_metadata_requests, 0u);
}

}  // namespace
}  // namespace prom2gcm
