#include "server/write_handler.h"

#include <snappy.h>

#include <algorithm>
#include <cctype>

#include "server/remote_write_decoder.h"

namespace prom2gcm {
namespace {

constexpr std::string_view kProtobufMediaType = "application/x-protobuf";
constexpr std::string_view kV1ProtoName = "prometheus.WriteRequest";
constexpr std::string_view kV2ProtoName = "io.prometheus.write.v2.Request";
// A thread's decode buffers shrink back after a request larger than this, so one huge request does
// not pin its size in every worker thread for good.
constexpr size_t kRetainedBufferBytes = 4 << 20;

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
         });
}

struct Counts {
  uint64_t samples = 0, histograms = 0, exemplars = 0;
};

Counts CountAccepted(const DecodedRequest& decoded) {
  return {decoded.samples.size(), decoded.histograms.size(), decoded.exemplars.size()};
}

void AddWrittenHeaders(Protocol protocol, const Counts& counts, WriteHttpResponse* response) {
  if (protocol != Protocol::kV2) return;
  response->headers.emplace_back("X-Prometheus-Remote-Write-Samples-Written", std::to_string(counts.samples));
  response->headers.emplace_back("X-Prometheus-Remote-Write-Histograms-Written",
                                 std::to_string(counts.histograms));
  response->headers.emplace_back("X-Prometheus-Remote-Write-Exemplars-Written",
                                 std::to_string(counts.exemplars));
}

// Holds one of the max in-flight slots for a Handle call, if one is free.
class InFlightSlot {
 public:
  InFlightSlot(std::atomic<uint32_t>* in_flight, uint32_t max)
      : in_flight_(in_flight), held_(in_flight->fetch_add(1) < max) {}
  ~InFlightSlot() { in_flight_->fetch_sub(1); }
  bool held() const { return held_; }

 private:
  std::atomic<uint32_t>* const in_flight_;
  const bool held_;
};

}  // namespace

std::optional<Protocol> ProtocolFromContentType(std::string_view content_type) {
  if (Trim(content_type).empty()) return Protocol::kV1;  // senders before 2.0 may leave it out
  size_t semicolon = content_type.find(';');
  if (!EqualsIgnoreCase(Trim(content_type.substr(0, semicolon)), kProtobufMediaType)) return std::nullopt;
  Protocol protocol = Protocol::kV1;
  while (semicolon != std::string_view::npos) {
    content_type.remove_prefix(semicolon + 1);
    semicolon = content_type.find(';');
    const std::string_view parameter = Trim(content_type.substr(0, semicolon));
    const size_t equals = parameter.find('=');
    if (equals == std::string_view::npos || !EqualsIgnoreCase(Trim(parameter.substr(0, equals)), "proto")) {
      continue;  // parameters other than proto (e.g. charset) do not change the protocol
    }
    std::string_view value = Trim(parameter.substr(equals + 1));
    if (value.size() >= 2 && value.front() == '"' && value.back() == '"') value = value.substr(1, value.size() - 2);
    if (value == kV1ProtoName) {
      protocol = Protocol::kV1;
    } else if (value == kV2ProtoName) {
      protocol = Protocol::kV2;
    } else {
      return std::nullopt;
    }
  }
  return protocol;
}

WriteHandler::Metrics::Metrics(prometheus::Registry& registry)
    : requests(prometheus::BuildCounter()
                   .Name("prom2gcm_write_requests_total")
                   .Help("Remote-write requests answered, by HTTP status code and protocol version.")
                   .Register(registry)),
      samples(prometheus::BuildCounter()
                  .Name("prom2gcm_received_samples_total")
                  .Help("Samples in accepted series of decoded write requests, by protocol version.")
                  .Register(registry)),
      histograms(prometheus::BuildCounter()
                     .Name("prom2gcm_received_histograms_total")
                     .Help("Native histogram samples in accepted series, by protocol version.")
                     .Register(registry)),
      exemplars(prometheus::BuildCounter()
                    .Name("prom2gcm_received_exemplars_total")
                    .Help("Exemplars in accepted series, by protocol version.")
                    .Register(registry)),
      metadata(prometheus::BuildCounter()
                   .Name("prom2gcm_received_metadata_total")
                   .Help("Remote-write 1.0 metric family metadata entries received.")
                   .Register(registry)
                   .Add({})),
      metadata_left_out(prometheus::BuildCounter()
                            .Name("prom2gcm_metadata_cache_full_total")
                            .Help("Metric families not cached because the metadata cache was full.")
                            .Register(registry)
                            .Add({})),
      bytes(prometheus::BuildCounter()
                .Name("prom2gcm_received_bytes_total")
                .Help("Bytes of write request bodies, as sent (snappy) and uncompressed.")
                .Register(registry)),
      decode_errors(prometheus::BuildCounter()
                        .Name("prom2gcm_decode_errors_total")
                        .Help("Write requests or series refused while decoding, by reason.")
                        .Register(registry)),
      rejected_series(decode_errors.Add({{"reason", "invalid_series"}})),
      snappy_bytes(bytes.Add({{"encoding", "snappy"}})),
      identity_bytes(bytes.Add({{"encoding", "identity"}})) {
  for (Protocol protocol : {Protocol::kV1, Protocol::kV2}) {
    const char* name = ProtocolName(protocol);
    by_protocol[static_cast<size_t>(protocol)] = {&samples.Add({{"protocol", name}}),
                                                  &histograms.Add({{"protocol", name}}),
                                                  &exemplars.Add({{"protocol", name}}),
                                                  &requests.Add({{"code", "204"}, {"protocol", name}})};
  }
  auto& family = prometheus::BuildCounter()
                     .Name("prom2gcm_write_limit_hits_total")
                     .Help("Series (series_per_request, in_flight_writes: requests) refused by each "
                           "--web.max-* limit.")
                     .Register(registry);
  for (size_t i = 0; i < kLimitCount; ++i) limit_hits[i] = &family.Add({{"limit", kLimitNames[i]}});
}

