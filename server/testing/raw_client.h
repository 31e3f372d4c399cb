// A blocking loopback TCP client for tests that speak HTTP/1.1 by hand (what httplib's client will not
// send: partial bodies, pipelined requests, idle keep-alive connections), with a deadline on every
// read. Thread-compatible: one test thread uses it.
#ifndef PROM2GCM_SERVER_TESTING_RAW_CLIENT_H_
#define PROM2GCM_SERVER_TESTING_RAW_CLIENT_H_

#include <chrono>
#include <string>
#include <utility>

namespace prom2gcm::testing {

class RawClient {
 public:
  explicit RawClient(int port);
  ~RawClient();
  RawClient(const RawClient&) = delete;
  RawClient(RawClient&& other) noexcept
      : fd_(other.fd_), connected_(other.connected_), buffer_(std::move(other.buffer_)) {
    other.fd_ = -1;
  }

  bool connected() const { return connected_; }
  bool Send(const std::string& bytes);

  // Reads one response (status line, headers, Content-Length body). Returns its status, 0 when the
  // connection was closed first, -1 on timeout.
  int ReadResponse(int timeout_ms, std::string* body = nullptr);

  // True when the server closes the connection within timeout_ms (pending responses are discarded).
  bool ClosedWithin(int timeout_ms);

 private:
  // 1: bytes appended; 0: closed (or reset); -1: deadline passed.
  int Receive(std::chrono::steady_clock::time_point deadline);

  int fd_;
  bool connected_ = false;
  std::string buffer_;
};

}  // namespace prom2gcm::testing

#endif  // PROM2GCM_SERVER_TESTING_RAW_CLIENT_H_
