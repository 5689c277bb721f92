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

std::vector<std::string> QueueMonitor::Queues() const {
  std::vector<std::string> queues = {domain::kSchedulerQueue,
                                     domain::kResultsQueue, domain::kDueQueue,
                                     domain::kPoisonQueue};
  for (const std::string& topic : registrations_.Topics()) {
    queues.push_back(domain::TaskQueueName(topic));
    queues.push_back(domain::DeadQueueName(topic));
  }
  return queues;
}

void QueueMonitor::Run() {
  do {
    if (!session_.IsUp()) {
      // Not connected (yet): no figures, and the session says why.
      series_->Update(std::vector<amqp::QueueCounts>{});
      continue;
    }
    auto answered = std::make_shared<absl::Notification>();
    session_.InspectQueues(
        Queues(), [series = series_, answered](
                      absl::StatusOr<std::vector<amqp::QueueCounts>> counts) {
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
