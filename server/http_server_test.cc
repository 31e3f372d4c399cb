// Drives the real HTTP server over loopback with cpp-httplib's client.
#include "server/http_server.h"

#include <gtest/gtest.h>
#include <httplib.h>

#include <filesystem>
#include <thread>

#include "server/testing/payloads.h"
#include "server/testing/temp_dir.h"

namespace prom2gcm {
namespace {

class CountingSink : public SeriesSink {
 public:
  AppendResult Append(const DecodedRequest& request) override {
    samples += request.samples.size();
    return {};
  }
  std::atomic<size_t> samples{0};
};

class HttpServerTest : public ::testing::Test {
 protected:
  void SetUp() override { Start(LoopbackOptions()); }

  static HttpServer::Options LoopbackOptions() {
    HttpServer::Options options;
    options.listen_address = "127.0.0.1:0";
    options.max_body_bytes = 64 << 10;
    options.worker_threads = 2;
    return options;
  }

  void Start(const HttpServer::Options& options) {
    server_ = std::make_unique<HttpServer>(options, &handler_, registry_);
    std::string error;
    ASSERT_TRUE(server_->Bind(&error)) << error;
    serving_ = std::thread([this] { server_->Serve(); });
    client_ = std::make_unique<httplib::Client>("127.0.0.1", server_->port());
  }
  void TearDown() override {
    if (!server_) return;
    server_->Stop();
    serving_.join();
  }

  httplib::Result PostWrite(const std::string& body, const char* type = "application/x-protobuf",
                            httplib::Headers headers = {}) {
    headers.emplace("Content-Encoding", "snappy");
    headers.emplace("X-Prometheus-Remote-Write-Version", "0.1.0");
    return client_->Post("/api/v1/write", headers, body, type);
  }

  static std::string OneSampleV1() {
    ::prometheus::WriteRequest message;
    testing::AddSeriesV1(&message, {{"__name__", "up"}, {"job", "t"}}, {{1000, 1}});
    return testing::SnappyCompress(message);
  }

  std::shared_ptr<prometheus::Registry> registry_ = std::make_shared<prometheus::Registry>();
  CountingSink sink_;
  MetadataCache metadata_;
  WriteHandler handler_{WriteHandler::Options{}, &sink_, &metadata_, *registry_};
  std::unique_ptr<HttpServer> server_;
  std::thread serving_;
  std::unique_ptr<httplib::Client> client_;
};

TEST_F(HttpServerTest, WriteIsAnswered204) {
  auto result = PostWrite(OneSampleV1());
  ASSERT_TRUE(result);
  EXPECT_EQ(result->status, 204);
  EXPECT_EQ(sink_.samples.load(), 1u);
}

TEST_F(HttpServerTest, ErrorsCarryAOneLineReason) {
  auto result = PostWrite("garbage", "application/json");
  ASSERT_TRUE(result);
  EXPECT_EQ(result->status, 415);
  EXPECT_EQ(result->body.find('\n'), result->body.size() - 1);
  EXPECT_NE(result->body.find("unsupported Content-Type"), std::string::npos);
}

TEST_F(HttpServerTest, BodyOverTransportLimitIs413) {
  auto result = PostWrite(std::string(100 << 10, 'x'));
  ASSERT_TRUE(result);
  EXPECT_EQ(result->status, 413);
}

TEST_F(HttpServerTest, MetricsAndHealthEndpoints) {
  ::prometheus::WriteRequest message;
  testing::AddSeriesV1(&message, {{"__name__", "up"}}, {{1000, 1}});
  ASSERT_TRUE(PostWrite(testing::SnappyCompress(message)));
  auto metrics = client_->Get("/metrics");
  ASSERT_TRUE(metrics);
  EXPECT_EQ(metrics->status, 200);
  EXPECT_NE(metrics->body.find("prom2gcm_write_requests_total{code=\"204\",protocol=\"1.0\"} 1"),
            std::string::npos)
      << metrics->body;
  auto healthy = client_->Get("/-/healthy");
  ASSERT_TRUE(healthy);
  EXPECT_EQ(healthy->status, 200);
  auto ready = client_->Get("/-/ready");
  ASSERT_TRUE(ready);
  EXPECT_EQ(ready->status, 200);
  server_->set_ready(false);
  ready = client_->Get("/-/ready");
  ASSERT_TRUE(ready);
  EXPECT_EQ(ready->status, 503);
}

// With a bearer token file: writes need the token; /metrics and health checks stay open unless
// auth_metrics_and_health is set.
class HttpServerAuthTest : public HttpServerTest {
 protected:
  void SetUp() override {}
  void StartWithToken(bool auth_metrics_and_health) {
    HttpServer::Options options = LoopbackOptions();
    options.auth.bearer_token_file = dir_.Write("token", "tok-1\n");
    options.auth_metrics_and_health = auth_metrics_and_health;
    Start(options);
  }

