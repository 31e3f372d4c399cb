#include "integration/gcm_emulator/rejection.h"

namespace prom2gcm::emulator {

std::string Abbreviated(std::string_view text) {
  constexpr size_t kMaxBytes = 128;
  if (text.size() <= kMaxBytes) return std::string(text);
  size_t cut = kMaxBytes;
  // Back up over UTF-8 continuation bytes (10xxxxxx) so no character is split.
  while (cut > 0 && (static_cast<unsigned char>(text[cut]) & 0xC0) == 0x80) --cut;
  return std::string(text.substr(0, cut)) + "...";
}

}  // namespace prom2gcm::emulator
