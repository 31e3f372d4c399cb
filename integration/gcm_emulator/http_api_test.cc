// The HTTP JSON API against a real in-process emulator: /v1/timeseries, /v1/stats, /-/ready.
#include <httplib.h>

#include "integration/gcm_emulator/emulator_test_env.h"

namespace prom2gcm::emulator::testing {
namespace {

using google::api::MetricDescriptor;
using ::testing::HasSubstr;

class HttpApiTest : public EmulatorTest {
 protected:
  httplib::Result Get(const std::string& path) {
    httplib::Client client("127.0.0.1", emulator_->http_port());
    return client.Get(path.c_str());
  }

  std::string GetJson(const std::string& path) {
    httplib::Result result = Get(path);
    if (!result) return "no response";
    EXPECT_EQ(result->status, 200) << result->body;
    EXPECT_EQ(result->get_header_value("Content-Type"), "application/json");
    return result->body;
  }

  std::string Millis(TimeNs time) const { return std::to_string(ToMillis(time)); }
};

constexpr char kResourceLabelsJson[] =
    "\"resource_labels\":{\"cluster\":\"test-cluster\",\"instance\":\"host-1:9100\",\"job\":\"node\","
    "\"location\":\"europe-west1-b\",\"namespace\":\"default\",\"project_id\":\"test-project\"}";

TEST_F(HttpApiTest, ReadyAndHealthy) {
  EXPECT_EQ(Get("/-/ready")->status, 200);
  EXPECT_EQ(Get("/-/healthy")->status, 200);
}

TEST_F(HttpApiTest, ListsStoredGaugeSeriesWithExactDoubles) {
  ASSERT_TRUE(Create({GaugeSeries({{"room", "a\"b"}}, base_, 0.1 + 0.2)}).ok());
  ASSERT_TRUE(Create({GaugeSeries({{"room", "a\"b"}}, base_ + 5 * kNanosPerSecond, 1e300)}).ok());
  const std::string expected =
      std::string("{\"timeseries\":[{\"metric_type\":\"") + kGaugeType +
      "\",\"metric_labels\":{\"room\":\"a\\\"b\"},\"resource_type\":\"prometheus_target\"," + kResourceLabelsJson +
      ",\"metric_kind\":\"GAUGE\",\"value_type\":\"DOUBLE\",\"points\":[" + "{\"start_ms\":" + Millis(base_) +
      ",\"end_ms\":" + Millis(base_) + ",\"value\":0.30000000000000004}," +
      "{\"start_ms\":" + Millis(base_ + 5 * kNanosPerSecond) + ",\"end_ms\":" + Millis(base_ + 5 * kNanosPerSecond) +
      ",\"value\":1e+300}]}]}";
  EXPECT_EQ(GetJson("/v1/timeseries"), expected);
}

TEST_F(HttpApiTest, ListsCumulativeInt64AndNonFiniteValues) {
  TimeSeries counter = CumulativeSeries({}, base_ - kNanosPerMinute, base_, 0);
  counter.set_value_type(MetricDescriptor::INT64);
  counter.mutable_points(0)->mutable_value()->set_int64_value(-9007199254740993);
  ASSERT_TRUE(Create({counter, GaugeSeries({}, base_, std::nan(""))}).ok());
  const std::string counter_json = GetJson(std::string("/v1/timeseries?metric_type=") + kCounterType);
  EXPECT_THAT(
      counter_json,
      HasSubstr("\"metric_kind\":\"CUMULATIVE\",\"value_type\":\"INT64\",\"points\":[{\"start_ms\":" +
                Millis(base_ - kNanosPerMinute) + ",\"end_ms\":" + Millis(base_) + ",\"value\":-9007199254740993}]"));
  EXPECT_THAT(counter_json, ::testing::Not(HasSubstr(kGaugeType)));
  EXPECT_THAT(GetJson(std::string("/v1/timeseries?metric_type=") + kGaugeType), HasSubstr("\"value\":\"NaN\"}"));
}

TEST_F(HttpApiTest, ListsDistributions) {
  TimeSeries histogram =
      CumulativeSeries({}, base_ - kNanosPerMinute, base_, 0, "prometheus.googleapis.com/h/histogram");
  histogram.set_value_type(MetricDescriptor::DISTRIBUTION);
  auto* distribution = histogram.mutable_points(0)->mutable_value()->mutable_distribution_value();
  distribution->set_count(4);
  distribution->set_mean(0.75);
  distribution->set_sum_of_squared_deviation(1.5);
  distribution->mutable_bucket_options()->mutable_explicit_buckets()->add_bounds(0.5);
  distribution->mutable_bucket_options()->mutable_explicit_buckets()->add_bounds(1);
  for (int64_t count : {1, 2, 1}) distribution->add_bucket_counts(count);
  auto* exemplar = distribution->add_exemplars();
  exemplar->set_value(0.7);
  *exemplar->mutable_timestamp() = ToTimestamp(base_ - kNanosPerSecond);
  ASSERT_TRUE(Create({histogram}).ok());
  EXPECT_THAT(GetJson("/v1/timeseries?metric_type=prometheus.googleapis.com/h/histogram"),
              HasSubstr("\"value\":{\"count\":4,\"mean\":0.75,\"sum_of_squared_deviation\":1.5,"
                        "\"bucket_bounds\":[0.5,1],\"bucket_counts\":[1,2,1],\"exemplars\":[{\"value\":0.7,"
                        "\"time_ms\":" +
                        Millis(base_ - kNanosPerSecond) + "}]}"));
}

TEST_F(HttpApiTest, FiltersByFilterParameterAndClears) {
  TimeSeries other = GaugeSeries({{"room", "b"}}, base_, 2);
  *other.mutable_resource() = TargetResource("other");
  ASSERT_TRUE(Create({GaugeSeries({{"room", "a"}}, base_, 1), other}).ok());
  const std::string json = GetJson("/v1/timeseries?filter=resource.labels.job%3D%22other%22");
  EXPECT_THAT(json, HasSubstr("\"room\":\"b\""));
  EXPECT_THAT(json, ::testing::Not(HasSubstr("\"room\":\"a\"")));
  EXPECT_EQ(Get("/v1/timeseries?filter=bogus")->status, 400);

  httplib::Client client("127.0.0.1", emulator_->http_port());
  ASSERT_EQ(client.Delete("/v1/timeseries")->status, 200);
  EXPECT_EQ(GetJson("/v1/timeseries"), "{\"timeseries\":[]}");
  // The metric descriptors are gone too: the type may come back with another kind.
  EXPECT_TRUE(Create({CumulativeSeries({}, base_ - 1, base_, 1, kGaugeType)}).ok());
}

TEST_F(HttpApiTest, StatsCountRequestsAndPointsByReason) {
  ASSERT_TRUE(Create({GaugeSeries({{"a", "1"}}, base_, 1), GaugeSeries({{"a", "2"}}, base_, 1)}).ok());
  ASSERT_FALSE(Create({GaugeSeries({{"a", "1"}}, base_, 1), GaugeSeries({{"a", "3"}}, base_, 1, "bad/type")}).ok());
  ListTimeSeriesResponse response;
  ListTimeSeriesRequest list;
  list.set_name("projects/x");
  ASSERT_FALSE(List(list, &response).ok());
  EXPECT_EQ(GetJson("/v1/stats"),
            "{\"sink\":false,\"series\":2,\"requests\":2,\"list_requests\":1,\"points_received\":4,"
            "\"points_accepted\":2,\"points_rejected_total\":2,\"points_rejected\":{\"metric_type\":1,"
            "\"out_of_order\":1},\"requests_failed_by_fault\":0}");
}

}  // namespace
}  // namespace prom2gcm::emulator::testing
