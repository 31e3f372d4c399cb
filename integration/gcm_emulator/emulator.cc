#include "integration/gcm_emulator/emulator.h"

#include <grpcpp/security/server_credentials.h>
#include <grpcpp/server_builder.h>

#include <chrono>
#include "server/http_server.h"  // ParseListenAddress

namespace prom2gcm::emulator {
namespace {

constexpr int kGrpcCompletionQueues = 2;
constexpr int kGrpcMinPollers = 2;
constexpr auto kShutdownGrace = std::chrono::seconds(1);
constexpr auto kStartTimeout = std::chrono::seconds(5);

std::string HostOf(const std::string& address) {
  std::string host;
  int port = 0;
  if (!ParseListenAddress(address, &host, &port)) return address;
  return host.find(':') == std::string::npos ? host : "[" + host + "]";
}

}  // namespace

Emulator::Emulator(const Options& options)
    : options_(options),
      store_(options.sampling_period),
      faults_(options.faults, options.fault_seed),
      service_(options.sink, &store_, &faults_, &stats_),
      http_(std::make_unique<HttpApi>(options.sink, &store_, &faults_, &stats_)) {}

Emulator::~Emulator() { Stop(); }

bool Emulator::StartGrpc(std::string* error) {
  grpc::ServerBuilder builder;
  builder.AddListeningPort(options_.grpc_address, grpc::InsecureServerCredentials(), &grpc_port_);
  builder.RegisterService(&service_);
  if (options_.max_concurrent_streams > 0) {
    builder.AddChannelArgument(GRPC_ARG_MAX_CONCURRENT_STREAMS, options_.max_concurrent_streams);
  }
  builder.SetSyncServerOption(grpc::ServerBuilder::SyncServerOption::NUM_CQS, kGrpcCompletionQueues);
  builder.SetSyncServerOption(grpc::ServerBuilder::SyncServerOption::MIN_POLLERS, kGrpcMinPollers);
  grpc_server_ = builder.BuildAndStart();
  if (grpc_server_ && grpc_port_ > 0) return true;
  grpc_server_.reset();
  *error = "cannot serve gRPC on " + options_.grpc_address;
  return false;
}

bool Emulator::Start(std::string* error) {
  if (!StartGrpc(error)) return false;
  if (!http_->Bind(options_.http_address, error)) {
    Stop();
    return false;
  }
  http_thread_ = std::thread([this] { http_->Serve(); });
  // Stop() before the server runs would not stop it: wait until it does.
  const auto give_up = std::chrono::steady_clock::now() + kStartTimeout;
  while (!http_->is_running() && std::chrono::steady_clock::now() < give_up) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  if (http_->is_running()) return true;
  *error = "the HTTP server on " + options_.http_address + " did not start";
  return false;
}

void Emulator::Stop() {
  if (http_thread_.joinable()) {
    http_->Stop();
    http_thread_.join();
  }
  if (grpc_server_) {
    grpc_server_->Shutdown(std::chrono::system_clock::now() + kShutdownGrace);
    grpc_server_.reset();
  }
}

std::string Emulator::grpc_endpoint() const { return HostOf(options_.grpc_address) + ":" + std::to_string(grpc_port_); }

std::string Emulator::http_endpoint() const {
  return HostOf(options_.http_address) + ":" + std::to_string(http_->port());
}

}  // namespace prom2gcm::emulator
