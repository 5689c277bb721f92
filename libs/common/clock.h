// Time source. Anything timed takes a Clock so tests need not sleep.
#ifndef EBATS_LIBS_COMMON_CLOCK_H_
#define EBATS_LIBS_COMMON_CLOCK_H_

#include <atomic>
#include <cstdint>

namespace ebats {

class Clock {
 public:
  virtual ~Clock() = default;
  // Wall-clock time as unix milliseconds. Thread-safe.
  virtual int64_t NowMs() const = 0;
  // Wall-clock time as unix microseconds. Thread-safe.
  virtual int64_t NowUs() const = 0;
  // The process-wide real clock; never null, never destroyed.
  static Clock& Real();
};

// A clock that stands still until told to move. Thread-safe.
class ManualClock : public Clock {
 public:
  explicit ManualClock(int64_t now_ms) : now_us_(now_ms * 1000) {}
  int64_t NowMs() const override { return now_us_ / 1000; }
  int64_t NowUs() const override { return now_us_; }
  void AdvanceMs(int64_t ms) { now_us_ += ms * 1000; }

 private:
  std::atomic<int64_t> now_us_;
};

}  // namespace ebats

#endif  // EBATS_LIBS_COMMON_CLOCK_H_
