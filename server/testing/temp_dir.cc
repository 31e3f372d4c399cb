#include "server/testing/temp_dir.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>

namespace prom2gcm::testing {

TempDir::TempDir() {
  std::string pattern = (std::filesystem::temp_directory_path() / "prom2gcm-test-XXXXXX").string();
  if (mkdtemp(pattern.data()) == nullptr) ADD_FAILURE() << "mkdtemp " << pattern << " failed";
  path_ = pattern;
}

TempDir::~TempDir() {
  std::error_code ignored;
  std::filesystem::remove_all(path_, ignored);
}

std::string TempDir::Write(const std::string& name, const std::string& contents) const {
  const std::string file = path_ + "/" + name;
  // Written beside and renamed over, as a deployment rotates files: a reader never sees half of it.
  const std::string partial = file + ".partial";
  std::ofstream(partial, std::ios::binary | std::ios::trunc) << contents;
  std::filesystem::rename(partial, file);
  return file;
}

}  // namespace prom2gcm::testing
