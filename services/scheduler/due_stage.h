// The due stage: the end of the delay path. Every delayed task and every
// retry leaves the delay ladder into ebats.due, at least 1 s before its due
// time; the due stage holds it (unacked, so a crash hands it back). Shortly
// before the due time (the claim lead) it claims the task in the store: a
// canceled or finished task is dropped, any other becomes PENDING and can no
// longer be canceled. At the exact due time it releases the task to
// ebats.ntask. Claiming and releasing run on two threads so that a slow
// store (a large write of another component, a checkpoint) does not make
// releases late. The delivery is acked only after the release is confirmed.
// Never early; late only by the release itself (and by the claim for a task
// that arrives after its due time).
#ifndef EBATS_SERVICES_SCHEDULER_DUE_STAGE_H_
#define EBATS_SERVICES_SCHEDULER_DUE_STAGE_H_

#include <queue>
#include <thread>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "ebats/v1/messages.pb.h"
#include "libs/amqp/session.h"
#include "libs/common/clock.h"
#include "libs/store/store.h"
#include "services/scheduler/registrations.h"
#include "services/scheduler/scheduler_metrics.h"

namespace ebats::scheduler {

class DueStage {
 public:
  // How long before its due time a task is claimed, by default: more than a
  // slow store write takes, short enough that a task can be canceled until
  // just before it runs. Below the ladder's lead (1 s), so that a task is
  // held unclaimed first.
  static constexpr absl::Duration kDefaultClaimLead = absl::Milliseconds(100);

  // All arguments must outlive the DueStage.
  DueStage(amqp::Session& session, store::Store& store,
           Registrations& registrations, SchedulerMetrics& metrics,
           absl::Duration claim_lead = kDefaultClaimLead,
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

  using DueHeap =
      std::priority_queue<Held, std::vector<Held>, std::greater<Held>>;

  // Waits until the earliest task of `heap` is at most `lead_ms` before its
  // due time (a push bumps `version` and wakes it early). False on a stop.
  bool AwaitReady(const DueHeap& heap, const uint64_t& version, int64_t lead_ms)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Pops the tasks that AwaitReady would accept, at most a batch.
  std::vector<Held> PopReady(DueHeap& heap, int64_t lead_ms)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void RunClaims();
  void RunReleases();
  // Checks a batch in the store: drops the canceled and finished, queues
  // the rest for release.
  void Claim(std::vector<Held> batch);
  void Release(Held held, int64_t now_ms);
  // Sends a task that arrived far too early back through the ladder.
  void Recycle(Held held);

  amqp::Session& session_;
  store::Store& store_;
  Registrations& registrations_;
  SchedulerMetrics& metrics_;
  const int64_t claim_lead_ms_;
  const Clock& clock_;

  absl::Mutex mu_;
  DueHeap held_ ABSL_GUARDED_BY(mu_);     // not claimed yet
  DueHeap claimed_ ABSL_GUARDED_BY(mu_);  // PENDING, waiting for the due time
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  // Bumped on every push, so a waiting thread notices an earlier due time.
  uint64_t held_version_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t claimed_version_ ABSL_GUARDED_BY(mu_) = 0;
  std::thread claimer_;
  std::thread releaser_;
};

}  // namespace ebats::scheduler

#endif  // EBATS_SERVICES_SCHEDULER_DUE_STAGE_H_
