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
                   absl::Duration claim_lead, const Clock& clock)
    : session_(session),
      store_(store),
      registrations_(registrations),
      metrics_(metrics),
      claim_lead_ms_(absl::ToInt64Milliseconds(claim_lead)),
      clock_(clock) {}

DueStage::~DueStage() { Shutdown(); }

void DueStage::Start() {
  claimer_ = std::thread([this] { RunClaims(); });
  releaser_ = std::thread([this] { RunReleases(); });
}

void DueStage::Shutdown() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  if (claimer_.joinable()) claimer_.join();
  if (releaser_.joinable()) releaser_.join();
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
  ++held_version_;
}

void DueStage::Recycle(Held held) {
  session_.Forward(codec::EncodeDelayed(held.task, clock_.NowMs()),
                   held.delivery.tag());
}

bool DueStage::AwaitReady(const DueHeap& heap, const uint64_t& version,
                          int64_t lead_ms) {
  for (;;) {
    if (stopping_) return false;
    const int64_t now_us = clock_.NowUs();
    if (!heap.empty() && (heap.top().due_ms - lead_ms) * 1000 <= now_us)
      return true;
    const uint64_t seen = version;
    auto changed = [this, &version, seen]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      return stopping_ || version != seen;
    };
    absl::Duration wait =
        heap.empty()
            ? absl::Milliseconds(100)
            : absl::Microseconds((heap.top().due_ms - lead_ms) * 1000 - now_us);
    mu_.AwaitWithTimeout(absl::Condition(&changed), wait);
  }
}

std::vector<DueStage::Held> DueStage::PopReady(DueHeap& heap, int64_t lead_ms) {
  std::vector<Held> ready;
  const int64_t now_ms = clock_.NowMs();
  while (!heap.empty() && heap.top().due_ms - lead_ms <= now_ms &&
         ready.size() < kBatchSize) {
    // priority_queue::top is const; the element is popped right after.
    ready.push_back(std::move(const_cast<Held&>(heap.top())));
    heap.pop();
  }
  return ready;
}

void DueStage::RunClaims() {
  for (;;) {
    std::vector<Held> batch;
    {
      absl::MutexLock lock(&mu_);
      if (!AwaitReady(held_, held_version_, claim_lead_ms_)) return;
      batch = PopReady(held_, claim_lead_ms_);
    }
    Claim(std::move(batch));
  }
}

void DueStage::RunReleases() {
  for (;;) {
    std::vector<Held> batch;
    {
      absl::MutexLock lock(&mu_);
      if (!AwaitReady(claimed_, claimed_version_, 0)) return;
      batch = PopReady(claimed_, 0);
    }
    const int64_t now_ms = clock_.NowMs();
    for (Held& held : batch) Release(std::move(held), now_ms);
  }
}

void DueStage::Claim(std::vector<Held> batch) {
  std::vector<store::DueRun> runs;
  runs.reserve(batch.size());
  for (const Held& h : batch)
    runs.push_back(
        {h.task.task_id(), h.task.attempt(), codec::IsReRun(h.task)});
  std::vector<store::ReleaseDecision> decisions;
  absl::Status status = store_.ReleaseTasks(runs, &decisions);
  if (!status.ok()) {
    // Without the store we cannot tell a canceled task: hand them back.
    spdlog::error("scheduler: cannot check {} due task(s): {}", batch.size(),
                  status.ToString());
    for (const Held& h : batch) session_.Reject(h.delivery, /*requeue=*/true);
    absl::SleepFor(absl::Seconds(1));
    return;
  }
  std::vector<Held> claimed;
  claimed.reserve(batch.size());
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
    claimed.push_back(std::move(h));
  }
  if (claimed.empty()) return;
  absl::MutexLock lock(&mu_);
  for (Held& h : claimed) claimed_.push(std::move(h));
  ++claimed_version_;
}

void DueStage::Release(Held held, int64_t now_ms) {
  metrics_.release_lateness.Observe(static_cast<double>(now_ms - held.due_ms) /
                                    1000.0);
  session_.Forward(codec::EncodeTask(held.task), held.delivery.tag(),
                   [this](absl::Status published) {
                     if (published.ok()) metrics_.released.Increment();
                   });
}

}  // namespace ebats::scheduler
