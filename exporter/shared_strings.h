// SharedStrings interns immutable byte strings that many series cache entries hold alike: the
// serialized metric type of a family, the serialized resource of a monitored target. An entry keeps a
// shared_ptr, so a million series of a thousand targets keep a thousand copies of the resource
// labels, not a million.
//
// A string no entry holds any more (its series were evicted) is dropped by the sweep Intern makes
// each time the table has doubled since the last one, so the table stays within twice the strings
// in use.
//
// Thread-safety: Intern and size may be called concurrently. A returned string stays valid as long
// as its shared_ptr does, whether or not the table still exists.
#ifndef PROM2GCM_EXPORTER_SHARED_STRINGS_H_
#define PROM2GCM_EXPORTER_SHARED_STRINGS_H_

#include <algorithm>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>

#include <absl/container/flat_hash_map.h>

namespace prom2gcm {

class SharedStrings {
 public:
  // The shared copy of bytes; a copy is made only when the table has none.
  std::shared_ptr<const std::string> Intern(std::string_view bytes) {
    std::lock_guard lock(mutex_);
    auto it = strings_.find(bytes);
    if (it != strings_.end()) return it->second;
    if (strings_.size() >= sweep_at_) {
      // use_count() is 1 only when the table holds the last reference: nobody else can take a new
      // one, since copies are made only here, under the mutex.
      absl::erase_if(strings_, [](const auto& kv) { return kv.second.use_count() == 1; });
      sweep_at_ = std::max(kMinSweepSize, 2 * strings_.size());
    }
    auto shared = std::make_shared<const std::string>(bytes);
    strings_.emplace(std::string_view(*shared), shared);  // the key views the value's bytes
    return shared;
  }

  size_t size() const {
    std::lock_guard lock(mutex_);
    return strings_.size();
  }

 private:
  static constexpr size_t kMinSweepSize = 1024;
  mutable std::mutex mutex_;
  absl::flat_hash_map<std::string_view, std::shared_ptr<const std::string>> strings_;  // GUARDED_BY(mutex_)
  size_t sweep_at_ = kMinSweepSize;                                                 // GUARDED_BY(mutex_)
};

}  // namespace prom2gcm

#endif  // PROM2GCM_EXPORTER_SHARED_STRINGS_H_
