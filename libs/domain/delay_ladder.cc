#include "libs/domain/delay_ladder.h"

#include <algorithm>
#include <bitset>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace ebats::domain {

std::string LadderLevelExchange(int level) {
  return absl::StrFormat("ebats.dtask.l%02d", level);
}

std::string LadderLevelQueue(int level) {
  return absl::StrFormat("ebats.delay.l%02d", level);
}

int64_t LadderLevelTtlMs(int level) { return int64_t{1} << level; }

std::string LadderBindingPattern(int level, bool bit) {
  std::string pattern;
  // Words are ordered from the highest level down: level k is word 34 - k.
  for (int word = 0; word < kLadderLevels - 1 - level; ++word) pattern += "*.";
  absl::StrAppend(&pattern, bit ? "1" : "0", ".#");
  return pattern;
}

std::string LadderRoutingKey(int64_t delay_ms, absl::string_view topic) {
  delay_ms = std::clamp<int64_t>(delay_ms, 0, kMaxLadderDelayMs);
  std::string key;
  key.reserve(2 * kLadderLevels + topic.size());
  for (int level = kLadderLevels - 1; level >= 0; --level) {
    key += ((delay_ms >> level) & 1) ? '1' : '0';
    key += '.';
  }
  absl::StrAppend(&key, topic.empty() ? "-" : topic);
  return key;
}

int64_t LadderMarginMs(int64_t delay_ms) {
  if (delay_ms <= 0) return 0;
  int levels =
      static_cast<int>(std::bitset<64>(static_cast<uint64_t>(std::min(
                                           delay_ms, kMaxLadderDelayMs)))
                           .count());
  return 10 + 3 * int64_t{levels};
}

int64_t LadderDelayMs(int64_t remaining_ms) {
  if (remaining_ms <= 0) return 0;
  return std::max<int64_t>(0, remaining_ms - LadderMarginMs(remaining_ms));
}

}  // namespace ebats::domain
