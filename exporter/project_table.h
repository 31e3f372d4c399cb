// ProjectTable interns GCM project ids, so a series cache entry names its project with a small index
// and batches are grouped per project ("projects/ID", one request per project).
// Thread-safety: all methods may be called concurrently. Names are never removed, so a returned
// reference stays valid for the table's lifetime.
#ifndef PROM2GCM_EXPORTER_PROJECT_TABLE_H_
#define PROM2GCM_EXPORTER_PROJECT_TABLE_H_

#include <cstdint>
#include <deque>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>

namespace prom2gcm {

class ProjectTable {
 public:
  uint32_t Intern(std::string_view project_id) {
    std::lock_guard lock(mutex_);
    auto it = index_.find(std::string(project_id));
    if (it != index_.end()) return it->second;
    names_.push_back("projects/" + std::string(project_id));
    const uint32_t index = static_cast<uint32_t>(names_.size() - 1);
    index_.emplace(std::string(project_id), index);
    return index;
  }

  // "projects/ID" for an index Intern returned.
  const std::string& Name(uint32_t index) const {
    std::lock_guard lock(mutex_);
    return names_[index];
  }

  size_t size() const {
    std::lock_guard lock(mutex_);
    return names_.size();
  }

 private:
  mutable std::mutex mutex_;
  std::deque<std::string> names_;  // deque: references stay valid as it grows
  std::unordered_map<std::string, uint32_t> index_;
};

}  // namespace prom2gcm

#endif  // PROM2GCM_EXPORTER_PROJECT_TABLE_H_
