#include "server/write_handler.h"

#include <gtest/gtest.h>

#include <condition_variable>
#include <mutex>
#include <thread>

#include "server/testing/payloads.h"

namespace prom2gcm {
namespace {

using testing::AddSeriesV1;
using testing::SnappyCompress;
using testing::V2Builder;

using testing::kV1Type;
using testing::kV2Type;

// Records what reaches it; refuses everything while full is set.
class RecordingSink : public SeriesSink {
 public:
  AppendResult Append(const DecodedRequest& request) override {
    if (full) return AppendResult::Retry("shard queue full", 2);
    if (invalid) {
      AppendResult result;
      result.invalid = 1;
      result.invalid_reason = "native histogram: count disagrees with its buckets";
      return result;
    }
    series += request.series.size();
    samples += request.samples.size();
    last_seq = request.seq;
    return {};
  }
  bool full = false;
  bool invalid = false;
  size_t series = 0, samples = 0;
  uint64_t last_seq = 0;
};

// Logs into memory; refuses while full is set.
class MemoryLog : public RequestLog {
 public:
  uint64_t Log(Protocol protocol, std::string_view body, std::string* error) override {
    if (full) {
      *error = "log full; retry later";
      return 0;
    }
    records.emplace_back(protocol, std::string(body));
    ++references;
    return records.size();
  }
  void Release(uint64_t) override { --references; }
  bool full = false;
  std::vector<std::pair<Protocol, std::string>> records;
  int references = 0;
};

class WriteHandlerTest : public ::testing::Test {
 protected:
  WriteHttpResponse Post(std::string_view type, std::string body, std::string_view encoding = "snappy") {
    body_ = std::move(body);
    return handler_.Handle({type, encoding, body_});
  }

  static std::string Header(const WriteHttpResponse& r, std::string_view name) {
    for (const auto& [n, v] : r.headers) if (n == name) return v;
    return "<absent>";
  }

  static std::string TwoSeriesV1() {
    ::prometheus::prompb::WriteRequest message;
    AddSeriesV1(&message, {{"__name__", "up"}}, {{1000, 1}, {2000, 1}});
    AddSeriesV1(&message, {{"__name__", "load"}}, {{1000, 2}});
    return SnappyCompress(message);
  }

  prometheus::Registry registry_;
  RecordingSink sink_;
  MetadataCache metadata_;
  static WriteHandler::Options SmallOptions() {
    WriteHandler::Options options;
    options.max_uncompressed_bytes = 1 << 20;
    options.limits = {.max_series_per_request = 4, .max_labels_per_series = 4, .max_label_name_bytes = 16,
                      .max_label_value_bytes = 16};
    options.max_in_flight_writes = 1;
    return options;
  }

  double LimitHits(const std::string& limit) {
    for (const auto& family : registry_.Collect()) {
      if (family.name != "prom2gcm_write_limit_hits_total") continue;
      for (const auto& metric : family.metric) {
        if (metric.label.size() == 1 && metric.label[0].value == limit) return metric.counter.value;
      }
    }
    return -1;  // not exported at all
  }

