// GatedServer: cpp-httplib's plain-HTTP server, with two defences httplib 0.11 lacks.
//
//  - A connection waiting for its next request holds no worker. httplib runs each connection on a
//    worker from accept to close, waiting up to its keep-alive timeout for every request, so a few
//    thousand idle connections queue in front of everyone else for minutes. Here a worker serves a
//    connection only while it has bytes to read; then the connection is parked in one epoll set (the
//    ConnectionGate) until its next bytes arrive or it has been idle for idle_timeout (and is closed).
//    The idle workers themselves wait on that epoll set, so the worker woken by a connection's bytes
//    serves them (no hand-off between threads). Parked connections cost a file descriptor and ~150
//    bytes.
//  - A request must arrive in full, request line, headers and body, within request_timeout of its
//    first byte. httplib's read timeout bounds each read only, so a client sending a byte a second
//    (or a body shorter than its Content-Length, then nothing) held a worker indefinitely or until
//    the per-read timeout; here it is cut off (a short body is answered 400, then closed).
//
// HTTPS (httplib::SSLServer) keeps httplib's own connection handling; see README "Hostile input".
// Thread-safety: as httplib::Server.
#ifndef PROM2GCM_SERVER_GATED_SERVER_H_
#define PROM2GCM_SERVER_GATED_SERVER_H_

#include <httplib.h>

#include <memory>

namespace prom2gcm {

class ConnectionGate;
struct Connection;

class GatedServer : public httplib::Server {
 public:
  GatedServer(int workers, int request_timeout_seconds, int idle_timeout_seconds);
  ~GatedServer() override;

  // Connections parked now, waiting for their next request.
  size_t parked() const;

  // httplib listens with a backlog of 5: a burst of connections (a restart of many senders, or a
  // flood) overflows it, and each dropped SYN costs its client a 1 s+ retransmission. Call after
  // binding; raises it to SOMAXCONN (the kernel caps it at net.core.somaxconn).
  void RaiseListenBacklog();

 private:
  // Called by httplib on a worker for each accepted connection: parks it until its first bytes.
  bool process_and_close_socket(socket_t sock) override;
  // Serves the requests whose bytes have arrived on connection, then parks or closes it.
  void Serve(std::unique_ptr<Connection> connection);

  const int request_timeout_ms_;
  std::unique_ptr<ConnectionGate> gate_;
};

}  // namespace prom2gcm

#endif  // PROM2GCM_SERVER_GATED_SERVER_H_
