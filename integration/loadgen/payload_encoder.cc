#include "integration/loadgen/payload_encoder.h"

#include <snappy.h>

namespace prom2gcm::loadgen {

PayloadEncoder::PayloadEncoder(const Corpus& corpus, WireProtocol protocol, int cardinality) : protocol_(protocol) {
  for (int replica = 0; replica < cardinality; ++replica) replica_names_.push_back(std::to_string(replica));
  const bool replicas = cardinality > 1;
  // Sized up front: the replica label pointers must not see their request move.
  if (protocol_ == WireProtocol::kV1) {
    v1_.resize(corpus.size());
    for (size_t i = 0; i < corpus.size(); ++i) {
      v1_[i].request = corpus.v1_request(i);
      if (replicas) v1_[i].replica_values = InsertReplicaLabel(&v1_[i].request);
    }
  } else {
    v2_.resize(corpus.size());
    for (size_t i = 0; i < corpus.size(); ++i) {
      v2_[i].request = corpus.format() == WireProtocol::kV1 ? corpus.ToV2(i) : corpus.v2_request(i);
      if (replicas) v2_[i].replica_symbol = InsertReplicaLabel(&v2_[i].request);
    }
  }
}

std::string PayloadEncoder::Encode(size_t i, int replica, int64_t shift_ms) {
  if (protocol_ == WireProtocol::kV1) {
    PrepareV1(&v1_[i], replica, shift_ms);
    return Compress(v1_[i].request);
  }
  PrepareV2(&v2_[i], replica, shift_ms);
  return Compress(v2_[i].request);
}

void PayloadEncoder::PrepareV1(WorkingV1* working, int replica, int64_t shift_ms) {
  if (working->shift_ms != shift_ms) {
    ShiftTimestamps(shift_ms - working->shift_ms, &working->request);
    working->shift_ms = shift_ms;
  }
  if (working->replica != replica) {
    for (std::string* value : working->replica_values) *value = replica_names_[replica];
    working->replica = replica;
  }
}

void PayloadEncoder::PrepareV2(WorkingV2* working, int replica, int64_t shift_ms) {
  if (working->shift_ms != shift_ms) {
    ShiftTimestamps(shift_ms - working->shift_ms, &working->request);
    working->shift_ms = shift_ms;
  }
  if (working->replica != replica && working->replica_symbol >= 0) {
    *working->request.mutable_symbols(working->replica_symbol) = replica_names_[replica];
    working->replica = replica;
  }
}

std::string PayloadEncoder::Compress(const google::protobuf::MessageLite& message) {
  serialized_.clear();
  message.AppendToString(&serialized_);
  std::string body;
  snappy::Compress(serialized_.data(), serialized_.size(), &body);
  return body;
}

EncoderPool::EncoderPool(const Corpus& corpus, WireProtocol protocol, int cardinality, int encoders) {
  for (int i = 0; i < encoders; ++i) free_.push_back(std::make_unique<PayloadEncoder>(corpus, protocol, cardinality));
}

std::unique_ptr<PayloadEncoder> EncoderPool::Acquire() {
  std::unique_lock lock(mutex_);
  released_.wait(lock, [this] { return !free_.empty(); });
  std::unique_ptr<PayloadEncoder> encoder = std::move(free_.back());
  free_.pop_back();
  return encoder;
}

void EncoderPool::Release(std::unique_ptr<PayloadEncoder> encoder) {
  {
    std::lock_guard lock(mutex_);
    free_.push_back(std::move(encoder));
  }
  released_.notify_one();
}

}  // namespace prom2gcm::loadgen