  WriteHandler handler_{SmallOptions(), &sink_, &metadata_, registry_};
  std::string body_;
};

TEST_F(WriteHandlerTest, V1AcceptedIs204WithoutWrittenHeaders) {
  WriteHttpResponse r = Post(kV1Type, TwoSeriesV1());
  EXPECT_EQ(r.status, 204);
  EXPECT_TRUE(r.body.empty());
  EXPECT_TRUE(r.headers.empty());
  EXPECT_EQ(sink_.series, 2u);
  EXPECT_EQ(sink_.samples, 3u);
}

TEST_F(WriteHandlerTest, ContentTypeVariantsThatMeanV1) {
  EXPECT_EQ(Post("application/x-protobuf;proto=prometheus.WriteRequest", TwoSeriesV1()).status, 204);
  EXPECT_EQ(Post("Application/X-Protobuf; proto=\"prometheus.WriteRequest\"", TwoSeriesV1()).status, 204);
  EXPECT_EQ(Post("", TwoSeriesV1()).status, 204);
}

TEST_F(WriteHandlerTest, V2AcceptedCarriesWrittenCounts) {
  V2Builder b;
  b.AddSeries({{"__name__", "up"}}, {{1000, 1}, {2000, 1}});
  auto* s = b.AddSeries({{"__name__", "lat"}}, {});
  s->add_histograms()->set_timestamp(5);
  s->add_exemplars()->set_value(1);
  WriteHttpResponse r = Post(kV2Type, SnappyCompress(b.request()));
  EXPECT_EQ(r.status, 204);
  EXPECT_EQ(Header(r, "X-Prometheus-Remote-Write-Samples-Written"), "2");
  EXPECT_EQ(Header(r, "X-Prometheus-Remote-Write-Histograms-Written"), "1");
  EXPECT_EQ(Header(r, "X-Prometheus-Remote-Write-Exemplars-Written"), "1");
}

TEST_F(WriteHandlerTest, UnknownProtoOrMediaTypeIs415) {
  WriteHttpResponse r = Post("application/x-protobuf;proto=io.prometheus.write.v3.Request", TwoSeriesV1());
  EXPECT_EQ(r.status, 415);
  EXPECT_NE(r.body.find("unsupported Content-Type"), std::string::npos);
  EXPECT_EQ(Post("application/json", TwoSeriesV1()).status, 415);
  EXPECT_EQ(Post("application/x-www-form-urlencoded", TwoSeriesV1()).status, 415);
  EXPECT_EQ(sink_.series, 0u);
}

TEST_F(WriteHandlerTest, WrongEncodingIs415AndV2StillGetsHeaders) {
  WriteHttpResponse r = Post(kV1Type, TwoSeriesV1(), "gzip");
  EXPECT_EQ(r.status, 415);
  EXPECT_NE(r.body.find("Content-Encoding"), std::string::npos);
  EXPECT_EQ(Post(kV1Type, TwoSeriesV1(), "").status, 415);
  WriteHttpResponse v2 = Post(kV2Type, TwoSeriesV1(), "zstd");
  EXPECT_EQ(v2.status, 415);
  EXPECT_EQ(Header(v2, "X-Prometheus-Remote-Write-Samples-Written"), "0");
}

TEST_F(WriteHandlerTest, CorruptSnappyIs400) {
  WriteHttpResponse r = Post(kV1Type, "\xff\xff\xff\xff\xff\xff not snappy");
  EXPECT_EQ(r.status, 400);
  EXPECT_NE(r.body.find("snappy"), std::string::npos);
  std::string truncated = TwoSeriesV1();
  truncated.resize(truncated.size() / 2);
  EXPECT_EQ(Post(kV1Type, truncated).status, 400);
  // The framed format starts with a stream identifier chunk; it is not a block.
  EXPECT_EQ(Post(kV1Type, std::string("\xff\x06\x00\x00sNaPpY", 10)).status, 400);
}

TEST_F(WriteHandlerTest, DeclaredLengthOverLimitIs413BeforeAllocating) {
  // A varint declaring 1 GiB uncompressed, followed by nothing: must be refused from the header alone.
  std::string bomb = {static_cast<char>(0x80), static_cast<char>(0x80), static_cast<char>(0x80),
                      static_cast<char>(0x80), 0x04};
  WriteHttpResponse r = Post(kV1Type, bomb);
  EXPECT_EQ(r.status, 413);
  EXPECT_NE(r.body.find("over the limit"), std::string::npos);
}

TEST_F(WriteHandlerTest, InvalidProtobufIs400AndStoresNothing) {
  WriteHttpResponse r = Post(kV1Type, SnappyCompress(std::string("\x0a\x10short", 7)));
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(r.body.rfind("invalid protobuf: ", 0), 0u) << r.body;
  EXPECT_EQ(sink_.series, 0u);
}

TEST_F(WriteHandlerTest, PartlyBadRequestIs400ButKeepsTheGoodSeries) {
  ::prometheus::prompb::WriteRequest message;
  AddSeriesV1(&message, {{"__name__", "good"}}, {{1, 1}});
  AddSeriesV1(&message, {{"b", "x"}, {"a", "y"}}, {{1, 1}});
  WriteHttpResponse r = Post(kV1Type, SnappyCompress(message));
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(r.body, "1 of 2 series rejected (the others were accepted); first: labels not sorted by name");
  EXPECT_EQ(sink_.series, 1u);
}

TEST_F(WriteHandlerTest, PartlyBadV2RequestCountsOnlyAcceptedSamples) {
  V2Builder b;
  b.AddSeries({{"__name__", "good"}}, {{1, 1}, {2, 2}});
  b.AddSeries({{"__name__", "bad"}}, {{1, 1}})->set_labels_refs(0, 12345);
  WriteHttpResponse r = Post(kV2Type, SnappyCompress(b.request()));
  EXPECT_EQ(r.status, 400);
  EXPECT_NE(r.body.find("label reference past the symbol table"), std::string::npos);
  EXPECT_EQ(Header(r, "X-Prometheus-Remote-Write-Samples-Written"), "2");
}

TEST_F(WriteHandlerTest, SinkFullIs503WithRetryAfter) {
  sink_.full = true;
  WriteHttpResponse r = Post(kV2Type, SnappyCompress(V2Builder().request()));
  EXPECT_EQ(r.status, 204);  // nothing to store
  V2Builder b;
  b.AddSeries({{"__name__", "up"}}, {{1, 1}});
  r = Post(kV2Type, SnappyCompress(b.request()));
  EXPECT_EQ(r.status, 503);
  EXPECT_EQ(Header(r, "Retry-After"), "2");
  EXPECT_EQ(Header(r, "X-Prometheus-Remote-Write-Samples-Written"), "0");
  EXPECT_EQ(r.body, "shard queue full");
}

TEST_F(WriteHandlerTest, ShuttingDownIs503) {
  handler_.set_accepting(false);
  WriteHttpResponse r = Post(kV1Type, TwoSeriesV1());
  EXPECT_EQ(r.status, 503);
  EXPECT_NE(Header(r, "Retry-After"), "<absent>");
  EXPECT_EQ(sink_.series, 0u);
}

TEST_F(WriteHandlerTest, MetadataOnlyRequestFillsTheCache) {
  ::prometheus::prompb::WriteRequest message;
  auto* m = message.add_metadata();
  m->set_metric_family_name("node_cpu_seconds");
  m->set_type(::prometheus::prompb::MetricMetadata::COUNTER);
  m->set_help("Seconds the CPUs spent in each mode.");
  WriteHttpResponse r = Post(kV1Type, SnappyCompress(message));
  EXPECT_EQ(r.status, 204);
  auto entry = metadata_.Lookup("node_cpu_seconds_total");
  ASSERT_TRUE(entry.has_value());
  EXPECT_EQ(entry->type, MetricType::kCounter);
  EXPECT_EQ(entry->help, "Seconds the CPUs spent in each mode.");
}

TEST_F(WriteHandlerTest, SeriesOverALabelLimitIs400AndTheOthersAreKept) {
  V2Builder b;
  b.AddSeries({{"__name__", "good"}, {"job", "j"}}, {{1, 1}, {2, 2}});
  b.AddSeries({{"__name__", "bad"}, {"job", std::string(17, 'v')}}, {{1, 1}});
  b.AddSeries({{"__name__", "bad"}, {"a", "1"}, {"b", "2"}, {"c", "3"}, {"d", "4"}}, {{1, 1}});
  WriteHttpResponse r = Post(kV2Type, SnappyCompress(b.request()));
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(r.body, "2 of 3 series rejected (the others were accepted); first: label value longer than "
                    "--web.max-label-value-length");
  EXPECT_EQ(Header(r, "X-Prometheus-Remote-Write-Samples-Written"), "2");
  EXPECT_EQ(sink_.series, 1u);
  EXPECT_EQ(LimitHits("label_value_length"), 1);
  EXPECT_EQ(LimitHits("labels_per_series"), 1);
  EXPECT_EQ(LimitHits("label_name_length"), 0);  // exported from the start, at zero
}

TEST_F(WriteHandlerTest, LabelNameOverTheLimitIs400) {
  ::prometheus::prompb::WriteRequest message;
  AddSeriesV1(&message, {{"__name__", "up"}, {std::string(17, 'n'), "x"}}, {{1, 1}});
  WriteHttpResponse r = Post(kV1Type, SnappyCompress(message));
  EXPECT_EQ(r.status, 400);
  EXPECT_NE(r.body.find("--web.max-label-name-length"), std::string::npos) << r.body;
  EXPECT_EQ(sink_.series, 0u);
  EXPECT_EQ(LimitHits("label_name_length"), 1);
}

TEST_F(WriteHandlerTest, MoreSeriesThanAllowedIs413AndStoresNothing) {
  ::prometheus::prompb::WriteRequest message;
  for (int i = 0; i < 4; ++i) AddSeriesV1(&message, {{"__name__", "s" + std::to_string(i)}}, {{1, 1}});
  EXPECT_EQ(Post(kV1Type, SnappyCompress(message)).status, 204);
  AddSeriesV1(&message, {{"__name__", "s4"}}, {{1, 1}});
  WriteHttpResponse r = Post(kV1Type, SnappyCompress(message));
  EXPECT_EQ(r.status, 413);
  EXPECT_EQ(r.body, "more than 4 series in one request (--web.max-series-per-request)");
  EXPECT_EQ(sink_.series, 4u);  // the first request only
  EXPECT_EQ(LimitHits("series_per_request"), 1);
}

// Blocks in Append until released, so a write can be held in flight.
class BlockingSink : public SeriesSink {
 public:
  AppendResult Append(const DecodedRequest& request) override {
    std::unique_lock<std::mutex> lock(mutex_);
    entered_ = true;
    changed_.notify_all();
    changed_.wait(lock, [this] { return released_; });
    return {};
  }
  void WaitUntilEntered() {
    std::unique_lock<std::mutex> lock(mutex_);
    changed_.wait(lock, [this] { return entered_; });
  }
  void Release() {
    std::lock_guard<std::mutex> lock(mutex_);
    released_ = true;
    changed_.notify_all();
  }

