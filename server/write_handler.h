// WriteHandler answers POST /api/v1/write: it negotiates the protocol from the headers, checks and
// uncompresses the snappy body, decodes it, feeds 1.0 metadata to the MetadataCache, hands the series
// to the SeriesSink, and chooses the status code the sender acts on:
//   204 all stored; 400 data that can never succeed (with how many series were refused and why, a
//   series over a per-series limit included); 413 body over the size limit, or more series than
//   allowed; 415 wrong Content-Type, proto or Content-Encoding;
//   503 + Retry-After when a retry can cure it (sink full, shutting down, too many writes in flight).
// 2.0 answers carry the X-Prometheus-Remote-Write-*-Written headers, 1.0 answers none.
//
// Independent of the HTTP library, so it is unit-tested and fuzzed directly.
// Thread-safety: Handle may be called concurrently; each thread reuses its own decode buffers.
#ifndef PROM2GCM_SERVER_WRITE_HANDLER_H_
#define PROM2GCM_SERVER_WRITE_HANDLER_H_

#include <array>
#include <atomic>
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/registry.h>

#include "server/decoded_request.h"
#include "server/metadata_cache.h"
#include "server/request_log.h"
#include "server/series_sink.h"
#include "server/write_limits.h"

namespace prom2gcm {

struct WriteHttpRequest {
  std::string_view content_type;      // empty when absent
  std::string_view content_encoding;  // empty when absent
  std::string_view body;
};

struct WriteHttpResponse {
  int status = 204;
  std::string body;  // one line, for non-2xx answers
  std::vector<std::pair<std::string, std::string>> headers;
};

// Which protocol a Content-Type asks for; nullopt for one we do not speak (415).
std::optional<Protocol> ProtocolFromContentType(std::string_view content_type);

class WriteHandler {
 public:
  struct Options {
    size_t max_uncompressed_bytes = 32 << 20;
    WriteLimits limits;
    uint32_t max_in_flight_writes = 32;  // concurrent Handle calls; more are answered 503
    // The status that asks a sender to slow down (queues full, log full, too many writes in flight):
    // 503, which Prometheus always retries, or 429, which it retries only with retry_on_http_429.
    int slow_down_status = 503;
  };

  // sink and metadata must outlive the handler; metrics are registered in registry.
  WriteHandler(const Options& options, SeriesSink* sink, MetadataCache* metadata,
               prometheus::Registry& registry);

  WriteHttpResponse Handle(const WriteHttpRequest& request);

  // With a durable queue: every request that decodes is logged before it is handed to the sink, and
  // answered 503 (or 429, see Options) when the log cannot take it. Set before the first Handle; the
  // log must outlive the handler.
  void set_request_log(RequestLog* log) { log_ = log; }

  // Hands a request logged before a restart to the sink again, as seq (no new record). Returns the
  // answer the sender would have got; 503 means the sink is full for now: call again later.
  WriteHttpResponse Redeliver(uint64_t seq, Protocol protocol, std::string_view compressed_body);

  // While false (during shutdown) every write is answered 503.
  void set_accepting(bool accepting) { accepting_.store(accepting); }

 private:
  // The metrics this file updates.
  struct Metrics {
    explicit Metrics(prometheus::Registry& registry);
    prometheus::Family<prometheus::Counter>& requests;  // by code and protocol
    prometheus::Family<prometheus::Counter>& samples;   // by protocol
    prometheus::Family<prometheus::Counter>& histograms;
    prometheus::Family<prometheus::Counter>& exemplars;
    prometheus::Counter& metadata;
    prometheus::Counter& metadata_left_out;
    prometheus::Family<prometheus::Counter>& bytes;          // by encoding
    prometheus::Family<prometheus::Counter>& decode_errors;  // by reason
    prometheus::Counter& rejected_series;
    std::array<prometheus::Counter*, kLimitCount> limit_hits;  // by limit
    // The children every accepted request updates, looked up once: Family::Add builds a label map
    // and takes the family's lock.
    struct PerProtocol {
      prometheus::Counter* samples;
      prometheus::Counter* histograms;
      prometheus::Counter* exemplars;
      prometheus::Counter* requests_204;
    };
    std::array<PerProtocol, 2> by_protocol;  // by Protocol
    prometheus::Counter& snappy_bytes;
    prometheus::Counter& identity_bytes;
  };

  WriteHttpResponse Decode(Protocol protocol, const WriteHttpRequest& request, DecodedRequest* decoded);
  // compressed_body: logged first when there is a log and decoded->seq is 0.
  WriteHttpResponse Deliver(DecodedRequest* decoded, std::string_view compressed_body);
  WriteHttpResponse HandToSink(DecodedRequest* decoded);
  WriteHttpResponse Error(int status, const char* metric_reason, std::string message);
  // Options::slow_down_status with Retry-After.
  WriteHttpResponse SlowDown(const char* metric_reason, std::string message, int retry_after_seconds);
  void CountLimitHits(const DecodedRequest& decoded);

  const Options options_;
  SeriesSink* const sink_;
  MetadataCache* const metadata_;
  RequestLog* log_ = nullptr;
  Metrics metrics_;
  std::atomic<bool> accepting_{true};
  std::atomic<uint32_t> in_flight_{0};
};

}  // namespace prom2gcm

#endif  // PROM2GCM_SERVER_WRITE_HANDLER_H_
