#include "server/gated_server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "server/connection_gate.h"

namespace prom2gcm {
namespace {

void AddressOf(int sock, bool peer, std::string& ip, int& port) {
  sockaddr_storage addr{};
  socklen_t len = sizeof addr;
  const int rc = peer ? getpeername(sock, reinterpret_cast<sockaddr*>(&addr), &len)
                      : getsockname(sock, reinterpret_cast<sockaddr*>(&addr), &len);
  if (rc != 0) return;
  char text[INET6_ADDRSTRLEN] = {};
  if (addr.ss_family == AF_INET) {
    const auto* a = reinterpret_cast<const sockaddr_in*>(&addr);
    inet_ntop(AF_INET, &a->sin_addr, text, sizeof text);
    port = ntohs(a->sin_port);
  } else if (addr.ss_family == AF_INET6) {
    const auto* a = reinterpret_cast<const sockaddr_in6*>(&addr);
    inet_ntop(AF_INET6, &a->sin6_addr, text, sizeof text);
    port = ntohs(a->sin6_port);
  }
  ip = text;
}

// A connection's stream for the requests of one turn on a worker: buffered reads (httplib reads the
// request line and headers a byte at a time, and bodies in 4 KiB pieces) that fail once the current
// request's deadline passes or the server stops. Reads and writes try the socket first and wait
// (poll) only when it would block: a wait is one more system call, and the bytes are usually there.
// Owns the read buffer; borrows the connection. Thread-compatible: one worker uses it.
class DeadlineStream : public httplib::Stream {
 public:
  DeadlineStream(Connection* connection, const std::atomic<socket_t>* listener, int write_timeout_ms)
      : connection_(connection), sock_(connection->sock), listener_(listener), write_timeout_ms_(write_timeout_ms) {}

  void StartRequest(int64_t deadline_ms) { deadline_ms_ = deadline_ms; }
  bool buffered() const { return pos_ < len_; }
  bool failed() const { return failed_; }

  bool is_readable() const override { return buffered() || WaitReadable(); }
  bool is_writable() const override {
    pollfd p{sock_, POLLOUT, 0};
    return poll(&p, 1, write_timeout_ms_) > 0 && (p.revents & POLLOUT) != 0;
  }

  ssize_t read(char* ptr, size_t size) override {
    if (!buffered()) {
      const ssize_t n = Receive();
      if (n <= 0) return n;
      pos_ = 0;
      len_ = static_cast<size_t>(n);
    }
    const size_t n = std::min(size, len_ - pos_);
    std::memcpy(ptr, buffer_ + pos_, n);
    pos_ += n;
    return static_cast<ssize_t>(n);
  }

  ssize_t write(const char* ptr, size_t size) override {
    for (;;) {
      const ssize_t n = send(sock_, ptr, size, MSG_NOSIGNAL | MSG_DONTWAIT);
      if (n >= 0 || (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) return n;
      if (errno != EINTR && !is_writable()) return -1;
    }
  }

  void get_remote_ip_and_port(std::string& ip, int& port) const override {
    if (connection_->remote_port < 0) AddressOf(sock_, true, connection_->remote_ip, connection_->remote_port);
    ip = connection_->remote_ip;
    port = connection_->remote_port;
  }
  void get_local_ip_and_port(std::string& ip, int& port) const override {
    if (connection_->local_port < 0) AddressOf(sock_, false, connection_->local_ip, connection_->local_port);
    ip = connection_->local_ip;
    port = connection_->local_port;
  }
  socket_t socket() const override { return sock_; }

 private:
  // Fills the buffer with what has arrived, waiting for bytes (until the deadline) only if none has.
  ssize_t Receive() {
    for (;;) {
      const ssize_t n = recv(sock_, buffer_, sizeof buffer_, MSG_DONTWAIT);
      if (n > 0) return n;
      if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) {
        Fail();
        return n;
      }
      if (errno != EINTR && !WaitReadable()) return -1;
    }
  }
  // Waits for bytes until the deadline, in slices so a stopping server is noticed.
  bool WaitReadable() const {
    for (;;) {
      const int64_t left = deadline_ms_ - NowMs();
      if (left <= 0 || *listener_ == INVALID_SOCKET) return Fail();
      pollfd p{sock_, POLLIN, 0};
      const int rc = poll(&p, 1, static_cast<int>(std::min<int64_t>(left, 200)));
      if (rc > 0) return true;  // readable, or hung up / an error, which recv reports
      if (rc < 0 && errno != EINTR) return Fail();
    }
  }
  bool Fail() const {
    failed_ = true;
    return false;
  }

