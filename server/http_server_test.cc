// Drives the real HTTP server over loopback with cpp-httplib's client.
#include "server/http_server.h"

#include <gtest/gtest.h>
#include <httplib.h>

#include <thread>

#include "server/testing/payloads.h"

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
  void SetUp() override {
    HttpServer::Options options;
    options.listen_address = "127.0.0.1:0";
    options.max_body_bytes = 64 << 10;
    options.worker_threads = 2;
    server_ = std::make_unique<HttpServer>(options, &handler_, registry_);
    std::string error;
    ASSERT_TRUE(server_->Bind(&error)) << error;
    serving_ = std::thread([this] { server_->Serve(); });
    client_ = std::make_unique<httplib::Client>("127.0.0.1", server_->port());
  }
  void TearDown() override {
    server_->Stop();
    serving_.join();
  }

  httplib::Result PostWrite(const std::string& body, const char* type = "application/x-protobuf") {
    httplib::Headers headers = {{"Content-Encoding", "snappy"}, {"X-Prometheus-Remote-Write-Version", "0.1.0"}};
    return client_->Post("/api/v1/write", headers, body, type);
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
  ::prometheus::WriteRequest message;
  testing::AddSeriesV1(&message, {{"__name__", "up"}, {"job", "t"}}, {{1000, 1}});
  auto result = PostWrite(testing::SnappyCompress(message));
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