  testing::TempDir dir_;
};

TEST_F(HttpServerAuthTest, WriteWithoutTokenIs401WithChallengeAndReason) {
  StartWithToken(false);
  auto refused = PostWrite(OneSampleV1());
  ASSERT_TRUE(refused);
  EXPECT_EQ(refused->status, 401);
  EXPECT_EQ(refused->get_header_value("WWW-Authenticate"), "Bearer realm=\"prom2gcm\"");
  EXPECT_EQ(refused->body, "missing Authorization header\n");
  auto wrong = PostWrite(OneSampleV1(), "application/x-protobuf", {{"Authorization", "Bearer tok-2"}});
  ASSERT_TRUE(wrong);
  EXPECT_EQ(wrong->status, 401);
  EXPECT_EQ(wrong->body, "invalid bearer token\n");
  EXPECT_EQ(sink_.samples.load(), 0u);
  // The same keep-alive connection carries on after the refusals.
  auto accepted = PostWrite(OneSampleV1(), "application/x-protobuf", {{"Authorization", "Bearer tok-1"}});
  ASSERT_TRUE(accepted);
  EXPECT_EQ(accepted->status, 204);
  EXPECT_EQ(sink_.samples.load(), 1u);

  auto metrics = client_->Get("/metrics");
  ASSERT_TRUE(metrics);
  EXPECT_EQ(metrics->status, 200);  // open by default
  EXPECT_NE(metrics->body.find("prom2gcm_http_unauthorized_total{reason=\"missing\"} 1"), std::string::npos);
  EXPECT_NE(metrics->body.find("prom2gcm_http_unauthorized_total{reason=\"invalid_credentials\"} 1"),
            std::string::npos);
  EXPECT_EQ(client_->Get("/-/ready")->status, 200);
}

TEST_F(HttpServerAuthTest, MetricsAndHealthNeedTheTokenWhenAsked) {
  StartWithToken(true);
  for (const char* path : {"/metrics", "/-/healthy", "/-/ready"}) {
    auto refused = client_->Get(path);
    ASSERT_TRUE(refused);
    EXPECT_EQ(refused->status, 401) << path;
    auto allowed = client_->Get(path, {{"Authorization", "Bearer tok-1"}});
    ASSERT_TRUE(allowed);
    EXPECT_EQ(allowed->status, 200) << path;
  }
}

TEST_F(HttpServerAuthTest, ReloadReadsTheNewTokenAndKeepsTheOldOnAnError) {
  StartWithToken(false);
  dir_.Write("token", "tok-2");
  std::string error;
  ASSERT_TRUE(server_->Reload(&error)) << error;
  EXPECT_EQ(PostWrite(OneSampleV1(), "application/x-protobuf", {{"Authorization", "Bearer tok-1"}})->status, 401);
  EXPECT_EQ(PostWrite(OneSampleV1(), "application/x-protobuf", {{"Authorization", "Bearer tok-2"}})->status, 204);
  std::filesystem::remove(dir_.path() + "/token");
  EXPECT_FALSE(server_->Reload(&error));
  EXPECT_EQ(PostWrite(OneSampleV1(), "application/x-protobuf", {{"Authorization", "Bearer tok-2"}})->status, 204);
}

TEST_F(HttpServerAuthTest, UnreadableCredentialsFailBind) {
  HttpServer::Options options = LoopbackOptions();
  options.auth.basic_auth_file = dir_.path() + "/absent";
  HttpServer server(options, &handler_, registry_);
  std::string error;
  EXPECT_FALSE(server.Bind(&error));
  EXPECT_EQ(error, "cannot read " + dir_.path() + "/absent");
}

TEST(ParseListenAddressTest, Forms) {
  std::string host;
  int port;
  ASSERT_TRUE(ParseListenAddress(":9201", &host, &port));
  EXPECT_EQ(host, "0.0.0.0");
  EXPECT_EQ(port, 9201);
  ASSERT_TRUE(ParseListenAddress("127.0.0.1:80", &host, &port));
  EXPECT_EQ(host, "127.0.0.1");
  ASSERT_TRUE(ParseListenAddress("[::1]:0", &host, &port));
  EXPECT_EQ(host, "::1");
  EXPECT_FALSE(ParseListenAddress("localhost", &host, &port));
  EXPECT_FALSE(ParseListenAddress("h:99999", &host, &port));
  EXPECT_FALSE(ParseListenAddress("h:12x", &host, &port));
}

}  // namespace
}  // namespace prom2gcm
