// MetadataCache remembers the type, help and unit of each metric family, as remote-write 1.0 sends
// them: in metadata-only requests, keyed by family name, about once a minute. The exporter asks it
// for the type of a series it sees for the first time.
//
// Bounded: past max_families new families are not added (counted by the caller through Update's
// result). Thread-safety: all methods may be called concurrently (a reader-writer lock inside).
#ifndef PROM2GCM_SERVER_METADATA_CACHE_H_
#define PROM2GCM_SERVER_METADATA_CACHE_H_

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <shared_mutex>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>

#include "server/decoded_request.h"

namespace prom2gcm {

class MetadataCache {
 public:
  struct Entry {
    MetricType type = MetricType::kUnspecified;
    std::string help;
    std::string unit;
  };

  explicit MetadataCache(size_t max_families = 100000) : max_families_(max_families) {}

  // Adds or replaces the given families. Returns how many were left out because the cache is full.
  size_t Update(std::span<const FamilyMetadata> families);

  // The entry for a series' metric name: the family of that exact name, else the family the name
  // belongs to once a _total, _sum, _count or _bucket suffix is removed.
  std::optional<Entry> Lookup(std::string_view metric_name) const;

  size_t size() const;

  // For the durable queue, which keeps metadata across restarts (a 1.0 metadata-only request is done
  // once applied, so it is not replayed): a counter that changes with every Update that changed
  // something, the whole cache as a remote-write 1.0 metadata-only WriteRequest, and its reverse.
  uint64_t version() const { return version_.load(); }
  std::string Snapshot() const;
  bool Restore(std::string_view snapshot);

 private:
  struct StringHash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };

  const size_t max_families_;
  std::atomic<uint64_t> version_{0};
  mutable std::shared_mutex mutex_;
  std::unordered_map<std::string, Entry, StringHash, std::equal_to<>> families_;  // GUARDED_BY(mutex_)
};

}  // namespace prom2gcm

#endif  // PROM2GCM_SERVER_METADATA_CACHE_H_
