#include "server/testing/raw_client.h"

#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdlib>

namespace prom2gcm::testing {

RawClient::RawClient(int port) : fd_(socket(AF_INET, SOCK_STREAM, 0)) {
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  connected_ = fd_ >= 0 && connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
}

RawClient::~RawClient() {
  if (fd_ >= 0) close(fd_);
}

bool RawClient::Send(const std::string& bytes) {
  return send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(bytes.size());
}

int RawClient::ReadResponse(int timeout_ms, std::string* body) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  size_t header_end;
  while ((header_end = buffer_.find("\r\n\r\n")) == std::string::npos) {
    const int got = Receive(deadline);
    if (got <= 0) return got;
  }
  const int status = std::atoi(buffer_.c_str() + buffer_.find(' ') + 1);
  size_t length = 0;
  const size_t cl = buffer_.find("Content-Length: ");
  if (cl != std::string::npos && cl < header_end) length = std::strtoul(buffer_.c_str() + cl + 16, nullptr, 10);
  while (buffer_.size() < header_end + 4 + length) {
    const int got = Receive(deadline);
    if (got <= 0) return got;
  }
  if (body != nullptr) *body = buffer_.substr(header_end + 4, length);
  buffer_.erase(0, header_end + 4 + length);
  return status;
}

bool RawClient::ClosedWithin(int timeout_ms) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  for (;;) {
    const int got = Receive(deadline);
    if (got == 0) return true;
    if (got < 0) return false;
  }
}

int RawClient::Receive(std::chrono::steady_clock::time_point deadline) {
  const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
  if (left.count() <= 0) return -1;
  pollfd p{fd_, POLLIN, 0};
  if (poll(&p, 1, static_cast<int>(left.count())) <= 0) return -1;
  char chunk[4096];
  const ssize_t n = recv(fd_, chunk, sizeof chunk, 0);
  if (n <= 0) return 0;
  buffer_.append(chunk, static_cast<size_t>(n));
  return 1;
}

}  // namespace prom2gcm::testing
