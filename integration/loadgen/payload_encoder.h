// PayloadEncoder produces the HTTP bodies of a replay: corpus sample request i, with every timestamp
// moved by a pass' shift and the loadgen_replica label set to one replica, serialized in the wire
// protocol to send (1.0 WriteRequest or 2.0 Request) and snappy-compressed (block format).
//
// It owns a working copy of every corpus sample request — converted to 2.0 when sending 2.0, with the
// replica label inserted when cardinality > 1 (with cardinality 1 the series stay as recorded) — and
// mutates it in place for each body: only the timestamps and the replica label's value change between
// bodies, so encoding costs one serialization plus one compression.
//
// Thread-safety: a PayloadEncoder has no locking; one thread uses it at a time. EncoderPool owns a
// fixed set of encoders and lends them to worker threads; its methods may be called from any thread.
#ifndef PROM2GCM_INTEGRATION_LOADGEN_PAYLOAD_ENCODER_H_
#define PROM2GCM_INTEGRATION_LOADGEN_PAYLOAD_ENCODER_H_

#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "integration/loadgen/corpus.h"

namespace prom2gcm::loadgen {

class PayloadEncoder {
 public:
  // REQUIRES: protocol is kV2 if the corpus is a 2.0 corpus; cardinality >= 1.
  PayloadEncoder(const Corpus& corpus, WireProtocol protocol, int cardinality);
  PayloadEncoder(const PayloadEncoder&) = delete;
  PayloadEncoder& operator=(const PayloadEncoder&) = delete;

  // The body for sample request i, replica `replica`, timestamps moved by shift_ms from the corpus.
  // REQUIRES: i < corpus.size(), 0 <= replica < cardinality.
  std::string Encode(size_t i, int replica, int64_t shift_ms);

 private:
  struct WorkingV1 {
    ::prometheus::prompb::WriteRequest request;
    std::vector<std::string*> replica_values;  // into request; empty with cardinality 1
    int64_t shift_ms = 0;                      // applied to request
    int replica = -1;                          // written into replica_values
  };
  struct WorkingV2 {
    v2::Request request;
    int replica_symbol = -1;  // index into request.symbols(); -1 with cardinality 1
    int64_t shift_ms = 0;
    int replica = -1;
  };

  void PrepareV1(WorkingV1* working, int replica, int64_t shift_ms);
  void PrepareV2(WorkingV2* working, int replica, int64_t shift_ms);
  std::string Compress(const google::protobuf::MessageLite& message);

  const WireProtocol protocol_;
  std::vector<std::string> replica_names_;  // "0".."cardinality-1"
  std::vector<WorkingV1> v1_;               // used when protocol_ is kV1
  std::vector<WorkingV2> v2_;               // used when protocol_ is kV2
  std::string serialized_;                  // reused serialization buffer
};

class EncoderPool {
 public:
  EncoderPool(const Corpus& corpus, WireProtocol protocol, int cardinality, int encoders);
  EncoderPool(const EncoderPool&) = delete;
  EncoderPool& operator=(const EncoderPool&) = delete;

  // Blocks until an encoder is free. Hand it back with Release().
  std::unique_ptr<PayloadEncoder> Acquire();
  void Release(std::unique_ptr<PayloadEncoder> encoder);

 private:
  std::mutex mutex_;
  std::condition_variable released_;
  std::vector<std::unique_ptr<PayloadEncoder>> free_;  // guarded by mutex_
};

}  // namespace prom2gcm::loadgen

#endif  // PROM2GCM_INTEGRATION_LOADGEN_PAYLOAD_ENCODER_H_