  Connection* const connection_;
  const int sock_;
  const std::atomic<socket_t>* const listener_;
  const int write_timeout_ms_;
  int64_t deadline_ms_ = 0;
  mutable bool failed_ = false;
  // Large enough for a typical compressed remote-write request in one recv (on a worker's stack).
  char buffer_[64 << 10];
  size_t pos_ = 0, len_ = 0;
};

// The worker pool httplib creates per listen: workers that take their work from the gate, attached
// while the server listens. shutdown() detaches it (closing the parked connections) and joins them.
// Owns its threads. Thread-safety: enqueue() from any thread; shutdown() once, from httplib's listener.
class GatedPool : public httplib::TaskQueue {
 public:
  GatedPool(ConnectionGate* gate, size_t workers, std::function<void(std::unique_ptr<Connection>)> serve)
      : gate_(gate), serve_(std::move(serve)) {
    gate_->Attach(true);
    for (size_t i = 0; i < workers; ++i) threads_.emplace_back([this] { Work(); });
  }
  void enqueue(std::function<void()> fn) override { gate_->Submit(std::move(fn)); }
  void shutdown() override {
    gate_->Attach(false);
    for (std::thread& thread : threads_) thread.join();
  }

 private:
  void Work() {
    ConnectionGate::Work work;
    while (gate_->Next(&work)) {
      if (work.job) std::exchange(work.job, nullptr)();
      if (work.connection) serve_(std::move(work.connection));
    }
  }

  ConnectionGate* const gate_;
  const std::function<void(std::unique_ptr<Connection>)> serve_;
  std::vector<std::thread> threads_;
};

}  // namespace

GatedServer::GatedServer(int workers, int request_timeout_seconds, int idle_timeout_seconds)
    : request_timeout_ms_(request_timeout_seconds * 1000),
      gate_(std::make_unique<ConnectionGate>(idle_timeout_seconds * 1000)) {
  set_read_timeout(request_timeout_seconds, 0);
  new_task_queue = [this, workers] {
    return new GatedPool(gate_.get(), static_cast<size_t>(workers),
                         [this](std::unique_ptr<Connection> connection) { Serve(std::move(connection)); });
  };
}

GatedServer::~GatedServer() { gate_.reset(); }

size_t GatedServer::parked() const { return gate_->parked(); }

void GatedServer::RaiseListenBacklog() {
  const socket_t listener = svr_sock_;
  if (listener != INVALID_SOCKET) ::listen(listener, SOMAXCONN);  // Linux updates the backlog in place
}

// A new connection waits in the gate for its first bytes like any other: a worker would block on it.
bool GatedServer::process_and_close_socket(socket_t sock) {
  gate_->Park(std::make_unique<Connection>(sock));
  return true;
}

// The gate hands over a connection whose bytes have arrived. After each request it goes back to the
// gate unless bytes of the next one are already buffered; if the next request has arrived meanwhile,
// the gate hands it out again at once.
void GatedServer::Serve(std::unique_ptr<Connection> connection) {
  DeadlineStream stream(connection.get(), &svr_sock_,
                        static_cast<int>(write_timeout_sec_ * 1000 + write_timeout_usec_ / 1000));
  while (svr_sock_ != INVALID_SOCKET) {
    stream.StartRequest(NowMs() + request_timeout_ms_);
    bool connection_closed = false;
    const bool ok = process_request(stream, /*close_connection=*/false, connection_closed, nullptr);
    // A request cut off by its deadline (or a read error) leaves the connection in an unknown state.
    if (!ok || connection_closed || stream.failed()) break;
    if (!stream.buffered()) return gate_->Park(std::move(connection));
  }
  CloseConnection(connection->sock);
}

}  // namespace prom2gcm
