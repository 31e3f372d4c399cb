#include "integration/gcm_emulator/series_identity.h"

#include <map>

namespace prom2gcm::emulator {
namespace {

// Length-prefixed, so no choice of label text can make two different series collide.
void AppendField(const std::string& field, std::string* key) {
  key->append(std::to_string(field.size()));
  key->push_back(':');
  key->append(field);
}

void AppendLabels(const google::protobuf::Map<std::string, std::string>& labels, std::string* key) {
  const std::map<std::string, std::string> sorted(labels.begin(), labels.end());
  AppendField(std::to_string(sorted.size()), key);
  for (const auto& [name, value] : sorted) {
    AppendField(name, key);
    AppendField(value, key);
  }
}

}  // namespace

std::string SeriesKey(const google::monitoring::v3::TimeSeries& series) {
  std::string key;
  // The metric type goes first and unprefixed so keys sort by it.
  key.append(series.metric().type());
  key.push_back('\0');
  AppendLabels(series.metric().labels(), &key);
  AppendField(series.resource().type(), &key);
  AppendLabels(series.resource().labels(), &key);
  return key;
}

}  // namespace prom2gcm::emulator
