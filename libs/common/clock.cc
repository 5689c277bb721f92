#include "libs/common/clock.h"

#include "absl/time/clock.h"

namespace ebats {
namespace {

class RealClock : public Clock {
 public:
  int64_t NowMs() const override {
    return absl::GetCurrentTimeNanos() / 1000000;
  }
  int64_t NowUs() const override { return absl::GetCurrentTimeNanos() / 1000; }
};

}  // namespace

Clock& Clock::Real() {
  static RealClock* clock = new RealClock();
  return *clock;
}

}  // namespace ebats
