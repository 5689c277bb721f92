#include "libs/domain/delay_ladder.h"

#include <algorithm>

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

std::string LadderBitHeader(int level) {
  return absl::StrFormat("ebats-b%02d", level);
}

int LadderTopLevel(int64_t delay_ms) {
  delay_ms = std::clamp<int64_t>(delay_ms, 0, kMaxLadderDelayMs);
  int top = -1;
  for (int level = 0; level < kLadderLevels; ++level) {
    if ((delay_ms >> level) & 1) top = level;
  }
  return top;
}

bool LadderBit(int64_t delay_ms, int level) {
  delay_ms = std::clamp<int64_t>(delay_ms, 0, kMaxLadderDelayMs);
  return ((delay_ms >> level) & 1) != 0;
}

int64_t LadderDelayMs(int64_t remaining_ms) {
  if (remaining_ms <= kLadderLeadMs) return 0;
  const int64_t coarse = ((remaining_ms - kLadderLeadMs) >> kLadderFloorLevel)
                         << kLadderFloorLevel;
  return std::min(coarse, kMaxLadderDelayMs);
}

}  // namespace ebats::domain
