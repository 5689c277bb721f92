#include "services/scheduler/dispatcher.h"

#include <algorithm>
#include <iterator>
#include <memory>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/string_view.h"
#include "libs/amqp/confirm_join.h"
#include "libs/codec/message_codec.h"
#include "libs/domain/dispatch_plan.h"
#include "services/scheduler/poison.h"
#include "spdlog/spdlog.h"

namespace ebats::scheduler {
namespace {

// Input messages handled per store transaction.
constexpr size_t kBatchSize = 256;
// How soon confirmed dispatches are recorded when no new input arrives.
constexpr absl::Duration kIdleFlush = absl::Milliseconds(100);

struct Item {
  amqp::Delivery delivery;
  // Where the input's tasks start among all tasks of the batch.
  size_t first = 0;
  // How many tasks each event (or the task request) of the input planned,
  // in order: duplicates are counted per event.
  std::vector<size_t> planned;
};

}  // namespace

Dispatcher::Dispatcher(amqp::Session& session, store::Store& store,
                       Registrations& registrations, SchedulerMetrics& metrics,
                       const Clock& clock, DispatcherOptions options)
    : session_(session),
      store_(store),
      registrations_(registrations),
      metrics_(metrics),
      clock_(clock),
      idempotency_window_ms_(
          absl::ToInt64Milliseconds(options.idempotency_window)),
      max_in_flight_(std::max<size_t>(1, options.max_in_flight_tasks)) {}

Dispatcher::~Dispatcher() { Shutdown(); }

void Dispatcher::Start() {
  thread_ = std::thread([this] { Run(); });
}

void Dispatcher::Shutdown() {
  stopping_ = true;
  queue_.Close();
  if (thread_.joinable()) thread_.join();
}

void Dispatcher::Run() {
  bool done = false;
  while (!done) {
    // As many inputs as fill a quarter of the room at the tasks per input
    // seen last; at least one. A quarter, so that the broker always has the
    // rest to work on while the next batch is stored (with a bound of 20,000
    // and whole-room batches the pipe ran dry: fan-out fell from 15,000 to
    // 12,400 tasks/s).
    const size_t room = WaitForRoom();
    const size_t max_inputs =
        std::clamp<size_t>(room / 4 / tasks_per_input_, 1, kBatchSize);
    // Wakes up now and then even when idle, to record confirms that
    // arrived after the last batch.
    std::vector<amqp::Delivery> batch =
        queue_.PopBatch(max_inputs, kIdleFlush, &done);
    if (!batch.empty()) ProcessBatch(std::move(batch));
    FlushDispatched();
  }
}

size_t Dispatcher::WaitForRoom() {
  while (true) {
    {
      absl::MutexLock lock(&mu_);
      mu_.AwaitWithTimeout(
          absl::Condition(
              +[](Dispatcher* d) ABSL_NO_THREAD_SAFETY_ANALYSIS {
                return d->in_flight_.size() < d->max_in_flight_ ||
                       !d->dispatched_.empty();
              },
              this),
          kIdleFlush);
      if (in_flight_.size() < max_in_flight_)
        return max_in_flight_ - in_flight_.size();
      // Stopping: process what was taken anyway (confirms may not come).
      if (stopping_) return 1;
    }
    FlushDispatched();  // confirmed tasks leave in_flight_
  }
}

void Dispatcher::ProcessBatch(std::vector<amqp::Delivery> batch) {
  const int64_t now_ms = clock_.NowMs();
  std::vector<std::pair<amqp::Delivery, v1::SchedulerInput>> inputs;
  inputs.reserve(batch.size());
  std::vector<std::pair<std::string, int64_t>> keyed;
  for (auto& delivery : batch) {
    auto input = codec::DecodeSchedulerInput(delivery);
    if (!input.ok()) {
      SendToPoison(session_, delivery, input.status(), metrics_);
      continue;
    }
    for (const v1::EventMessage* event : codec::EventsOf(*input)) {
      if (event->keyed())
        keyed.emplace_back(event->event_id(), event->publish_time_ms());
    }
    inputs.emplace_back(std::move(delivery), *std::move(input));
  }
  std::vector<int> generations;
  if (!keyed.empty()) {
    absl::Status s =
        store_.KeyGenerations(keyed, idempotency_window_ms_, &generations);
    if (!s.ok()) {
      spdlog::error("scheduler: cannot look up idempotency keys: {}",
                    s.ToString());
      for (auto& [delivery, input] : inputs)
        session_.Reject(delivery, /*requeue=*/true);
      absl::SleepFor(absl::Seconds(1));
      return;
    }
  }
  size_t next_keyed = 0;
  struct {
    const std::string* name = nullptr;
    Registrations::Matches matches;
    prometheus::Counter* received = nullptr;
  } run;
  std::vector<Item> items;
  // Every task of the batch, in input order: one store transaction.
  std::vector<v1::Task> all;
  for (auto& [delivery, input] : inputs) {
    Item item{std::move(delivery), all.size(), {}};
    for (const v1::TaskRequest* request : codec::TaskRequestsOf(input)) {
      all.push_back(domain::TaskFromRequest(*request, now_ms));
      item.planned.push_back(1);
    }
    for (const v1::EventMessage* event : codec::EventsOf(input)) {
      // A batch holds runs of events of one name: look it up once per run.
      if (run.name == nullptr || *run.name != event->event()) {
        run.name = &event->event();
        run.matches = registrations_.Match(*run.name);
        run.received = &metrics_.received_by_event.Get({{"event", *run.name}});
      }
      run.received->Increment();
      std::vector<v1::Task> planned =
          domain::PlanTasks(*event, *run.matches, now_ms,
                            event->keyed() ? generations[next_keyed++] : 0);
      if (planned.empty()) {
        metrics_.events_unmatched.Add({{"event", event->event()}}).Increment();
      } else {
        item.planned.push_back(planned.size());
      }
      all.insert(all.end(), std::make_move_iterator(planned.begin()),
                 std::make_move_iterator(planned.end()));
    }
    if (all.size() == item.first) {
      session_.Ack(item.delivery);
      continue;
    }
    items.push_back(std::move(item));
  }
  if (!inputs.empty()) {
    tasks_per_input_ =
        std::max<size_t>(1, (all.size() + inputs.size() - 1) / inputs.size());
  }
  if (items.empty()) return;

  std::vector<store::InsertOutcome> outcomes;
  absl::Time started = absl::Now();
  absl::Status stored = store_.InsertTasks(all, &outcomes);
  metrics_.store_insert_seconds.Observe(
      absl::ToDoubleSeconds(absl::Now() - started));
  if (!stored.ok()) {
    // Nothing was recorded: hand the input back and slow down a little.
    spdlog::error("scheduler: cannot record tasks: {}", stored.ToString());
    for (auto& item : items) session_.Reject(item.delivery, /*requeue=*/true);
    absl::SleepFor(absl::Seconds(1));
    return;
  }

  // Resolved once per (topic, task) of the batch, not once per task.
  absl::flat_hash_map<std::pair<absl::string_view, absl::string_view>,
                      prometheus::Counter*>
      dispatched_counters;
  absl::flat_hash_map<absl::string_view, bool> topics_ready;
  for (auto& item : items) {
    std::vector<const v1::Task*> to_send;
    int duplicates = 0;
    {
      absl::MutexLock lock(&mu_);
      size_t next = item.first;
      for (size_t count : item.planned) {
        const size_t before = to_send.size();
        for (size_t end = next + count; next < end; ++next) {
          const v1::Task& task = all[next];
          if (outcomes[next] != store::InsertOutcome::kExistsDispatched &&
              in_flight_.insert(task.id()).second) {
            to_send.push_back(&task);
          }
        }
        if (to_send.size() == before) ++duplicates;
      }
    }
    if (duplicates > 0) metrics_.events_duplicate.Increment(duplicates);
    if (to_send.empty()) {
      session_.Ack(item.delivery);
      continue;
    }
    bool ready = true;
    for (const v1::Task* task : to_send) {
      auto [it, added] = topics_ready.try_emplace(task->topic(), false);
      if (added) it->second = registrations_.EnsureTopic(task->topic()).ok();
      ready = ready && it->second;
    }
    if (!ready) {
      absl::MutexLock lock(&mu_);
      for (const v1::Task* task : to_send) in_flight_.erase(task->id());
      session_.Reject(item.delivery, /*requeue=*/true);
      continue;
    }
    // Acks the input message once all its tasks are confirmed.
    const amqp::DeliveryTag handle = item.delivery.tag();
    auto confirmed = amqp::JoinConfirms(
        static_cast<int>(to_send.size()), [this, handle](absl::Status error) {
          if (error.ok()) {
            session_.Ack(handle);
          } else {
            session_.Reject(handle, /*requeue=*/true);
          }
        });
    for (const v1::Task* task : to_send) {
      prometheus::Counter*& dispatched =
          dispatched_counters[{task->topic(), task->task()}];
      if (dispatched == nullptr) {
        dispatched = &metrics_.dispatched_by_task.Get(
            {{"topic", task->topic()}, {"task", task->task()}});
      }
      session_.Publish(
          task->due_time_ms() > now_ms
              ? codec::EncodeDelayed(domain::FirstRun(*task), now_ms)
              : codec::EncodeTask(domain::FirstRun(*task)),
          [this, confirmed, dispatched, id = task->id()](absl::Status status) {
            if (status.ok()) {
              dispatched->Increment();
              absl::MutexLock lock(&mu_);
              dispatched_.push_back(id);
            } else {
              absl::MutexLock lock(&mu_);
              in_flight_.erase(id);
            }
            confirmed(std::move(status));
          });
    }
  }
}

void Dispatcher::FlushDispatched() {
  std::vector<std::string> ids;
  {
    absl::MutexLock lock(&mu_);
    ids.swap(dispatched_);
    // Sampled here, after every batch and idle wake-up (at least every
    // kIdleFlush), rather than at each of the places that change it.
    metrics_.dispatch_in_flight.Set(static_cast<double>(in_flight_.size()));
  }
  if (ids.empty()) return;
  absl::Status status = store_.MarkDispatched(ids, clock_.NowMs());
  if (!status.ok()) {
    // Only costs a possible duplicate dispatch after a redelivery.
    spdlog::warn("scheduler: cannot mark {} tasks dispatched: {}", ids.size(),
                 status.ToString());
  }
  absl::MutexLock lock(&mu_);
  for (const auto& id : ids) in_flight_.erase(id);
}

}  // namespace ebats::scheduler
