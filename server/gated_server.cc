#include "server/gated_server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <tuple>
#include <unordered_map>
#include <utility>
#include <vector>

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

}  // namespace

// An accepted connection, with what it keeps between its turns on a worker. Owned by the worker
// serving it, or by the gate while it is parked; used by one thread at a time.
struct Connection {
  explicit Connection(int s) : sock(s) {}
  const int sock;
  bool in_epoll = false;  // added to the gate's epoll set once; re-armed (EPOLL_CTL_MOD) at each park
  // httplib asks for both addresses at every request; the kernel is asked once per connection.
  std::string remote_ip, local_ip;
  int remote_port = -1, local_port = -1;
};

namespace {

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

}  // namespace

// Holds the connections waiting for their next request in one epoll set, and the jobs httplib's
// accept loop hands to the workers. The workers of the attached pool wait in Next() for either: the
// one woken serves the connection itself. Connections idle longer than idle_timeout are closed by
// whichever worker finds the sweep due. The parked connections are split over shards by descriptor,
// each with its own mutex: with one, the workers parking and taking connections at every request
// queued on it (about 3 contended futex calls a request). Thread-safety: all methods may be called
// from any thread.
class ConnectionGate {
 public:
  // What Next() hands a worker: a job, a connection to serve, or neither (nothing yet).
  struct Work {
    std::function<void()> job;
    std::unique_ptr<Connection> connection;
  };

