#include "exporter/gcm_client.h"

#include <grpcpp/create_channel.h>
#include <grpcpp/security/credentials.h>
#include <grpcpp/support/byte_buffer.h>

#include <pthread.h>

#include <chrono>
#include <cstdlib>
#include <fstream>

#include "google/monitoring/v3/metric_service.pb.h"
#include "google/rpc/status.pb.h"
#include "server/wire_writer.h"

namespace prom2gcm {
namespace {

constexpr char kCreateTimeSeriesMethod[] = "/google.monitoring.v3.MetricService/CreateTimeSeries";
constexpr char kSummaryTypeUrl[] = "type.googleapis.com/google.monitoring.v3.CreateTimeSeriesSummary";

// A small, fixed set of reasons for metrics labels, from GCM's error messages.
std::string FailureReason(const std::string& message) {
  if (message.find("written in order") != std::string::npos) return "out_of_order";
  if (message.find("sampling period") != std::string::npos) return "sampling_period";
  if (message.find("start time") != std::string::npos || message.find("start_time") != std::string::npos) {
    return "start_time";
  }
  if (message.find("label") != std::string::npos) return "labels";
  return "invalid_argument";
}

const char* CodeName(grpc::StatusCode code) {
  switch (code) {
    case grpc::StatusCode::PERMISSION_DENIED: return "permission_denied";
    case grpc::StatusCode::UNAUTHENTICATED: return "unauthenticated";
    case grpc::StatusCode::NOT_FOUND: return "not_found";
    case grpc::StatusCode::ALREADY_EXISTS: return "already_exists";
    case grpc::StatusCode::FAILED_PRECONDITION: return "failed_precondition";
    case grpc::StatusCode::UNIMPLEMENTED: return "unimplemented";
    case grpc::StatusCode::CANCELLED: return "cancelled";
    case grpc::StatusCode::OUT_OF_RANGE: return "out_of_range";
    default: return "other";
  }
}

// Reads the CreateTimeSeriesSummary from an INVALID_ARGUMENT answer's details; false if absent.
bool ReadSummary(const grpc::Status& status, SendResult* result) {
  google::rpc::Status details;
  if (status.error_details().empty() || !details.ParseFromString(status.error_details())) return false;
  for (const auto& any : details.details()) {
    if (any.type_url() != kSummaryTypeUrl) continue;
    google::monitoring::v3::CreateTimeSeriesSummary summary;
    if (!summary.ParseFromString(any.value())) return false;
    result->succeeded = summary.success_point_count();
    for (const auto& error : summary.errors()) {
      result->failed.emplace_back(FailureReason(error.status().message()), error.point_count());
    }
    return true;
  }
  return false;
}

}  // namespace

SendResult ClassifyCreateTimeSeriesStatus(const grpc::Status& status, int points) {
  SendResult result;
  result.message = status.error_message();
  switch (status.error_code()) {
    case grpc::StatusCode::OK:
      result.succeeded = points;
      return result;
    case grpc::StatusCode::UNAVAILABLE:
    case grpc::StatusCode::DEADLINE_EXCEEDED:
    case grpc::StatusCode::RESOURCE_EXHAUSTED:
    case grpc::StatusCode::INTERNAL:
      result.outcome = SendResult::Outcome::kRetryable;
      return result;
    case grpc::StatusCode::INVALID_ARGUMENT:
      result.outcome = SendResult::Outcome::kRejected;
      if (!ReadSummary(status, &result)) result.failed.emplace_back(FailureReason(result.message), points);
      return result;
    default:
      result.outcome = SendResult::Outcome::kRejected;
      result.failed.emplace_back(CodeName(status.error_code()), points);
      return result;
  }
}

std::unique_ptr<GcmClient> GcmClient::Create(const Options& options, std::string* error) {
  grpc::ChannelArguments args;
  args.SetUserAgentPrefix(options.user_agent);
  if (options.compression == "gzip") {
    args.SetCompressionAlgorithm(GRPC_COMPRESS_GZIP);
  } else if (options.compression != "none") {
    *error = "--export.compression must be gzip or none, not \"" + options.compression + "\"";
    return nullptr;
  }
  if (options.channels < 1 || options.channels > kMaxChannels) {
    *error = "--export.channels must be from 1 to " + std::to_string(kMaxChannels);
    return nullptr;
  }
  std::shared_ptr<grpc::ChannelCredentials> credentials;
  if (options.insecure) {
    credentials = grpc::InsecureChannelCredentials();
  } else {
    if (!options.credentials_file.empty()) {
      if (!std::ifstream(options.credentials_file)) {
        *error = "cannot read --export.credentials-file " + options.credentials_file;
        return nullptr;
      }
      // Application Default Credentials read the key file named here.
      setenv("GOOGLE_APPLICATION_CREDENTIALS", options.credentials_file.c_str(), 1);
    }
    credentials = grpc::GoogleDefaultCredentials();
    if (!credentials) {
      *error = "no Google Application Default Credentials found (use --export.credentials-file)";
      return nullptr;
    }
  }
  // Without a subchannel pool of its own, every channel to the same address would share one
  // connection, and with it the server's limit of concurrent streams.
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  std::vector<std::shared_ptr<grpc::Channel>> channels;
  for (int i = 0; i < options.channels; ++i) {
    channels.push_back(grpc::CreateCustomChannel(options.endpoint, credentials, args));
  }
  return std::unique_ptr<GcmClient>(new GcmClient(options, std::move(channels)));
}

struct GcmClient::Call {
  grpc::ClientContext context;
  grpc::ByteBuffer request;
  grpc::ByteBuffer response;
  grpc::Status status;
  std::unique_ptr<grpc::GenericClientAsyncResponseReader> reader;
  std::function<void(SendResult)> done;
  int points;
};

GcmClient::GcmClient(const Options& options, std::vector<std::shared_ptr<grpc::Channel>> channels)
    : options_(options), channels_(std::move(channels)) {
  stubs_.reserve(channels_.size());
  for (const auto& channel : channels_) stubs_.emplace_back(channel);
  completion_thread_ = std::thread([this] { Complete(); });
}

GcmClient::~GcmClient() {
  {
    std::lock_guard lock(calls_mutex_);
    for (Call* call : calls_) call->context.TryCancel();
  }
  completions_.Shutdown();  // Next returns false once every call's answer has been taken
  completion_thread_.join();
}

void GcmClient::Complete() {
  pthread_setname_np(pthread_self(), "gcm-answers");  // for top -H and profiles
  void* tag;
  bool ok;
  while (completions_.Next(&tag, &ok)) {
    auto* call = static_cast<Call*>(tag);
    {
      std::lock_guard lock(calls_mutex_);
      calls_.erase(call);
    }
    call->done(ClassifyCreateTimeSeriesStatus(call->status, call->points));
    delete call;
  }
}

// A slice that refers to `bytes` without copying them and keeps them alive until gRPC lets go of it.
static grpc::Slice SharedSlice(std::shared_ptr<const std::string> bytes) {
  auto* owner = new std::shared_ptr<const std::string>(std::move(bytes));
  return grpc::Slice(const_cast<char*>((*owner)->data()), (*owner)->size(),
                     [](void* owner) { delete static_cast<std::shared_ptr<const std::string>*>(owner); }, owner);
}

void GcmClient::Send(const std::string& project, std::shared_ptr<const std::string> time_series, int points,
                     std::function<void(SendResult)> done) {
  auto* call = new Call;
  call->done = std::move(done);
  call->points = points;
  call->context.set_deadline(std::chrono::system_clock::now() + std::chrono::milliseconds(options_.timeout_ms));
  // The request is the name field, then the time_series fields as the exporter built them: two
  // slices, so the (large) second one goes out without a copy.
  std::string name;
  AppendLengthDelimited(&name, 3, project);  // CreateTimeSeriesRequest.name
  grpc::Slice slices[] = {grpc::Slice(name), SharedSlice(std::move(time_series))};
  call->request = grpc::ByteBuffer(slices, 2);
  {
    std::lock_guard lock(calls_mutex_);
    calls_.insert(call);
  }
  grpc::GenericStub& stub = stubs_[next_stub_.fetch_add(1, std::memory_order_relaxed) % stubs_.size()];
  call->reader = stub.PrepareUnaryCall(&call->context, kCreateTimeSeriesMethod, call->request, &completions_);
  call->reader->StartCall();
  call->reader->Finish(&call->response, &call->status, call);
}

}  // namespace prom2gcm
