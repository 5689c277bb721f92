// The delay ladder: any delay from 1 ms to 2^35 - 1 ms (~397 days) with 35
// fixed queues, no broker plugin and no head-of-line blocking.
//
// Level k is a queue whose messages all wait exactly 2^k ms (a queue-wide
// TTL, so expiry order is arrival order) and then dead-letter to level
// k-1's exchange. A message's routing key spells its delay in binary, one
// word per level, highest first ("0.0.1.0.1.<topic>"): each level's
// exchange sends it into that level's queue when its bit is 1 and straight
// on to the next level when it is 0. After level 0 it reaches the exit
// exchange and the `ebats.due` queue, where the scheduler's due stage
// releases it at its exact due time. The message is sent a margin early
// (each waiting level costs about a millisecond), and the due stage holds
// it for the rest, so it is never released early and rarely late.
#ifndef EBATS_LIBS_DOMAIN_DELAY_LADDER_H_
#define EBATS_LIBS_DOMAIN_DELAY_LADDER_H_

#include <cstdint>
#include <string>

#include "absl/strings/string_view.h"

namespace ebats::domain {

inline constexpr int kLadderLevels = 35;
inline constexpr int64_t kMaxLadderDelayMs = (int64_t{1} << kLadderLevels) - 1;

// Where delayed messages enter (bound to the top level with "#").
inline constexpr char kLadderEntryExchange[] = "ebats.dtask";
// Where they leave the ladder, fanning out to kDueQueue.
inline constexpr char kLadderExitExchange[] = "ebats.dtask.due";
// The due stage's input.
inline constexpr char kDueQueue[] = "ebats.due";

// "ebats.dtask.l07".
std::string LadderLevelExchange(int level);
// "ebats.delay.l07".
std::string LadderLevelQueue(int level);
// The TTL of level `level`'s queue: 2^level ms.
int64_t LadderLevelTtlMs(int level);
// The binding pattern on level `level`'s exchange for keys whose bit
// `level` is `bit` ("*.*.1.#").
std::string LadderBindingPattern(int level, bool bit);
// The routing key that makes a message wait `delay_ms` (clamped to
// 0..kMaxLadderDelayMs) in the ladder; `topic` is the last word, for people
// reading queues.
std::string LadderRoutingKey(int64_t delay_ms, absl::string_view topic);

// How long before its due time a task is sent through the ladder, so that
// the hops' own cost never makes it late: 10 ms plus 3 ms per waiting level.
int64_t LadderMarginMs(int64_t delay_ms);
// The time to wait in the ladder for a task due in `remaining_ms`: the
// remainder less the margin, 0 when the due stage can hold it directly.
int64_t LadderDelayMs(int64_t remaining_ms);

}  // namespace ebats::domain

#endif  // EBATS_LIBS_DOMAIN_DELAY_LADDER_H_