WriteHandler::WriteHandler(const Options& options, SeriesSink* sink, MetadataCache* metadata,
                           prometheus::Registry& registry)
    : options_(options), sink_(sink), metadata_(metadata), metrics_(registry) {}

WriteHttpResponse WriteHandler::Handle(const WriteHttpRequest& request) {
  const InFlightSlot slot(&in_flight_, options_.max_in_flight_writes);
  thread_local DecodedRequest decoded;
  decoded.Clear();
  metrics_.snappy_bytes.Increment(static_cast<double>(request.body.size()));

  const std::optional<Protocol> protocol = ProtocolFromContentType(request.content_type);
  WriteHttpResponse response;
  if (!protocol.has_value()) {
    response = Error(415, "unsupported_media_type",
                     "unsupported Content-Type \"" + std::string(request.content_type) +
                         "\": want application/x-protobuf with proto=" + std::string(kV1ProtoName) +
                         " or proto=" + std::string(kV2ProtoName));
  } else if (!accepting_.load()) {
    response = Error(503, "shutting_down", "shutting down; retry against another replica or later");
    response.headers.emplace_back("Retry-After", "5");
  } else if (!slot.held()) {
    metrics_.limit_hits[static_cast<size_t>(Limit::kInFlightWrites)]->Increment();
    response = SlowDown("in_flight",
                        "more than " + std::to_string(options_.max_in_flight_writes) +
                            " writes in flight (--web.max-in-flight-writes); retry shortly",
                        1);
  } else {
    decoded.protocol = *protocol;
    response = Decode(*protocol, request, &decoded);
    if (response.status == 204 || response.status == 400) {
      WriteHttpResponse delivered = Deliver(&decoded, request.body);
      if (delivered.status != 204) response = std::move(delivered);
    }
    AddWrittenHeaders(*protocol, response.status < 500 ? CountAccepted(decoded) : Counts{}, &response);
  }
  if (response.status == 204 && protocol.has_value()) {
    metrics_.by_protocol[static_cast<size_t>(*protocol)].requests_204->Increment();
  } else {
    metrics_.requests.Add({{"code", std::to_string(response.status)},
                           {"protocol", protocol.has_value() ? ProtocolName(*protocol) : "unknown"}})
        .Increment();
  }
  if (decoded.body.capacity() > kRetainedBufferBytes) decoded = DecodedRequest();
  return response;
}

WriteHttpResponse WriteHandler::Decode(Protocol protocol, const WriteHttpRequest& request,
                                       DecodedRequest* decoded) {
  if (!EqualsIgnoreCase(Trim(request.content_encoding), "snappy")) {
    return Error(415, "unsupported_media_type",
                 "unsupported Content-Encoding \"" + std::string(request.content_encoding) +
                     "\": want snappy (block format)");
  }
  size_t uncompressed_length = 0;
  if (!snappy::GetUncompressedLength(request.body.data(), request.body.size(), &uncompressed_length)) {
    return Error(400, "corrupt_snappy", "corrupt snappy body: no valid uncompressed length");
  }
  // Checked before anything is allocated: a tiny body can declare gigabytes.
  if (uncompressed_length > options_.max_uncompressed_bytes) {
    return Error(413, "too_large",
                 "uncompressed body of " + std::to_string(uncompressed_length) + " bytes is over the limit of " +
                     std::to_string(options_.max_uncompressed_bytes));
  }
  decoded->body.resize(uncompressed_length);
  if (!snappy::RawUncompress(request.body.data(), request.body.size(), decoded->body.data())) {
    return Error(400, "corrupt_snappy", "corrupt snappy body (is it the framed format? want block format)");
  }
  metrics_.identity_bytes.Increment(static_cast<double>(uncompressed_length));

  const char* malformed = protocol == Protocol::kV1 ? DecodeRemoteWriteV1(decoded, options_.limits)
                                                    : DecodeRemoteWriteV2(decoded, options_.limits);
  CountLimitHits(*decoded);
  if (malformed != nullptr) {
    const bool too_many_series = decoded->limit_hits[static_cast<size_t>(Limit::kSeriesPerRequest)] > 0;
    decoded->Clear();
    if (too_many_series) {
      return Error(413, "too_many_series", "more than " + std::to_string(options_.limits.max_series_per_request) +
                                               " series in one request (--web.max-series-per-request)");
    }
    return Error(400, "invalid_protobuf", std::string("invalid protobuf: ") + malformed);
  }
  // Left out without failing the request: the series they belong to are fine.
  if (decoded->invalid_utf8_exemplars > 0) {
    metrics_.decode_errors.Add({{"reason", "invalid_utf8_exemplar"}}).Increment(decoded->invalid_utf8_exemplars);
  }
  if (decoded->invalid_utf8_metadata > 0) {
    metrics_.decode_errors.Add({{"reason", "invalid_utf8_metadata"}}).Increment(decoded->invalid_utf8_metadata);
  }
  if (decoded->rejected_series == 0) return WriteHttpResponse{};
  metrics_.rejected_series.Increment(decoded->rejected_series);
  const size_t total = decoded->series.size() + decoded->rejected_series;
  WriteHttpResponse response;
  response.status = 400;
  response.body = std::to_string(decoded->rejected_series) + " of " + std::to_string(total) +
                  " series rejected (the others were accepted); first: " + decoded->first_rejection;
  return response;
}

