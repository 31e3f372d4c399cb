// Small helpers that append protobuf wire format to a string: the counterpart of wire_reader.h.
// The exporter builds each CreateTimeSeries request by appending bytes (a series' GCM identity is
// serialized once and only its point is encoded per sample); the series hash is taken over labels
// written with these helpers in remote-write 1.0's layout.
#ifndef PROM2GCM_SERVER_WIRE_WRITER_H_
#define PROM2GCM_SERVER_WIRE_WRITER_H_

#include <bit>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

namespace prom2gcm {

inline void AppendVarint(std::string* out, uint64_t value) {
  while (value >= 0x80) {
    out->push_back(static_cast<char>(value | 0x80));
    value >>= 7;
  }
  out->push_back(static_cast<char>(value));
}

// Bytes of value as a varint: one per started 7 bits, without a loop (it is on the per-point path:
// a point's timestamps and lengths are sized before they are written).
inline size_t VarintSize(uint64_t value) {
  return (static_cast<size_t>(std::bit_width(value | 1)) * 9 + 64) / 64;
}

inline void AppendTag(std::string* out, uint32_t field, uint32_t wire_type) {
  AppendVarint(out, (static_cast<uint64_t>(field) << 3) | wire_type);
}

inline void AppendLengthDelimited(std::string* out, uint32_t field, std::string_view bytes) {
  AppendTag(out, field, 2);
  AppendVarint(out, bytes.size());
  out->append(bytes);
}

inline void AppendDouble(std::string* out, uint32_t field, double value) {
  AppendTag(out, field, 1);
  char bytes[8];
  std::memcpy(bytes, &value, 8);
  out->append(bytes, 8);
}

// A map<string, string> entry as field `field`, as protobuf writes one: key (1) and value (2), both
// even when empty. A remote-write Label (name 1, value 2) has the same layout.
inline void AppendStringMapEntry(std::string* out, uint32_t field, std::string_view key, std::string_view value) {
  AppendTag(out, field, 2);
  AppendVarint(out, 2 + VarintSize(key.size()) + key.size() + VarintSize(value.size()) + value.size());
  AppendLengthDelimited(out, 1, key);
  AppendLengthDelimited(out, 2, value);
}

}  // namespace prom2gcm

#endif  // PROM2GCM_SERVER_WIRE_WRITER_H_
