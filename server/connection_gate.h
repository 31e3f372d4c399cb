// The gate of GatedServer (gated_server.h): where accepted connections wait, without a worker, for
// their next request, and where the server's workers wait for work. Idle workers wait on the gate's
// epoll set themselves, so the worker woken by a connection's bytes serves that connection.
#ifndef PROM2GCM_SERVER_CONNECTION_GATE_H_
#define PROM2GCM_SERVER_CONNECTION_GATE_H_

#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <tuple>
#include <unordered_map>
#include <utility>

namespace prom2gcm {

// Milliseconds of the steady clock: deadlines of requests and idle connections.
inline int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// Shuts a connection down both ways and closes its descriptor (which also leaves any epoll set).
inline void CloseConnection(int sock) {
  ::shutdown(sock, SHUT_RDWR);
  ::close(sock);
}

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

}  // namespace prom2gcm

#endif  // PROM2GCM_SERVER_CONNECTION_GATE_H_
