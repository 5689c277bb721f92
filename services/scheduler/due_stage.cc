#include "services/scheduler/due_stage.h"

#include <atomic>
#include <memory>

#include "libs/codec/message_codec.h"
#include "services/scheduler/poison.h"
#include "spdlog/spdlog.h"

namespace ebats::scheduler {
namespace {

// Releases per store transaction.
constexpr size_t kBatchSize = 256;
// A task that reaches the due stage more than this early (clock skew between
// hosts, a replayed message) goes back through the ladder rather than being
// held unacked for long (the broker closes channels that hold a delivery
// longer than its consumer_timeout).
constexpr int64_t kMaxHoldMs = 10'000;

}  // namespace

DueStage::DueStage(amqp::Session& session, store::Store& store,
                   Registrations& registrations, SchedulerMetrics& metrics,
                   const Clock& clock)
    : session_(session),
      store_(store),
      registrations_(registrations),
      metrics_(metrics),
      clock_(clock) {}

DueStage::~DueStage() { Shutdown(); }

void DueStage::Start() {
  thread_ = std::thread([this] { Run(); });
}

void DueStage::Shutdown() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  if (thread_.joinable()) thread_.join();
}

void DueStage::OnDelivery(amqp::Delivery delivery) {
  auto task = codec::DecodeTask(delivery);
  if (!task.ok()) {
    SendToPoison(session_, delivery, task.status(), metrics_);
    return;
  }
  Held held{task->due_time_ms(), std::move(delivery), *std::move(task)};
  if (held.due_ms - clock_.NowMs() > kMaxHoldMs) {
    Recycle(std::move(held));
    return;
  }
  absl::MutexLock lock(&mu_);
  held_.push(std::move(held));
  ++version_;
}

void DueStage::Recycle(Held held) {
  session_.Forward(codec::EncodeDelayed(held.task, clock_.NowMs()),
                   held.delivery.tag());
}

void DueStage::Run() {
  for (;;) {
    std::vector<Held> due;
    {
      absl::MutexLock lock(&mu_);
      for (;;) {
        if (stopping_) return;
        const int64_t now_us = clock_.NowUs();
        if (!held_.empty() && held_.top().due_ms * 1000 <= now_us) break;
        // Sleep until the earliest due time, or until something new (maybe
        // earlier) arrives, or a stop.
        const uint64_t seen = version_;
        auto changed = [this, seen]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
          return stopping_ || version_ != seen;
        };
        absl::Duration wait =
            held_.empty()
                ? absl::Milliseconds(100)
                : absl::Microseconds(held_.top().due_ms * 1000 - now_us);
        mu_.AwaitWithTimeout(absl::Condition(&changed), wait);
      }
      const int64_t now_ms = clock_.NowMs();
      while (!held_.empty() && held_.top().due_ms <= now_ms &&
             due.size() < kBatchSize) {
        // priority_queue::top is const; the element is popped right after.
        due.push_back(std::move(const_cast<Held&>(held_.top())));
        held_.pop();
      }
    }
    Release(std::move(due));
  }
}

void DueStage::Release(std::vector<Held> batch) {
  std::vector<std::string> ids;
  ids.reserve(batch.size());
  for (const Held& h : batch) ids.push_back(h.task.task_id());
  std::vector<store::ReleaseDecision> decisions;
  absl::Status status = store_.ReleaseTasks(ids, &decisions);
  if (!status.ok()) {
    // Without the store we cannot tell a canceled task: hand them back.
    spdlog::error("scheduler: cannot check {} due task(s): {}", batch.size(),
                  status.ToString());
    for (const Held& h : batch) session_.Reject(h.delivery, /*requeue=*/true);
    absl::SleepFor(absl::Seconds(1));
    return;
  }
  const int64_t now_ms = clock_.NowMs();
  for (size_t i = 0; i < batch.size(); ++i) {
    Held& h = batch[i];
    if (decisions[i] == store::ReleaseDecision::kDrop) {
      metrics_.due_dropped.Increment();
      session_.Ack(h.delivery);
      continue;
    }
    if (!registrations_.EnsureTopic(h.task.topic()).ok()) {
      session_.Reject(h.delivery, /*requeue=*/true);
      continue;
    }
    metrics_.release_lateness.Observe(static_cast<double>(now_ms - h.due_ms) /
                                      1000.0);
    session_.Forward(codec::EncodeTask(h.task), h.delivery.tag(),
                     [this](absl::Status published) {
                       if (published.ok()) metrics_.released.Increment();
                     });
  }
}

}  // namespace ebats::scheduler
