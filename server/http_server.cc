#include "server/http_server.h"

#include <httplib.h>
#include <prometheus/text_serializer.h>

#include <charconv>
#include <thread>

#include "server/gated_server.h"

namespace prom2gcm {

bool ParseListenAddress(const std::string& address, std::string* host, int* port) {
  const size_t colon = address.rfind(':');
  if (colon == std::string::npos) return false;
  std::string h = address.substr(0, colon);
  if (h.size() >= 2 && h.front() == '[' && h.back() == ']') h = h.substr(1, h.size() - 2);
  const std::string p = address.substr(colon + 1);
  int value = -1;
  auto [end, ec] = std::from_chars(p.data(), p.data() + p.size(), value);
  if (ec != std::errc() || end != p.data() + p.size() || value < 0 || value > 65535) return false;
  *host = h.empty() ? "0.0.0.0" : h;
  *port = value;
  return true;
}

namespace {

std::unique_ptr<httplib::Server> MakeServer(TlsCertificate* tls, const HttpServer::Options& options) {
  if (tls == nullptr) {
    return std::make_unique<GatedServer>(options.worker_threads, options.read_timeout_seconds,
                                         options.idle_timeout_seconds);
  }
  return std::make_unique<httplib::SSLServer>([tls](SSL_CTX& ctx) {
    tls->Configure(&ctx);
    return true;
  });
}

}  // namespace

HttpServer::HttpServer(const Options& options, WriteHandler* handler,
                       std::shared_ptr<prometheus::Registry> registry)
    : options_(options), handler_(handler), registry_(std::move(registry)),
      authenticator_(options.auth, *registry_),
      tls_(options.tls_cert_file.empty() && options.tls_key_file.empty()
               ? nullptr
               : std::make_unique<TlsCertificate>(options.tls_cert_file, options.tls_key_file)),
      server_(MakeServer(tls_.get(), options)) {
  if (dynamic_cast<GatedServer*>(server_.get()) == nullptr) {  // GatedServer has its own pool and timeouts
    const int threads = options_.worker_threads;
    server_->new_task_queue = [threads] { return new httplib::ThreadPool(threads); };
    server_->set_read_timeout(options_.read_timeout_seconds, 0);
  }
  server_->set_payload_max_length(options_.max_body_bytes);
  // Answers are small and written in pieces; without this, Nagle delays each by tens of ms.
  server_->set_tcp_nodelay(true);
  Route();
}

HttpServer::~HttpServer() { Stop(); }

bool HttpServer::Admit(const httplib::Request& req, httplib::Response& res, bool always) {
  if (!authenticator_.enabled() || !(always || options_.auth_metrics_and_health)) return true;
  const Authenticator::Decision decision = authenticator_.Check(req.get_header_value("Authorization"));
  if (decision.allowed) return true;
  res.status = 401;
  for (const std::string& challenge : authenticator_.Challenges()) res.headers.emplace("WWW-Authenticate", challenge);
  res.set_content(decision.reason + "\n", "text/plain; charset=utf-8");
  return false;
}

// httplib runs these handlers after it has read the request's body, so a refused request leaves its
// keep-alive connection ready for the next one.
HttpServer::Handler HttpServer::Authenticated(bool always, Handler handler) {
  return [this, always, handler = std::move(handler)](const httplib::Request& req, httplib::Response& res) {
    if (Admit(req, res, always)) handler(req, res);
  };
}

// The write route reads the body itself, into a buffer of its thread that keeps its capacity from one
// request to the next: httplib's own req.body is a new string per request grown by appending, which
// cost an allocation and a copy per doubling, and (the freed strings fragmenting the heap between
// long-lived blocks) fresh pages: a third of a bench run's page faults (BENCHMARKS.md, Session 5).
// The body is read in full before anything can refuse the request, to keep the connection usable.
void HttpServer::HandleWrite(const httplib::Request& req, httplib::Response& res,
                             const httplib::ContentReader& content_reader) {
  // Views into req's header strings, which outlive the call.
  auto header = [&req](const char* name) -> std::string_view {
    auto it = req.headers.find(name);
    return it == req.headers.end() ? std::string_view() : std::string_view(it->second);
  };
  thread_local std::string body;
  body.clear();
  const std::string_view length = header("Content-Length");
  uint64_t expected = 0;
  std::from_chars(length.data(), length.data() + length.size(), expected);
  if (expected <= options_.max_body_bytes && expected > body.capacity()) body.reserve(expected);
  const bool received = content_reader([](const char* data, size_t size) {
    body.append(data, size);
    return true;
  });
  if (received && Admit(req, res, true)) {
    WriteHttpRequest request;
    request.content_type = header("Content-Type");
    request.content_encoding = header("Content-Encoding");
    request.body = body;
    WriteHttpResponse response = handler_->Handle(request);
    res.status = response.status;
    for (auto& [name, value] : response.headers) res.set_header(name.c_str(), value);
    if (!response.body.empty()) res.set_content(response.body + "\n", "text/plain; charset=utf-8");
  }  // else httplib has set 400 or 413 (the error handler gives the reason), or Admit 401
  if (body.capacity() > kKeptBodyBytes) std::string().swap(body);  // a rare large body is not kept
}

void HttpServer::Route() {
  server_->Post("/api/v1/write", [this](const httplib::Request& req, httplib::Response& res,
                                        const httplib::ContentReader& content_reader) {
    HandleWrite(req, res, content_reader);
  });
  server_->Get("/metrics", Authenticated(false, [this](const httplib::Request&, httplib::Response& res) {
    res.set_content(prometheus::TextSerializer().Serialize(registry_->Collect()),
                    "text/plain; version=0.0.4; charset=utf-8");
  }));
  server_->Get("/-/healthy", Authenticated(false, [](const httplib::Request&, httplib::Response& res) {
    res.set_content("prom2gcm is Healthy.\n", "text/plain");
  }));
  server_->Get("/-/ready", Authenticated(false, [this](const httplib::Request&, httplib::Response& res) {
    if (ready_.load()) {
      res.set_content("prom2gcm is Ready.\n", "text/plain");
    } else {
      res.status = 503;
      res.set_content("prom2gcm is shutting down.\n", "text/plain");
    }
  }));
  // httplib answers 413 itself for bodies over the payload limit; give it a reason line too.
  server_->set_error_handler([](const httplib::Request&, httplib::Response& res) {
    if (!res.body.empty()) return;
    if (res.status == 413) res.set_content("request body over the size limit\n", "text/plain");
    if (res.status == 400) {
      res.set_content("malformed HTTP request, or its body not received in full within --web.read-timeout\n",
                      "text/plain");
    }
  });
}

bool BindListenAddress(httplib::Server& server, const std::string& address, int* port, std::string* error) {
  std::string host;
  int wanted = 0;
  if (!ParseListenAddress(address, &host, &wanted)) {
    *error = "invalid listen address \"" + address + "\": want host:port";
    return false;
  }
  if (wanted == 0) {
    *port = server.bind_to_any_port(host);
    if (*port > 0) return true;
  } else if (server.bind_to_port(host, wanted)) {
    *port = wanted;
    return true;
  }
  *error = "cannot listen on " + address;
  return false;
}

bool HttpServer::Bind(std::string* error) {
  if (options_.tls_cert_file.empty() != options_.tls_key_file.empty()) {
    *error = "--web.tls-cert-file and --web.tls-key-file go together";
    return false;
  }
  if (!Reload(error) || !BindListenAddress(*server_, options_.listen_address, &port_, error)) return false;
  if (auto* gated = dynamic_cast<GatedServer*>(server_.get())) gated->RaiseListenBacklog();
  return true;
}

bool HttpServer::Reload(std::string* error) {
  std::string auth_error, tls_error;
  const bool auth_ok = !authenticator_.enabled() || authenticator_.Load(&auth_error);
  const bool tls_ok = !tls_ || tls_->Load(&tls_error);
  *error = auth_error + (auth_ok || tls_ok ? "" : "; ") + tls_error;
  return auth_ok && tls_ok;
}

void HttpServer::Serve() {
  {
    std::lock_guard<std::mutex> lock(serve_mutex_);
    if (stop_requested_) return;
    serve_started_ = true;
  }
  server_->listen_after_bind();
  serve_returned_.store(true);
}

void HttpServer::Stop() {
  {
    std::lock_guard<std::mutex> lock(serve_mutex_);
    stop_requested_ = true;
    if (!serve_started_) return;
  }
  // httplib's stop() does nothing until its accept loop has begun, which Serve() may not have reached.
  while (!server_->is_running() && !serve_returned_.load()) std::this_thread::yield();
  server_->stop();
}

}  // namespace prom2gcm