 private:
  std::mutex mutex_;
  std::condition_variable changed_;
  bool entered_ = false, released_ = false;
};

TEST_F(WriteHandlerTest, WritesOverTheInFlightLimitAre503WithRetryAfter) {
  BlockingSink blocking;
  WriteHandler handler(SmallOptions(), &blocking, &metadata_, registry_);  // one write in flight at most
  const std::string body = TwoSeriesV1();
  std::thread first([&] { EXPECT_EQ(handler.Handle({kV1Type, "snappy", body}).status, 204); });
  blocking.WaitUntilEntered();
  WriteHttpResponse second = handler.Handle({kV1Type, "snappy", body});
  EXPECT_EQ(second.status, 503);
  EXPECT_EQ(Header(second, "Retry-After"), "1");
  EXPECT_EQ(second.body, "more than 1 writes in flight (--web.max-in-flight-writes); retry shortly");
  EXPECT_EQ(LimitHits("in_flight_writes"), 1);
  blocking.Release();
  first.join();
  // The slot is free again.
  EXPECT_EQ(handler.Handle({kV1Type, "snappy", body}).status, 204);
  EXPECT_EQ(LimitHits("in_flight_writes"), 1);
}

TEST_F(WriteHandlerTest, MetricsCountRequestsByCodeAndProtocol) {
  Post(kV1Type, TwoSeriesV1());
  Post(kV1Type, TwoSeriesV1(), "gzip");
  Post("text/plain", TwoSeriesV1());
  double ok = 0, unsupported = 0, unknown = 0, samples = 0;
  for (const auto& family : registry_.Collect()) {
    for (const auto& metric : family.metric) {
      auto has = [&](const std::string& n, const std::string& v) {
        for (const auto& l : metric.label) if (l.name == n && l.value == v) return true;
        return false;
      };
      if (family.name == "prom2gcm_write_requests_total") {
        if (has("code", "204") && has("protocol", "1.0")) ok += metric.counter.value;
        if (has("code", "415") && has("protocol", "1.0")) unsupported += metric.counter.value;
        if (has("code", "415") && has("protocol", "unknown")) unknown += metric.counter.value;
      }
      if (family.name == "prom2gcm_received_samples_total" && has("protocol", "1.0")) {
        samples += metric.counter.value;
      }
    }
  }
  EXPECT_EQ(ok, 1);
  EXPECT_EQ(unsupported, 1);
  EXPECT_EQ(unknown, 1);
  EXPECT_EQ(samples, 3);
}

TEST_F(WriteHandlerTest, DurableLogComesBeforeTheSinkAndRedeliveryReusesTheRecord) {
  MemoryLog log;
  handler_.set_request_log(&log);
  EXPECT_EQ(Post(kV1Type, TwoSeriesV1()).status, 204);
  ASSERT_EQ(log.records.size(), 1u);
  EXPECT_EQ(log.records[0].first, Protocol::kV1);
  EXPECT_EQ(log.records[0].second, body_);  // as received, compressed
  EXPECT_EQ(sink_.last_seq, 1u);
  EXPECT_EQ(log.references, 0);  // the handler let go of its reference

  EXPECT_EQ(Post(kV1Type, "not snappy").status, 400);
  EXPECT_EQ(log.records.size(), 1u);  // what cannot decode is not logged

  log.full = true;
  WriteHttpResponse r = Post(kV1Type, TwoSeriesV1());
  EXPECT_EQ(r.status, 503);
  EXPECT_EQ(r.body, "log full; retry later");
  EXPECT_EQ(Header(r, "Retry-After"), "5");

  EXPECT_EQ(handler_.Redeliver(1, Protocol::kV1, log.records[0].second).status, 204);
  EXPECT_EQ(log.records.size(), 1u);  // not logged again
  EXPECT_EQ(sink_.last_seq, 1u);
  EXPECT_EQ(sink_.samples, 6u);
}

TEST_F(WriteHandlerTest, DataTheSinkFindsInvalidIs400WithTheReason) {
  sink_.invalid = true;
  WriteHttpResponse r = Post(kV1Type, TwoSeriesV1());
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(r.body, "1 invalid native histogram sample(s) refused (the rest were accepted); first: native "
                    "histogram: count disagrees with its buckets");
}

TEST_F(WriteHandlerTest, SlowDownStatusCanBe429) {
  WriteHandler::Options options;
  options.slow_down_status = 429;
  WriteHandler handler(options, &sink_, &metadata_, registry_);
  sink_.full = true;
  body_ = TwoSeriesV1();
  WriteHttpResponse r = handler.Handle({kV1Type, "snappy", body_});
  EXPECT_EQ(r.status, 429);
  EXPECT_EQ(Header(r, "Retry-After"), "2");
  handler.set_accepting(false);
  EXPECT_EQ(handler.Handle({kV1Type, "snappy", body_}).status, 503);  // shutting down is no slow-down
}

}  // namespace
}  // namespace prom2gcm