WriteHttpResponse WriteHandler::Redeliver(uint64_t seq, Protocol protocol, std::string_view compressed_body) {
  thread_local DecodedRequest decoded;
  decoded.Clear();
  decoded.protocol = protocol;
  decoded.seq = seq;
  WriteHttpRequest request{"", "snappy", compressed_body};
  WriteHttpResponse response = Decode(protocol, request, &decoded);
  decoded.seq = seq;  // Decode's Clear on failure resets it
  if (response.status == 204 || response.status == 400) {
    WriteHttpResponse delivered = Deliver(&decoded, compressed_body);
    if (delivered.status != 204) response = std::move(delivered);
  }
  return response;
}

WriteHttpResponse WriteHandler::Deliver(DecodedRequest* decoded, std::string_view compressed_body) {
  if (decoded->series.empty() && decoded->metadata.empty()) return WriteHttpResponse{};  // nothing to keep
  if (log_ == nullptr || decoded->seq != 0) return HandToSink(decoded);
  std::string error;
  decoded->seq = log_->Log(decoded->protocol, compressed_body, &error);
  if (decoded->seq == 0) {
    return SlowDown("log_full", std::move(error), 5);
  }
  WriteHttpResponse response = HandToSink(decoded);
  log_->Release(decoded->seq);
  return response;
}

WriteHttpResponse WriteHandler::HandToSink(DecodedRequest* decoded) {
  if (!decoded->metadata.empty()) {
    metrics_.metadata.Increment(static_cast<double>(decoded->metadata.size()));
    metrics_.metadata_left_out.Increment(static_cast<double>(metadata_->Update(decoded->metadata)));
  }
  if (decoded->series.empty()) return WriteHttpResponse{};
  AppendResult result = sink_->Append(*decoded);
  if (!result.accepted) {
    return SlowDown("backpressure", std::move(result.reason), result.retry_after_seconds);
  }
  const Counts counts = CountAccepted(*decoded);
  const Metrics::PerProtocol& by_protocol = metrics_.by_protocol[static_cast<size_t>(decoded->protocol)];
  by_protocol.samples->Increment(static_cast<double>(counts.samples));
  by_protocol.histograms->Increment(static_cast<double>(counts.histograms));
  by_protocol.exemplars->Increment(static_cast<double>(counts.exemplars));
  if (result.invalid > 0) {
    return Error(400, "invalid_histogram",
                 std::to_string(result.invalid) + " invalid native histogram sample(s) refused (the rest were "
                 "accepted); first: " + result.invalid_reason);
  }
  return WriteHttpResponse{};
}

void WriteHandler::CountLimitHits(const DecodedRequest& decoded) {
  for (size_t i = 0; i < kLimitCount; ++i) {
    if (decoded.limit_hits[i] > 0) metrics_.limit_hits[i]->Increment(decoded.limit_hits[i]);
  }
}

WriteHttpResponse WriteHandler::SlowDown(const char* metric_reason, std::string message, int retry_after_seconds) {
  WriteHttpResponse response = Error(options_.slow_down_status, metric_reason, std::move(message));
  response.headers.emplace_back("Retry-After", std::to_string(retry_after_seconds));
  return response;
}

WriteHttpResponse WriteHandler::Error(int status, const char* metric_reason, std::string message) {
  if (status != 503 && status != 429) metrics_.decode_errors.Add({{"reason", metric_reason}}).Increment();
  WriteHttpResponse response;
  response.status = status;
  response.body = std::move(message);
  return response;
}

}  // namespace prom2gcm
