// Drives the real HTTP server over loopback with cpp-httplib's client.
#include "server/http_server.h"

#include <gtest/gtest.h>
#include <httplib.h>
#include <openssl/ssl.h>
#include <netinet/in.h>
#include <openssl/x509.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <thread>

#include "server/testing/payloads.h"
#include "server/testing/raw_client.h"
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
    ::prometheus::prompb::WriteRequest message;
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
  EXPECT_EQ(result->body, "request body over the size limit\n");
  // Writes go on after it: the next body is read whole, not mixed with the refused one's.
  auto next = PostWrite(OneSampleV1());
  ASSERT_TRUE(next);
  EXPECT_EQ(next->status, 204);
  EXPECT_EQ(sink_.samples.load(), 1u);
}

TEST_F(HttpServerTest, MetricsAndHealthEndpoints) {
  ::prometheus::prompb::WriteRequest message;
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

TEST_F(HttpServerTest, KeepAliveServesRequestsInTurnAndPipelinedAndClosesWhenIdle) {
  server_->Stop();
  serving_.join();
  HttpServer::Options options = LoopbackOptions();
  options.idle_timeout_seconds = 1;
  Start(options);
  const std::string healthy = "GET /-/healthy HTTP/1.1\r\nHost: t\r\n\r\n";
  testing::RawClient connection(server_->port());  // what the GatedServer does between requests
  ASSERT_TRUE(connection.connected());
  std::string body;
  for (int i = 0; i < 20; ++i) {  // each waits parked for the next, on either worker
    ASSERT_TRUE(connection.Send(healthy)) << i;
    ASSERT_EQ(connection.ReadResponse(2000, &body), 200) << i;
    EXPECT_NE(body.find("Healthy."), std::string::npos) << body;
  }
  ASSERT_TRUE(connection.Send(healthy + healthy + healthy));  // the 2nd and 3rd are read ahead, buffered
  for (int i = 0; i < 3; ++i) ASSERT_EQ(connection.ReadResponse(2000), 200) << i;
  EXPECT_TRUE(connection.ClosedWithin(3000));
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

// A test CA and server certificates signed by it, made with the openssl command in a TempDir.
class TestCertificates {
 public:
  explicit TestCertificates(const testing::TempDir& dir) : dir_(dir) {
    Run("openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 1"
        " -subj '/CN=prom2gcm test CA' -keyout ca.key -out ca.crt");
  }
  std::string ca() const { return dir_.path() + "/ca.crt"; }

  // Writes name.crt and name.key, a certificate for 127.0.0.1 with common name `name`.
  void Issue(const std::string& name) {
    dir_.Write("san.ext", "subjectAltName=IP:127.0.0.1,DNS:localhost\n");
    Run("openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj '/CN=" + name + "' -keyout " +
        name + ".key -out " + name + ".csr");
    Run("openssl x509 -req -days 1 -in " + name + ".csr -CA ca.crt -CAkey ca.key -CAcreateserial -extfile san.ext"
        " -out " + name + ".crt");
  }

 private:
  void Run(const std::string& command) {
    const std::string line = "cd " + dir_.path() + " && " + command + " 2>/dev/null";
    ASSERT_EQ(std::system(line.c_str()), 0) << line;
  }
  const testing::TempDir& dir_;
};

// The common name of the certificate the server at 127.0.0.1:port presents in a new handshake,
// verified against ca_file; "<handshake failed>" when it cannot be.
std::string ServedCommonName(int port, const std::string& ca_file) {
  std::unique_ptr<SSL_CTX, decltype(&SSL_CTX_free)> ctx(SSL_CTX_new(TLS_client_method()), SSL_CTX_free);
  SSL_CTX_load_verify_locations(ctx.get(), ca_file.c_str(), nullptr);
  SSL_CTX_set_verify(ctx.get(), SSL_VERIFY_PEER, nullptr);
  std::unique_ptr<BIO, decltype(&BIO_free_all)> bio(BIO_new_ssl_connect(ctx.get()), BIO_free_all);
  BIO_set_conn_hostname(bio.get(), ("127.0.0.1:" + std::to_string(port)).c_str());
  if (BIO_do_connect(bio.get()) != 1 || BIO_do_handshake(bio.get()) != 1) return "<handshake failed>";
  SSL* ssl = nullptr;
  BIO_get_ssl(bio.get(), &ssl);
  std::unique_ptr<X509, decltype(&X509_free)> cert(SSL_get1_peer_certificate(ssl), X509_free);
  char name[256] = "";
  X509_NAME_get_text_by_NID(X509_get_subject_name(cert.get()), NID_commonName, name, sizeof name);
  return name;
}

class HttpServerTlsTest : public HttpServerTest {
 protected:
  void SetUp() override {
    certificates_.Issue("first");
    HttpServer::Options options = LoopbackOptions();
    options.tls_cert_file = dir_.path() + "/served.crt";
    options.tls_key_file = dir_.path() + "/served.key";
    Serve("first");
    Start(options);
  }

  // Copies name's certificate and key to the files the server reads.
  void Serve(const std::string& name) {
    std::filesystem::copy_file(dir_.path() + "/" + name + ".crt", dir_.path() + "/served.crt",
                               std::filesystem::copy_options::overwrite_existing);
    std::filesystem::copy_file(dir_.path() + "/" + name + ".key", dir_.path() + "/served.key",
                               std::filesystem::copy_options::overwrite_existing);
  }

  std::unique_ptr<httplib::SSLClient> VerifyingClient() {
    auto client = std::make_unique<httplib::SSLClient>("127.0.0.1", server_->port());
    client->set_ca_cert_path(certificates_.ca().c_str());
    client->enable_server_certificate_verification(true);
    return client;
  }

  testing::TempDir dir_;
  TestCertificates certificates_{dir_};
};

TEST_F(HttpServerTlsTest, ServesWritesAndMetricsOverHttpsOnly) {
  std::unique_ptr<httplib::SSLClient> client = VerifyingClient();
  httplib::Headers headers = {{"Content-Encoding", "snappy"}};
  auto write = client->Post("/api/v1/write", headers, OneSampleV1(), "application/x-protobuf");
  ASSERT_TRUE(write) << httplib::to_string(write.error());
  EXPECT_EQ(write->status, 204);
  EXPECT_EQ(sink_.samples.load(), 1u);
  auto metrics = client->Get("/metrics");
  ASSERT_TRUE(metrics);
  EXPECT_EQ(metrics->status, 200);
  EXPECT_EQ(server_->TlsSubject(), "CN = first");
  client_->set_connection_timeout(2);
  client_->set_read_timeout(2);
  EXPECT_FALSE(client_->Get("/-/healthy")) << "plain HTTP was answered on the HTTPS port";
}

TEST_F(HttpServerTlsTest, ReloadServesTheNewCertificateToNewConnections) {
  std::unique_ptr<httplib::SSLClient> kept = VerifyingClient();
  ASSERT_TRUE(kept->Get("/-/healthy"));
  EXPECT_EQ(ServedCommonName(server_->port(), certificates_.ca()), "first");
  certificates_.Issue("second");
  Serve("second");
  std::string error;
  ASSERT_TRUE(server_->Reload(&error)) << error;
  EXPECT_EQ(ServedCommonName(server_->port(), certificates_.ca()), "second");
  EXPECT_EQ(server_->TlsSubject(), "CN = second");
  // The listener stayed: a connection from before the reload still works.
  auto after = kept->Get("/-/healthy");
  ASSERT_TRUE(after);
  EXPECT_EQ(after->status, 200);
}

TEST_F(HttpServerTlsTest, ABadFileAtReloadKeepsTheOldCertificate) {
  certificates_.Issue("second");
  // second's certificate with first's key: they do not match.
  std::filesystem::copy_file(dir_.path() + "/second.crt", dir_.path() + "/served.crt",
                             std::filesystem::copy_options::overwrite_existing);
  std::string error;
  EXPECT_FALSE(server_->Reload(&error));
  EXPECT_EQ(error, "the key in " + dir_.path() + "/served.key does not match the certificate in " + dir_.path() +
                       "/served.crt");
  EXPECT_EQ(ServedCommonName(server_->port(), certificates_.ca()), "first");

  dir_.Write("served.crt", "not a certificate\n");
  EXPECT_FALSE(server_->Reload(&error));
  EXPECT_EQ(error.rfind("no PEM certificate in " + dir_.path() + "/served.crt: ", 0), 0u) << error;
  EXPECT_EQ(ServedCommonName(server_->port(), certificates_.ca()), "first");
  auto still = VerifyingClient()->Get("/-/ready");
  ASSERT_TRUE(still);
  EXPECT_EQ(still->status, 200);
}

TEST_F(HttpServerTlsTest, MissingOrHalfConfiguredTlsFailsBind) {
  HttpServer::Options options = LoopbackOptions();
  options.tls_cert_file = dir_.path() + "/first.crt";
  HttpServer half(options, &handler_, registry_);
  std::string error;
  EXPECT_FALSE(half.Bind(&error));
  EXPECT_EQ(error, "--web.tls-cert-file and --web.tls-key-file go together");
  options.tls_key_file = dir_.path() + "/absent.key";
  HttpServer missing(options, &handler_, registry_);
  EXPECT_FALSE(missing.Bind(&error));
  EXPECT_EQ(error.rfind("no PEM private key in " + dir_.path() + "/absent.key", 0), 0u) << error;
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