  explicit ConnectionGate(int idle_timeout_ms)
      : idle_timeout_ms_(idle_timeout_ms),
        epoll_fd_(epoll_create1(EPOLL_CLOEXEC)),
        jobs_fd_(eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) {
    epoll_event event{};
    event.events = EPOLLIN;  // level-triggered: stays readable while jobs wait, or once stopping
    event.data.u64 = kJobsKey;
    epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, jobs_fd_, &event);
  }

  ~ConnectionGate() {
    CloseParked();
    ::close(jobs_fd_);
    ::close(epoll_fd_);
  }

  // Starts (attached) or stops handing out work. Stopping closes the parked connections and wakes the
  // waiting workers; they run the jobs left, then Next() returns false.
  void Attach(bool attached) {
    attached_ = attached;  // before the shards are locked: a Park() after their clean-up sees it
    if (!attached) {
      CloseParked();
      Signal();
    }
  }

  void Submit(std::function<void()> job) {
    {
      std::lock_guard<std::mutex> lock(jobs_mutex_);
      jobs_.push_back(std::move(job));
    }
    Signal();
  }

  // Waits for the connection's next bytes (or closes it when detached).
  void Park(std::unique_ptr<Connection> connection) {
    const int sock = connection->sock;
    Shard& shard = ShardOf(sock);
    std::lock_guard<std::mutex> lock(shard.mutex);
    if (!attached_) return CloseConnection(sock);
    const uint32_t generation = ++shard.generation;
    epoll_event event{};
    event.events = EPOLLIN | EPOLLRDHUP | EPOLLONESHOT;
    event.data.u64 = Key(sock, generation);
    const int op = connection->in_epoll ? EPOLL_CTL_MOD : EPOLL_CTL_ADD;
    if (epoll_ctl(epoll_fd_, op, sock, &event) != 0) return CloseConnection(sock);
    connection->in_epoll = true;
    shard.expiries.emplace_back(NowMs() + idle_timeout_ms_, generation, sock);
    shard.parked[sock] = Parked{generation, std::move(connection)};
  }

  // Blocks up to a second for work. Returns false once detached and no job is left.
  bool Next(Work* work) {
    epoll_event event;
    const int n = epoll_wait(epoll_fd_, &event, 1, 1000);
    CloseExpired();
    const bool job_signalled = n == 1 && event.data.u64 == kJobsKey;
    if (n == 1 && !job_signalled) {
      work->connection = Unpark(event.data.u64);
      if (work->connection != nullptr || attached_) return true;
    }
    std::lock_guard<std::mutex> lock(jobs_mutex_);
    if (!jobs_.empty() && (job_signalled || !attached_)) {
      work->job = std::move(jobs_.front());
      jobs_.pop_front();
      if (jobs_.empty() && attached_) Drain();
      return true;
    }
    if (!attached_) return false;
    if (job_signalled) Drain();  // a wake-up whose job another worker took
    return true;
  }

  size_t parked() {
    size_t count = 0;
    for (Shard& shard : shards_) {
      std::lock_guard<std::mutex> lock(shard.mutex);
      count += shard.parked.size();
    }
    return count;
  }

 private:
  struct Parked {
    uint32_t generation;
    std::unique_ptr<Connection> connection;
  };
  struct Shard {
    std::mutex mutex;
    uint32_t generation = 0;
    std::unordered_map<int, Parked> parked;                   // socket -> its parking
    std::deque<std::tuple<int64_t, uint32_t, int>> expiries;  // (deadline, generation, socket)
  };
  static constexpr uint64_t kJobsKey = ~uint64_t{0};
  static constexpr size_t kShards = 16;
  static uint64_t Key(int sock, uint32_t generation) {
    return uint64_t{generation} << 32 | static_cast<uint32_t>(sock);
  }
  Shard& ShardOf(int sock) { return shards_[static_cast<size_t>(sock) % kShards]; }

  // The connection an event was for; null if it was closed since (expired, or the server stopped), or
  // closed and its descriptor reused by a connection parked later (another generation).
  std::unique_ptr<Connection> Unpark(uint64_t key) {
    const int sock = static_cast<int>(key & 0xffffffffu);
    Shard& shard = ShardOf(sock);
    std::lock_guard<std::mutex> lock(shard.mutex);
    auto it = shard.parked.find(sock);
    if (it == shard.parked.end() || it->second.generation != key >> 32) return nullptr;
    std::unique_ptr<Connection> connection = std::move(it->second.connection);
    shard.parked.erase(it);
    return connection;
  }

  // At most every 250 ms, by one worker. Deadlines are pushed in order (one idle timeout for all);
  // entries of connections that woke up since are stale (another generation, or gone) and skipped.
  void CloseExpired() {
    const int64_t now = NowMs();
    int64_t due = next_sweep_ms_.load(std::memory_order_relaxed);
    if (now < due || !next_sweep_ms_.compare_exchange_strong(due, now + std::min(idle_timeout_ms_, 250))) return;
    for (Shard& shard : shards_) {
      std::lock_guard<std::mutex> lock(shard.mutex);
      while (!shard.expiries.empty() && std::get<0>(shard.expiries.front()) <= now) {
        const auto [deadline, generation, sock] = shard.expiries.front();
        shard.expiries.pop_front();
        auto it = shard.parked.find(sock);
        if (it == shard.parked.end() || it->second.generation != generation) continue;
        shard.parked.erase(it);
        CloseConnection(sock);  // also leaves the epoll set
      }
    }
  }

  void CloseParked() {
    for (Shard& shard : shards_) {
      std::lock_guard<std::mutex> lock(shard.mutex);
      for (const auto& [sock, parked] : shard.parked) CloseConnection(sock);
      shard.parked.clear();
      shard.expiries.clear();
    }
  }

  void Signal() {
    const uint64_t one = 1;
    [[maybe_unused]] ssize_t n = ::write(jobs_fd_, &one, sizeof one);
  }
  // REQUIRES: jobs_mutex_ held. Clears the wake-up once no job waits.
  void Drain() {
    uint64_t count;
    [[maybe_unused]] ssize_t n = ::read(jobs_fd_, &count, sizeof count);
  }

  const int idle_timeout_ms_;
  const int epoll_fd_;
  const int jobs_fd_;  // an eventfd in the epoll set, readable while jobs wait (or stopping)
  std::atomic<bool> attached_{false};
  std::atomic<int64_t> next_sweep_ms_{0};
  std::array<Shard, kShards> shards_;
  std::mutex jobs_mutex_;
  std::deque<std::function<void()>> jobs_;
};

namespace {

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
