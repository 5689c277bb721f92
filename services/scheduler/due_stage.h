// The due stage: the end of the delay path. Every delayed task and every
// retry leaves the delay ladder into ebats.due, a little before its due
// time; the due stage holds it (unacked, so a crash hands it back), and at
// its exact due time checks the store (a canceled or finished task is
// dropped) and releases it to ebats.ntask. The delivery is acked only after
// the release is confirmed. Never early; late only by the release itself.
#ifndef EBATS_SERVICES_SCHEDULER_DUE_STAGE_H_
#define EBATS_SERVICES_SCHEDULER_DUE_STAGE_H_

#include <queue>
#include <thread>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "ebats/v1/messages.pb.h"
#include "libs/amqp/session.h"
#include "libs/common/clock.h"
#include "libs/store/store.h"
#include "services/scheduler/registrations.h"
#include "services/scheduler/scheduler_metrics.h"

namespace ebats::scheduler {

class DueStage {
 public:
  // All arguments must outlive the DueStage.
  DueStage(amqp::Session& session, store::Store& store,
           Registrations& registrations, SchedulerMetrics& metrics,
           const Clock& clock = Clock::Real());
  ~DueStage();

  // The session's delivery handler for ebats.due; never blocks.
  void OnDelivery(amqp::Delivery delivery);
  void Start();
  // Stops releasing; held tasks stay unacked and return to ebats.due when
  // the session closes.
  void Shutdown();

 private:
  struct Held {
    int64_t due_ms;
    amqp::Delivery delivery;
    v1::TaskMessage task;
    bool operator>(const Held& other) const { return due_ms > other.due_ms; }
  };

  void Run();
  void Release(std::vector<Held> batch);
  // Sends a task that arrived far too early back through the ladder.
  void Recycle(Held held);

  amqp::Session& session_;
  store::Store& store_;
  Registrations& registrations_;
  SchedulerMetrics& metrics_;
  const Clock& clock_;

  absl::Mutex mu_;
  std::priority_queue<Held, std::vector<Held>, std::greater<Held>> held_
      ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  // Bumped on every push, so the releaser notices an earlier due time.
  uint64_t version_ ABSL_GUARDED_BY(mu_) = 0;
  std::thread thread_;
};

}  // namespace ebats::scheduler

#endif  // EBATS_SERVICES_SCHEDULER_DUE_STAGE_H_
