// GcmClient sends batches to Cloud Monitoring: an asynchronous CreateTimeSeries call per batch over
// gRPC's generic (byte-buffer) path, so the request the exporter assembled from cached bytes goes out
// without a parse into message classes. It classifies each answer for the exporter: OK; retryable
// (UNAVAILABLE, DEADLINE_EXCEEDED, RESOURCE_EXHAUSTED, INTERNAL); or rejected, reading the
// CreateTimeSeriesSummary of a partly failed INVALID_ARGUMENT to count points by reason.
//
// Owns the channels (each its own connection: Google's front ends serve at most 100 calls at once on
// one connection, and gRPC queues the rest on the client), a completion queue and the one thread that
// takes answers from it and runs their `done` callbacks. Thread-safety: Send may be called
// concurrently; completions run on that thread. The destructor cancels calls still in flight and
// returns once each has run its callback.
#ifndef PROM2GCM_EXPORTER_GCM_CLIENT_H_
#define PROM2GCM_EXPORTER_GCM_CLIENT_H_

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_set>
#include <vector>

#include <grpcpp/channel.h>
#include <grpcpp/completion_queue.h>
#include <grpcpp/generic/generic_stub.h>

#include "exporter/batch_sender.h"

namespace grpc {
class Status;
}

namespace prom2gcm {

class GcmClient : public BatchSender {
 public:
  static constexpr int kMaxChannels = 64;  // the most --export.channels may ask for

  struct Options {
    std::string endpoint = "monitoring.googleapis.com:443";
    bool insecure = false;          // plaintext, no credentials: for the emulator
    std::string credentials_file;   // service-account key; else Application Default Credentials
    std::string compression = "none";  // or "gzip"
    int64_t timeout_ms = 30000;
    std::string user_agent = "prom2gcm/0.1.0";
    // Connections to the endpoint; calls take them in turn. With one, calls past the server's limit
    // of concurrent streams wait in the client however many the exporter allows in flight.
    int channels = 4;
  };

  // Returns null with *error set when the options are unusable.
  static std::unique_ptr<GcmClient> Create(const Options& options, std::string* error);
  ~GcmClient() override;

  void Send(const std::string& project, std::shared_ptr<const std::string> time_series, int points,
            std::function<void(SendResult)> done) override;

  // The first channel, for other calls to the same endpoint (delivery_check.h).
  const std::shared_ptr<grpc::Channel>& channel() const { return channels_.front(); }
  const Options& options() const { return options_; }

 private:
  struct Call;

  GcmClient(const Options& options, std::vector<std::shared_ptr<grpc::Channel>> channels);
  // Runs on completion_thread_: takes each finished call from the queue and runs its callback.
  void Complete();

  const Options options_;
  const std::vector<std::shared_ptr<grpc::Channel>> channels_;
  std::vector<grpc::GenericStub> stubs_;  // one per channel
  std::atomic<size_t> next_stub_{0};      // the stub the next call takes, modulo stubs_.size()
  // Answers come to this queue and are taken by one thread of ours. gRPC's callback API would run
  // them through its own polling threads and executor: two more thread hand-offs per call.
  grpc::CompletionQueue completions_;
  std::mutex calls_mutex_;
  std::unordered_set<Call*> calls_;  // in flight, for the destructor to cancel; GUARDED_BY calls_mutex_
  std::thread completion_thread_;
};

// How the exporter should treat an answer to a CreateTimeSeries call of `points` points.
SendResult ClassifyCreateTimeSeriesStatus(const grpc::Status& status, int points);

}  // namespace prom2gcm

#endif  // PROM2GCM_EXPORTER_GCM_CLIENT_H_
