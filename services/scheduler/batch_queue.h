// A queue that hands its consumer everything waiting, up to a limit, in one
// go: the scheduler's loops write the store once per batch, not per message.
#ifndef EBATS_SERVICES_SCHEDULER_BATCH_QUEUE_H_
#define EBATS_SERVICES_SCHEDULER_BATCH_QUEUE_H_

#include <cstddef>
#include <deque>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace ebats::scheduler {

// Thread-safe.
template <typename T>
class BatchQueue {
 public:
  void Push(T item) {
    absl::MutexLock lock(&mu_);
    items_.push_back(std::move(item));
  }
  // Waits up to `wait` for something to be queued; returns up to `max`
  // items, possibly none. Sets *done when closed and drained.
  std::vector<T> PopBatch(size_t max, absl::Duration wait, bool* done) {
    absl::MutexLock lock(&mu_);
    mu_.AwaitWithTimeout(absl::Condition(
                             +[](BatchQueue* q) ABSL_NO_THREAD_SAFETY_ANALYSIS {
                               return q->closed_ || !q->items_.empty();
                             },
                             this),
                         wait);
    std::vector<T> batch;
    while (!items_.empty() && batch.size() < max) {
      batch.push_back(std::move(items_.front()));
      items_.pop_front();
    }
    *done = closed_ && items_.empty() && batch.empty();
    return batch;
  }
  void Close() {
    absl::MutexLock lock(&mu_);
    closed_ = true;
  }

 private:
  absl::Mutex mu_;
  std::deque<T> items_ ABSL_GUARDED_BY(mu_);
  bool closed_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace ebats::scheduler

#endif  // EBATS_SERVICES_SCHEDULER_BATCH_QUEUE_H_
