// HttpServer is prom2gcm's HTTP face (cpp-httplib): POST /api/v1/write (through WriteHandler),
// GET /metrics (the registry in Prometheus text format), GET /-/healthy and GET /-/ready. With
// credentials configured, writes (and, if asked, the other endpoints) without valid ones get 401.
// With a certificate and key, everything is served over HTTPS only.
//
// Plain HTTP is served by a GatedServer (gated_server.h): idle keep-alive connections wait without a
// worker, and a request must arrive in full within the read timeout. HTTPS keeps httplib's own
// connection handling.
//
// Owns the httplib server, its worker pool, the Authenticator and the TlsCertificate. Thread-safety:
// Serve() blocks in one thread; Stop(), Reload() and set_ready() may be called from any other.
#ifndef PROM2GCM_SERVER_HTTP_SERVER_H_
#define PROM2GCM_SERVER_HTTP_SERVER_H_

#include <atomic>
#include <functional>
#include <memory>
#include <mutex>
#include <string>

#include <prometheus/registry.h>

#include "server/authenticator.h"
#include "server/tls_certificate.h"
#include "server/write_handler.h"

namespace httplib {
class Server;
struct Request;
struct Response;
class ContentReader;
}

namespace prom2gcm {

// Splits "host:port", ":port" (all interfaces) or "[v6]:port". Returns false on malformed input.
bool ParseListenAddress(const std::string& address, std::string* host, int* port);

// Binds server to address; port 0 picks a free port. Stores the bound port in *port, or returns
// false with *error set.
bool BindListenAddress(httplib::Server& server, const std::string& address, int* port, std::string* error);

class HttpServer {
 public:
  struct Options {
    std::string listen_address = ":9201";
    size_t max_body_bytes = 32 << 20;  // as sent (compressed)
    int worker_threads = 8;
    int read_timeout_seconds = 30;  // plain HTTP: for a whole request, from its first byte
    int idle_timeout_seconds = 300;  // plain HTTP: a keep-alive connection without a request is closed
    Authenticator::Options auth;            // no files: no authentication
    bool auth_metrics_and_health = false;  // also require credentials on /metrics and /-/*
    std::string tls_cert_file, tls_key_file;  // both or neither; both: HTTPS
  };

  HttpServer(const Options& options, WriteHandler* handler, std::shared_ptr<prometheus::Registry> registry);
  ~HttpServer();

  // Loads the credential and TLS files and binds the listen address; port 0 picks a free port (see
  // port()). Returns false with *error set.
  bool Bind(std::string* error);
  // Re-reads the credential and TLS files (on SIGHUP) for the requests and connections that follow;
  // the listener and open connections stay. What fails to load keeps its previous version; returns
  // false with *error saying what.
  bool Reload(std::string* error);
  bool tls() const { return tls_ != nullptr; }
  std::string TlsSubject() const { return tls_ ? tls_->Subject() : ""; }
  int port() const { return port_; }
  void Serve();  // REQUIRES: Bind() succeeded. Returns after Stop(), at once if Stop() came first.
  void Stop();
  void set_ready(bool ready) { ready_.store(ready); }

 private:
  void Route();
  using Handler = std::function<void(const httplib::Request&, httplib::Response&)>;
  // Whether the request may go on; if not, answers 401. `always`: the write route, which is checked
  // whenever credentials are configured; other routes only with --web.auth-metrics-and-health.
  bool Admit(const httplib::Request& req, httplib::Response& res, bool always);
  Handler Authenticated(bool always, Handler handler);
  void HandleWrite(const httplib::Request& req, httplib::Response& res, const httplib::ContentReader& content_reader);

  // A write body buffer above this is freed after its request instead of kept for the thread's next.
  static constexpr size_t kKeptBodyBytes = 4 << 20;

  const Options options_;
  WriteHandler* const handler_;
  std::shared_ptr<prometheus::Registry> registry_;
  Authenticator authenticator_;
  std::unique_ptr<TlsCertificate> tls_;     // null without TLS
  std::unique_ptr<httplib::Server> server_;  // an httplib::SSLServer with TLS
  int port_ = 0;
  std::atomic<bool> ready_{true};
  std::mutex serve_mutex_;  // orders Serve()'s start against Stop()
  bool serve_started_ = false, stop_requested_ = false;
  std::atomic<bool> serve_returned_{false};
};

}  // namespace prom2gcm

#endif  // PROM2GCM_SERVER_HTTP_SERVER_H_
