#include "services/scheduler/registrations.h"

#include <algorithm>
#include <memory>

#include "absl/synchronization/notification.h"
#include "libs/amqp/ebats_topology.h"
#include "libs/common/status_macros.h"
#include "libs/domain/registration.h"
#include "spdlog/spdlog.h"

namespace ebats::scheduler {

Registrations::Registrations(store::Store& store, amqp::Session& session,
                             amqp::QueueType queue_type, int delivery_limit)
    : store_(store),
      session_(session),
      queue_type_(queue_type),
      delivery_limit_(delivery_limit) {}

absl::Status Registrations::Load() {
  EBATS_ASSIGN_OR_RETURN(auto all, store_.ListRegistrations(""));
  std::map<std::string, std::vector<v1::Registration>> grouped;
  for (auto& r : all) grouped[r.event()].push_back(std::move(r));
  EBATS_ASSIGN_OR_RETURN(std::vector<std::string> used, store_.ListTopics());
  absl::MutexLock lock(&mu_);
  used_.insert(used.begin(), used.end());
  by_event_.clear();
  for (auto& [event, list] : grouped) {
    for (const auto& r : list) topics_.insert(r.topic());
    by_event_[event] =
        std::make_shared<const std::vector<v1::Registration>>(std::move(list));
  }
  return absl::OkStatus();
}

amqp::Topology Registrations::TopicsTopology() const {
  absl::MutexLock lock(&mu_);
  amqp::Topology topology;
  for (const auto& topic : topics_)
    topology.Merge(amqp::TopicTopology(queue_type_, topic, delivery_limit_));
  return topology;
}

absl::StatusOr<bool> Registrations::Put(const v1::Registration& registration) {
  EBATS_RETURN_IF_ERROR(domain::ValidateRegistration(registration));
  EBATS_ASSIGN_OR_RETURN(bool created, store_.PutRegistration(registration));
  if (created) {
    absl::MutexLock lock(&mu_);
    EditLocked(registration.event(), [&](std::vector<v1::Registration>& list) {
      list.push_back(registration);
    });
    topics_.insert(registration.topic());
  }
  // Best effort now; the session declares it again at every connect, and
  // EnsureTopic checks before any task goes out.
  EnsureTopic(registration.topic()).IgnoreError();
  return created;
}

absl::Status Registrations::Delete(const std::string& event,
                                   const std::string& topic,
                                   const std::string& task) {
  EBATS_RETURN_IF_ERROR(store_.DeleteRegistration(event, topic, task));
  absl::MutexLock lock(&mu_);
  EditLocked(event, [&](std::vector<v1::Registration>& list) {
    list.erase(std::remove_if(list.begin(), list.end(),
                              [&](const v1::Registration& r) {
                                return r.topic() == topic && r.task() == task;
                              }),
               list.end());
  });
  return absl::OkStatus();
}

void Registrations::EditLocked(
    const std::string& event,
    const std::function<void(std::vector<v1::Registration>&)>& edit) {
  auto it = by_event_.find(event);
  auto list = it != by_event_.end() && it->second
                  ? std::make_shared<std::vector<v1::Registration>>(*it->second)
                  : std::make_shared<std::vector<v1::Registration>>();
  edit(*list);
  if (!list->empty()) {
    by_event_[event] = std::move(list);
  } else if (it != by_event_.end()) {
    by_event_.erase(it);
  }
}

Registrations::Matches Registrations::Match(const std::string& event) const {
  static const auto* const kNone =
      new Matches(std::make_shared<const std::vector<v1::Registration>>());
  absl::MutexLock lock(&mu_);
  auto it = by_event_.find(event);
  return it == by_event_.end() ? *kNone : it->second;
}

std::vector<std::string> Registrations::Topics() const {
  absl::MutexLock lock(&mu_);
  std::set<std::string> all = topics_;
  all.insert(used_.begin(), used_.end());
  return {all.begin(), all.end()};
}

absl::Status Registrations::EnsureTopic(const std::string& topic) {
  {
    absl::MutexLock lock(&mu_);
    if (declared_.count(topic) > 0) return absl::OkStatus();
  }
  struct Outcome {
    absl::Notification done;
    absl::Status status;
  };
  auto outcome = std::make_shared<Outcome>();
  session_.Declare(amqp::TopicTopology(queue_type_, topic, delivery_limit_),
                   [outcome](absl::Status s) {
                     outcome->status = std::move(s);
                     outcome->done.Notify();
                   });
  if (!outcome->done.WaitForNotificationWithTimeout(absl::Seconds(10))) {
    return absl::UnavailableError(
        "scheduler: declaring topic queues timed out");
  }
  if (!outcome->status.ok()) {
    spdlog::warn("scheduler: cannot declare queues of topic {}: {}", topic,
                 outcome->status.ToString());
    return outcome->status;
  }
  {
    absl::MutexLock lock(&mu_);
    declared_.insert(topic);
  }
  RememberTopic(topic);
  return absl::OkStatus();
}

void Registrations::RememberTopic(const std::string& topic) {
  {
    absl::MutexLock lock(&mu_);
    if (used_.count(topic) > 0) return;
  }
  // Only the queue monitor needs it: a failure costs no task.
  if (absl::Status s = store_.AddTopic(topic); !s.ok()) {
    spdlog::warn("scheduler: cannot remember topic {}: {}", topic,
                 s.ToString());
    return;
  }
  absl::MutexLock lock(&mu_);
  used_.insert(topic);
}

}  // namespace ebats::scheduler
