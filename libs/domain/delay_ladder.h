// The delay ladder: any delay from 1 ms to 2^35 - 1 ms (~397 days) with 35
// fixed queues, no broker plugin and no head-of-line blocking.
//
// Level k is a queue whose messages all wait exactly 2^k ms (a queue-wide
// TTL, so expiry order is arrival order) and then dead-letter to level
// k-1's exchange. A message carries its delay in binary, one header per
// level ("ebats-b07": 1 or 0); each level's exchange (a headers exchange)
// sends it into that level's queue when its bit is 1 and straight on to the
// next level's exchange when it is 0. A message enters at the level of its
// highest set bit, and after level 0 it reaches the exit exchange and the
// `ebats.due` queue, where the scheduler's due stage releases it at its
// exact due time. It is sent early (see LadderDelayMs) and the due stage
// holds it for the rest, so it is never released early and rarely late.
//
// Headers exchanges, not topic ones: a topic exchange matching a 35-word key
// through a chain of exchanges cost ~3 ms per message in the broker here,
// which capped the whole ladder at a few hundred messages per second.
#ifndef EBATS_LIBS_DOMAIN_DELAY_LADDER_H_
#define EBATS_LIBS_DOMAIN_DELAY_LADDER_H_

#include <cstdint>
#include <string>

#include "absl/strings/string_view.h"

namespace ebats::domain {

inline constexpr int kLadderLevels = 35;
inline constexpr int64_t kMaxLadderDelayMs = (int64_t{1} << kLadderLevels) - 1;

// An entry for messages that carry all 35 bit headers (bound to the top
// level); ebats itself publishes straight to the highest set level.
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
// The header that holds bit `level` of a message's ladder delay. Not "x-"
// prefixed: headers exchanges ignore x- arguments when matching.
std::string LadderBitHeader(int level);
// The highest level a delay waits at (its highest set bit), or -1 for 0.
// The delay is clamped to 0..kMaxLadderDelayMs.
int LadderTopLevel(int64_t delay_ms);
// Bit `level` of the (clamped) delay.
bool LadderBit(int64_t delay_ms, int level);

// The ladder only does the coarse part of a delay, in whole units of
// 2^kLadderFloorLevel ms (4.096 s), and delivers a task at least
// kLadderLeadMs before its due time; the due stage holds it for the rest
// (at most kLadderLeadMs + 4.096 s). Each waiting level costs ~1 ms idle
// and up to a few hundred ms when the broker is busy dead-lettering, so the
// lead absorbs the ladder's lateness and the due stage gives the precision.
// Fewer, coarser hops also mean less work for the broker.
inline constexpr int kLadderFloorLevel = 12;
inline constexpr int64_t kLadderLeadMs = 1000;

// The time to wait in the ladder for a task due in `remaining_ms`; 0 when
// the due stage holds it directly.
int64_t LadderDelayMs(int64_t remaining_ms);

}  // namespace ebats::domain

#endif  // EBATS_LIBS_DOMAIN_DELAY_LADDER_H_
