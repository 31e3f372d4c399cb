#include "server/series_labels.h"

// The header's own implementation, inlined: the same XXH3 as libxxhash (its output is fixed by the
// XXH3 spec since 0.8.0), without a library call per name and value, which cost more than the hashing
// of short labels itself.
#define XXH_INLINE_ALL
#include <xxhash.h>

#include <algorithm>
#include <functional>
#include <string>

#include "server/utf8.h"
#include "server/wire_writer.h"

namespace prom2gcm {
namespace {

// Labels spread wider than this (strings from different buffers, e.g. in tests) are checked one by one.
constexpr size_t kContiguousCheckBytes = 64 << 10;

// Three-way comparison of two label names, as std::string_view::compare (bytes as unsigned). Sorted
// names nearly always differ within their first few bytes, so a byte loop costs less than the memcmp
// call compare() makes.
int CompareNames(std::string_view a, std::string_view b) {
  const size_t common = std::min(a.size(), b.size());
  for (size_t i = 0; i < common; ++i) {
    const auto x = static_cast<unsigned char>(a[i]), y = static_cast<unsigned char>(b[i]);
    if (x != y) return x < y ? -1 : 1;
  }
  return a.size() == b.size() ? 0 : (a.size() < b.size() ? -1 : 1);
}

}  // namespace

const char* CheckLabels(std::span<const Label> labels) {
  bool has_name = false;
  for (size_t i = 0; i < labels.size(); ++i) {
    const Label& label = labels[i];
    if (label.name.empty()) return "empty label name";
    if (i > 0) {
      // One comparison gives both rules (the string_view operators would compare twice).
      const int order = CompareNames(label.name, labels[i - 1].name);
      if (order == 0) return "duplicate label name";
      if (order < 0) return "labels not sorted by name";
    }
    if (label.name == kMetricNameLabel) has_name = !label.value.empty();
  }
  return has_name ? nullptr : "missing metric name (__name__)";
}

uint64_t HashEncodedLabels(std::string_view encoded) { return XXH3_64bits(encoded.data(), encoded.size()); }

uint64_t HashLabels(std::span<const Label> labels) {
  // Reused by each thread, so hashing a series allocates nothing once the buffer has grown.
  thread_local std::string encoded;
  encoded.clear();
  // TimeSeries.labels (field 1); an empty value is written too, so the bytes do not depend on how
  // the sender spelled it.
  for (const Label& label : labels) AppendStringMapEntry(&encoded, 1, label.name, label.value);
  return HashEncodedLabels(encoded);
}

const char* CheckLabelsAndHash(std::span<const Label> labels, uint64_t* hash) {
  if (const char* error = CheckLabels(labels); error != nullptr) return error;
  *hash = HashLabels(labels);
  return nullptr;
}

const char* CheckLabelsUtf8(std::span<const Label> labels, std::string_view buffer) {
  if (labels.empty()) return nullptr;
  // Fast path: the labels of a decoded series are nearly always next to each other in the body, so
  // one ASCII check over the span from the first byte of any of them to the last byte of any covers
  // them all (protobuf tags and short lengths in between are ASCII too; anything else in between only
  // sends us to the exact check below). Only within `buffer`, so nothing outside it is read.
  const auto in_buffer = [buffer](const char* p) {
    return std::less_equal<const char*>()(buffer.data(), p) &&
           std::less_equal<const char*>()(p, buffer.data() + buffer.size());
  };
  const char* begin = labels[0].name.data();
  const char* end = begin;
  for (const Label& label : labels) {
    begin = std::min({begin, label.name.data(), label.value.data()}, std::less<const char*>());
    end = std::max({end, label.name.data() + label.name.size(), label.value.data() + label.value.size()},
                   std::less<const char*>());
  }
  const bool contained = !buffer.empty() && in_buffer(begin) && in_buffer(end);
  if (contained && static_cast<size_t>(end - begin) <= kContiguousCheckBytes &&
      IsAscii(std::string_view(begin, static_cast<size_t>(end - begin)))) {
    return nullptr;
  }
  for (const Label& label : labels) {
    if (!IsValidUtf8(label.name)) return "label name is not valid UTF-8";
    if (!IsValidUtf8(label.value)) return "label value is not valid UTF-8";
  }
  return nullptr;
}

const char* CheckLabelLimits(std::span<const Label> labels, const WriteLimits& limits, Limit* broken) {
  if (labels.size() > limits.max_labels_per_series) {
    *broken = Limit::kLabelsPerSeries;
    return "more labels than --web.max-labels-per-series";
  }
  for (const Label& label : labels) {
    if (label.name.size() > limits.max_label_name_bytes) {
      *broken = Limit::kLabelNameLength;
      return "label name longer than --web.max-label-name-length";
    }
    if (label.value.size() > limits.max_label_value_bytes) {
      *broken = Limit::kLabelValueLength;
      return "label value longer than --web.max-label-value-length";
    }
  }
  return nullptr;
}

}  // namespace prom2gcm
