#include "server/gated_server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <tuple>
#include <unordered_map>

namespace prom2gcm {
namespace {

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

void CloseConnection(int sock) {
  ::shutdown(sock, SHUT_RDWR);
  ::close(sock);
}

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
// request line and headers a byte at a time) that fail once the current request's deadline passes or
// the server stops.
class DeadlineStream : public httplib::Stream {
 public:
  DeadlineStream(int sock, const std::atomic<socket_t>* listener, int write_timeout_ms)
      : sock_(sock), listener_(listener), write_timeout_ms_(write_timeout_ms) {}

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
      if (!WaitReadable()) return -1;
      if (size >= sizeof buffer_) return Received(recv(sock_, ptr, size, 0));
      const ssize_t n = Received(recv(sock_, buffer_, sizeof buffer_, 0));
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
    if (!is_writable()) return -1;
    return send(sock_, ptr, size, MSG_NOSIGNAL);
  }

  void get_remote_ip_and_port(std::string& ip, int& port) const override { AddressOf(sock_, true, ip, port); }
  void get_local_ip_and_port(std::string& ip, int& port) const override { AddressOf(sock_, false, ip, port); }
  socket_t socket() const override { return sock_; }

 private:
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
  ssize_t Received(ssize_t n) {
    if (n <= 0) Fail();
    return n;
  }
  bool Fail() const {
    failed_ = true;
    return false;
  }

  const int sock_;
  const std::atomic<socket_t>* const listener_;
  const int write_timeout_ms_;
  int64_t deadline_ms_ = 0;
  mutable bool failed_ = false;
  char buffer_[4096];
  size_t pos_ = 0, len_ = 0;
};

}  // namespace

// Holds idle connections in one epoll set, hands those that become readable back to the workers and
// closes those idle too long. Attached to the worker pool while the server listens.
class ConnectionGate {
 public:
  ConnectionGate(int idle_timeout_ms, std::function<void(int)> serve)
      : idle_timeout_ms_(idle_timeout_ms), serve_(std::move(serve)), epoll_fd_(epoll_create1(EPOLL_CLOEXEC)) {
    thread_ = std::thread([this] { Run(); });
  }

  ~ConnectionGate() {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      stopping_ = true;
    }
    thread_.join();
    CloseParked();
    ::close(epoll_fd_);
  }

  // The pool connections are served on, while the server listens; null when it stops.
  void Attach(httplib::TaskQueue* pool) {
    std::lock_guard<std::mutex> lock(mutex_);
    pool_ = pool;
    if (pool == nullptr) CloseParked();
  }

  void Park(int sock) {
    std::lock_guard<std::mutex> lock(mutex_);
    if (pool_ == nullptr || stopping_) return CloseConnection(sock);
    const uint64_t generation = ++generation_;
    const int64_t deadline = NowMs() + idle_timeout_ms_;
    epoll_event event{};
    event.events = EPOLLIN | EPOLLRDHUP | EPOLLONESHOT;
    event.data.fd = sock;
    if (epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, sock, &event) != 0) return CloseConnection(sock);
    parked_[sock] = generation;
    expiries_.emplace_back(deadline, generation, sock);
  }

  size_t parked() {
    std::lock_guard<std::mutex> lock(mutex_);
    return parked_.size();
  }

 private:
  void Run() {
    epoll_event events[128];
    for (;;) {
      const int n = epoll_wait(epoll_fd_, events, 128, 50);
      std::lock_guard<std::mutex> lock(mutex_);
      if (stopping_) return;
      for (int i = 0; i < n; ++i) {
        const int sock = events[i].data.fd;
        if (parked_.erase(sock) == 0) continue;
        epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, sock, nullptr);
        if (pool_ == nullptr) {
          CloseConnection(sock);
        } else {
          pool_->enqueue([serve = serve_, sock] { serve(sock); });
        }
      }
      // Deadlines are pushed in order (one idle timeout for all); entries of connections that woke up
      // since are stale (another generation, or gone) and skipped.
      const int64_t now = NowMs();
      while (!expiries_.empty() && std::get<0>(expiries_.front()) <= now) {
        const auto [deadline, generation, sock] = expiries_.front();
        expiries_.pop_front();
        auto it = parked_.find(sock);
        if (it == parked_.end() || it->second != generation) continue;
        parked_.erase(it);
        epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, sock, nullptr);
        CloseConnection(sock);
      }
    }
  }

  // REQUIRES: mutex_ held, or the thread joined.
  void CloseParked() {
    for (const auto& [sock, generation] : parked_) {
      epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, sock, nullptr);
      CloseConnection(sock);
    }
    parked_.clear();
    expiries_.clear();
  }

  const int idle_timeout_ms_;
  const std::function<void(int)> serve_;
  const int epoll_fd_;
  std::mutex mutex_;
  httplib::TaskQueue* pool_ = nullptr;
  bool stopping_ = false;
  uint64_t generation_ = 0;
  std::unordered_map<int, uint64_t> parked_;                 // socket -> generation of its parking
  std::deque<std::tuple<int64_t, uint64_t, int>> expiries_;  // (deadline, generation, socket)
  std::thread thread_;
};

namespace {

// The worker pool httplib creates per listen: attaches itself to the gate, and detaches (closing the
// parked connections) before its workers are joined.
class GatedPool : public httplib::TaskQueue {
 public:
  GatedPool(ConnectionGate* gate, size_t workers) : gate_(gate), pool_(workers) { gate_->Attach(this); }
  void enqueue(std::function<void()> fn) override { pool_.enqueue(std::move(fn)); }
  void shutdown() override {
    gate_->Attach(nullptr);
    pool_.shutdown();
  }

 private:
  ConnectionGate* const gate_;
  httplib::ThreadPool pool_;
};

}  // namespace

GatedServer::GatedServer(int workers, int request_timeout_seconds, int idle_timeout_seconds)
    : request_timeout_ms_(request_timeout_seconds * 1000),
      gate_(std::make_unique<ConnectionGate>(idle_timeout_seconds * 1000,
                                             [this](int sock) { process_and_close_socket(sock); })) {
  set_read_timeout(request_timeout_seconds, 0);
  new_task_queue = [this, workers] { return new GatedPool(gate_.get(), static_cast<size_t>(workers)); };
}

GatedServer::~GatedServer() { gate_.reset(); }

size_t GatedServer::parked() const { return gate_->parked(); }

void GatedServer::RaiseListenBacklog() {
  const socket_t listener = svr_sock_;
  if (listener != INVALID_SOCKET) ::listen(listener, SOMAXCONN);  // Linux updates the backlog in place
}

bool GatedServer::process_and_close_socket(socket_t sock) {
  DeadlineStream stream(sock, &svr_sock_, static_cast<int>(write_timeout_sec_ * 1000 + write_timeout_usec_ / 1000));
  while (svr_sock_ != INVALID_SOCKET) {
    if (!stream.buffered()) {
      pollfd p{sock, POLLIN, 0};
      const int rc = poll(&p, 1, 0);
      if (rc == 0) {  // nothing to read yet: wait without a worker
        gate_->Park(sock);
        return true;
      }
      if (rc < 0 || (p.revents & (POLLERR | POLLNVAL)) != 0) break;
    }
    stream.StartRequest(NowMs() + request_timeout_ms_);
    bool connection_closed = false;
    const bool ok = process_request(stream, /*close_connection=*/false, connection_closed, nullptr);
    // A request cut off by its deadline (or a read error) leaves the connection in an unknown state.
    if (!ok || connection_closed || stream.failed()) break;
  }
  CloseConnection(sock);
  return true;
}

}  // namespace prom2gcm
