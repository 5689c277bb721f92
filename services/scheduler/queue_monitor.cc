#include "services/scheduler/queue_monitor.h"

#include <map>
#include <set>
#include <utility>

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

  // Only the monitor's thread calls it.
  void Update(const absl::StatusOr<std::vector<amqp::QueueCounts>>& counts) {
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
  bool readable = true;
  // queue -> (ready, consumers)
  std::map<std::string, std::pair<prometheus::Gauge*, prometheus::Gauge*>>
      gauges;
};

QueueMonitor::QueueMonitor(amqp::Session& session,
                           const Registrations& registrations,
                           prometheus::Registry& registry,
                           absl::Duration interval)
    : session_(session),
      registrations_(registrations),
      interval_(interval),
      series_(std::make_unique<Series>(registry)) {}

QueueMonitor::~QueueMonitor() { Shutdown(); }

void QueueMonitor::Start() {
  thread_ = std::thread([this] { Run(); });
}

void QueueMonitor::Shutdown() {
  if (!stop_.HasBeenNotified()) stop_.Notify();
  if (thread_.joinable()) thread_.join();
}

std::vector<QueueMonitor::WatchedQueue> QueueMonitor::Queues(
    absl::string_view topic) const {
  std::vector<WatchedQueue> queues;
  if (topic.empty()) {
    for (const char* own : {domain::kSchedulerQueue, domain::kResultsQueue,
                            domain::kDueQueue, domain::kPoisonQueue}) {
      queues.push_back({own, ""});
    }
    for (int level = 0; level < domain::kLadderLevels; ++level)
      queues.push_back({domain::LadderLevelQueue(level), ""});
  }
  for (const std::string& known : registrations_.Topics()) {
    if (!topic.empty() && known != topic) continue;
    queues.push_back({domain::TaskQueueName(known), known});
    queues.push_back({domain::DeadQueueName(known), known});
  }
  return queues;
}

absl::StatusOr<std::vector<amqp::QueueCounts>> QueueMonitor::ReadNow(
    const std::vector<WatchedQueue>& queues, absl::Time deadline) {
  std::vector<std::string> names;
  for (const WatchedQueue& queue : queues) names.push_back(queue.queue);
  struct Answer {
    absl::Notification done;
    absl::StatusOr<std::vector<amqp::QueueCounts>> counts;
  };
  // Shared with the callback, which may run after a timed-out wait.
  auto answer = std::make_shared<Answer>();
  session_.InspectQueues(
      std::move(names),
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
    // Not connected (yet): no figures, and the session says why. A round
    // that outlasts the interval counts as unreadable; the next one queues
    // behind it on the session, so rounds never pile up faster than that.
    series_->Update(session_.IsUp() ? ReadNow(Queues(), absl::Now() + interval_)
                                    : std::vector<amqp::QueueCounts>{});
  } while (!stop_.WaitForNotificationWithTimeout(interval_));
}

}  // namespace ebats::scheduler
