// The counters of one labelled family, created once per label set and then
// found again cheaply. prometheus-cpp's Family::Add validates label names on
// every call, which is too slow for once-per-message use.
#ifndef EBATS_LIBS_METRICS_COUNTER_CACHE_H_
#define EBATS_LIBS_METRICS_COUNTER_CACHE_H_

#include <map>

#include "absl/synchronization/mutex.h"
#include "prometheus/counter.h"
#include "prometheus/family.h"
#include "prometheus/labels.h"

namespace ebats::metrics {

// Thread-safe. `family` must outlive the cache. Labels must be
// low-cardinality (event, topic, task, outcome): the cache never shrinks.
class CounterCache {
 public:
  explicit CounterCache(prometheus::Family<prometheus::Counter>& family)
      : family_(family) {}

  prometheus::Counter& Get(const prometheus::Labels& labels) {
    absl::MutexLock lock(&mu_);
    prometheus::Counter*& counter = cache_[labels];
    if (counter == nullptr) counter = &family_.Add(labels);
    return *counter;
  }

 private:
  prometheus::Family<prometheus::Counter>& family_;
  absl::Mutex mu_;
  std::map<prometheus::Labels, prometheus::Counter*> cache_
      ABSL_GUARDED_BY(mu_);
};

}  // namespace ebats::metrics

#endif  // EBATS_LIBS_METRICS_COUNTER_CACHE_H_
