// IsValidUtf8: whether a byte string is well-formed UTF-8 (Unicode 15, table 3-7): no overlong forms, no
// surrogates (U+D800..U+DFFF), nothing past U+10FFFF, no truncated or stray continuation bytes.
//
// Cloud Monitoring's protobuf strings must be valid UTF-8: one bad label would have gRPC or GCM refuse
// a whole batch of series, so the decoder checks every string it passes on. Label names and values are
// nearly always ASCII, so the check first looks for a high bit 8 bytes at a time (IsAscii) and only
// then runs the byte-wise validator.
#ifndef PROM2GCM_SERVER_UTF8_H_
#define PROM2GCM_SERVER_UTF8_H_

#include <cstdint>
#include <cstring>
#include <string_view>

namespace prom2gcm {

namespace utf8_internal {

// The byte-wise validator, from the first byte that may be non-ASCII.
inline bool ValidateFrom(const unsigned char* p, const unsigned char* end) {
  while (p < end) {
    const unsigned char c = *p;
    if (c < 0x80) {
      ++p;
      continue;
    }
    size_t n;             // continuation bytes that follow
    unsigned char lo = 0x80, hi = 0xbf;  // allowed range of the first continuation byte
    if (c >= 0xc2 && c <= 0xdf) {
      n = 1;
    } else if (c >= 0xe0 && c <= 0xef) {
      n = 2;
      if (c == 0xe0) lo = 0xa0;  // overlong below U+0800
      if (c == 0xed) hi = 0x9f;  // surrogates U+D800..U+DFFF
    } else if (c >= 0xf0 && c <= 0xf4) {
      n = 3;
      if (c == 0xf0) lo = 0x90;  // overlong below U+10000
      if (c == 0xf4) hi = 0x8f;  // past U+10FFFF
    } else {
      return false;  // continuation byte first, overlong C0/C1, or F5..FF
    }
    if (static_cast<size_t>(end - p) <= n) return false;  // truncated sequence
    if (p[1] < lo || p[1] > hi) return false;
    for (size_t i = 2; i <= n; ++i) {
      if ((p[i] & 0xc0) != 0x80) return false;
    }
    p += n + 1;
  }
  return true;
}

}  // namespace utf8_internal

// True when no byte has its high bit set: whole 8-byte words, the tail as one more (overlapping) word,
// and strings under 8 bytes as two overlapping 4-byte words, so a label costs a few loads and one
// branch instead of a loop per byte.
inline bool IsAscii(std::string_view s) {
  const char* p = s.data();
  const size_t n = s.size();
  if (n >= 8) {
    uint64_t any = 0, word;
    for (size_t i = 0; i + 8 <= n; i += 8) {
      std::memcpy(&word, p + i, 8);
      any |= word;
    }
    std::memcpy(&word, p + n - 8, 8);
    return ((any | word) & 0x8080808080808080ULL) == 0;
  }
  if (n >= 4) {
    uint32_t head, tail;
    std::memcpy(&head, p, 4);
    std::memcpy(&tail, p + n - 4, 4);
    return ((head | tail) & 0x80808080U) == 0;
  }
  unsigned char any = 0;
  for (size_t i = 0; i < n; ++i) any |= static_cast<unsigned char>(p[i]);
  return any < 0x80;
}

inline bool IsValidUtf8(std::string_view s) {
  if (IsAscii(s)) return true;
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  return utf8_internal::ValidateFrom(p, p + s.size());
}

}  // namespace prom2gcm

#endif  // PROM2GCM_SERVER_UTF8_H_
