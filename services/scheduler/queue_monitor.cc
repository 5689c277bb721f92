#include "services/scheduler/queue_monitor.h"

#include <map>
#include <set>
#include <utility>

#include "absl/synchronization/mutex.h"
#include "libs/domain/broker_names.h"
#include "libs/domain/delay_ladder.h"
#include "prometheus/family.h"
#include "prometheus/gauge.h"
#include "spdlog/spdlog.h"

namespace ebats::scheduler {

struct QueueMonitor::Series {
  explicit Series(prometheus::Registry& registry)
      : ready(prometheus::BuildGauge()
                  .Name("ebats_queue_ready_messages")
                  .Help("Messages ready for a consumer in each ebats queue, "
                        "as the broker counts them (not those delivered and "
                        "unacked)")
                  .Register(registry)),
        consumers(prometheus::BuildGauge()
                      .Name("ebats_queue_consumers")
                      .Help("Consumers attached to each ebats queue")
                      .Register(registry)) {}

  void Update(const absl::StatusOr<std::vector<amqp::QueueCounts>>& counts) {
    absl::MutexLock lock(&mu);
    if (stopped) return;
    if (!counts.ok() && readable) {
      spdlog::warn("scheduler: cannot read queue depths: {}",
                   counts.status().ToString());
    }
    readable = counts.ok();
    std::set<std::string> seen;
    if (counts.ok()) {
      for (const amqp::QueueCounts& queue : *counts) {
        if (!queue.exists) continue;
        auto [it, added] = gauges.try_emplace(queue.queue);
        if (added) {
          it->second = {&ready.Add({{"queue", queue.queue}}),
                        &consumers.Add({{"queue", queue.queue}})};
        }
        it->second.first->Set(queue.ready_messages);
        it->second.second->Set(queue.consumers);
        seen.insert(queue.queue);
      }
    }
    for (auto it = gauges.begin(); it != gauges.end();) {
      if (seen.count(it->first) > 0) {
        ++it;
        continue;
      }
      ready.Remove(it->second.first);
      consumers.Remove(it->second.second);
      it = gauges.erase(it);
    }
  }

  prometheus::Family<prometheus::Gauge>& ready;
  prometheus::Family<prometheus::Gauge>& consumers;
  absl::Mutex mu;
  bool stopped ABSL_GUARDED_BY(mu) = false;
  bool readable ABSL_GUARDED_BY(mu) = true;
  // queue -> (ready, consumers)
  std::map<std::string, std::pair<prometheus::Gauge*, prometheus::Gauge*>>
      gauges ABSL_GUARDED_BY(mu);
};

QueueMonitor::QueueMonitor(amqp::Session& session,
                           const Registrations& registrations,
                           prometheus::Registry& registry,
                           absl::Duration interval)
    : session_(session),
      registrations_(registrations),
      interval_(interval),
      series_(std::make_shared<Series>(registry)) {}

QueueMonitor::~QueueMonitor() { Shutdown(); }

void QueueMonitor::Start() {
  thread_ = std::thread([this] { Run(); });
}

void QueueMonitor::Shutdown() {
  if (!stop_.HasBeenNotified()) stop_.Notify();
  if (thread_.joinable()) thread_.join();
  absl::MutexLock lock(&series_->mu);
  series_->stopped = true;
}

std::vector<QueueMonitor::WatchedQueue> QueueMonitor::Queues(
    absl::string_view topic) const {
  std::vector<WatchedQueue> queues;
  if (topic.empty()) {
    for (const char* own : {domain::kSchedulerQueue, domain::kResultsQueue,
                            domain::kDueQueue, domain::kPoisonQueue}) {
      queues.push_back({own, ""});
    }
  }
  for (const std::string& known : registrations_.Topics()) {
    if (!topic.empty() && known != topic) continue;
    queues.push_back({domain::TaskQueueName(known), known});
    queues.push_back({domain::DeadQueueName(known), known});
  }
  return queues;
}

absl::StatusOr<std::vector<amqp::QueueCounts>> QueueMonitor::ReadNow(
    std::vector<std::string> queues, absl::Time deadline) {
  struct Answer {
    absl::Notification done;
    absl::StatusOr<std::vector<amqp::QueueCounts>> counts;
  };
  auto answer = std::make_shared<Answer>();
  session_.InspectQueues(
      std::move(queues),
      [answer](absl::StatusOr<std::vector<amqp::QueueCounts>> counts) {
        answer->counts = std::move(counts);
        answer->done.Notify();
      });
  if (!answer->done.WaitForNotificationWithDeadline(deadline)) {
    return absl::DeadlineExceededError(
        "scheduler: RabbitMQ did not give the queue counts in time");
  }
  return answer->counts;
}

void QueueMonitor::Run() {
  do {
    if (!session_.IsUp()) {
      // Not connected (yet): no figures, and the session says why.
      series_->Update(std::vector<amqp::QueueCounts>{});
      continue;
    }
    std::vector<std::string> names;
    for (WatchedQueue& watched : Queues()) {
      names.push_back(std::move(watched.queue));
    }
    auto answered = std::make_shared<absl::Notification>();
    session_.InspectQueues(
        std::move(names),
        [series = series_,
         answered](absl::StatusOr<std::vector<amqp::QueueCounts>> counts) {
          series->Update(counts);
          answered->Notify();
        });
    // One round at a time: a broker slow to answer is not asked again
    // before it has.
    while (!answered->WaitForNotificationWithTimeout(interval_)) {
      if (stop_.HasBeenNotified()) return;
    }
  } while (!stop_.WaitForNotificationWithTimeout(interval_));
}

}  // namespace ebats::scheduler
