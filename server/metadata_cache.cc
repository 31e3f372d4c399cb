#include "server/metadata_cache.h"

#include <mutex>

#include "prometheus/remote.pb.h"
#include "server/remote_write_decoder.h"

namespace prom2gcm {

size_t MetadataCache::Update(std::span<const FamilyMetadata> families) {
  size_t left_out = 0;
  std::unique_lock lock(mutex_);
  for (const FamilyMetadata& family : families) {
    if (family.family_name.empty()) continue;
    auto it = families_.find(family.family_name);
    if (it == families_.end()) {
      if (families_.size() >= max_families_) {
        ++left_out;
        continue;
      }
      it = families_.emplace(std::string(family.family_name), Entry{}).first;
    }
    if (it->second.type == family.type && it->second.help == family.help && it->second.unit == family.unit) continue;
    it->second.type = family.type;
    it->second.help.assign(family.help);
    it->second.unit.assign(family.unit);
    version_.fetch_add(1);
  }
  return left_out;
}

std::optional<MetadataCache::Entry> MetadataCache::Lookup(std::string_view metric_name) const {
  std::shared_lock lock(mutex_);
  if (auto it = families_.find(metric_name); it != families_.end()) return it->second;
  for (std::string_view suffix : {"_total", "_sum", "_count", "_bucket"}) {
    if (metric_name.size() > suffix.size() && metric_name.ends_with(suffix)) {
      metric_name.remove_suffix(suffix.size());
      if (auto it = families_.find(metric_name); it != families_.end()) return it->second;
      return std::nullopt;  // a name has at most one of these suffixes
    }
  }
  return std::nullopt;
}

std::string MetadataCache::Snapshot() const {
  ::prometheus::prompb::WriteRequest request;
  {
    std::shared_lock lock(mutex_);
    for (const auto& [name, entry] : families_) {
      ::prometheus::prompb::MetricMetadata* metadata = request.add_metadata();
      metadata->set_type(static_cast<::prometheus::prompb::MetricMetadata::MetricType>(entry.type));
      metadata->set_metric_family_name(name);
      metadata->set_help(entry.help);
      metadata->set_unit(entry.unit);
    }
  }
  return request.SerializeAsString();
}

bool MetadataCache::Restore(std::string_view snapshot) {
  DecodedRequest decoded;
  decoded.body.assign(snapshot);
  if (DecodeRemoteWriteV1(&decoded) != nullptr) return false;
  Update(decoded.metadata);
  return true;
}

size_t MetadataCache::size() const {
  std::shared_lock lock(mutex_);
  return families_.size();
}

}  // namespace prom2gcm
