// TempDir: a scratch folder for a test's files (credential files, certificates), removed with
// everything in it when the TempDir is destroyed.
//
// Owns the folder. Thread-safety: none; one test uses it.
#ifndef PROM2GCM_SERVER_TESTING_TEMP_DIR_H_
#define PROM2GCM_SERVER_TESTING_TEMP_DIR_H_

#include <string>

namespace prom2gcm::testing {

class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::string& path() const { return path_; }
  // Writes contents to path()/name, replacing any file there; returns the file's path.
  std::string Write(const std::string& name, const std::string& contents) const;

 private:
  std::string path_;
};

}  // namespace prom2gcm::testing

#endif  // PROM2GCM_SERVER_TESTING_TEMP_DIR_H_
