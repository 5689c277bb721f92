#include "libs/codec/message_codec.h"

#include <algorithm>
#include <numeric>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "libs/domain/broker_names.h"
#include "libs/domain/delay_ladder.h"
#include "libs/domain/names.h"

namespace ebats::codec {

namespace names = ::ebats::domain;

amqp::Message EncodeTask(const v1::TaskMessage& task) {
  amqp::Message m;
  m.exchange = names::kReadyTaskExchange;
  m.routing_key = task.topic();
  m.type = names::kTypeTask;
  m.message_id = task.task_id();
  m.body = task.SerializeAsString();
  m.headers = {{names::kHeaderTaskId, task.task_id()},
               {names::kHeaderAttempt, int64_t{task.attempt()}},
               {names::kHeaderPublishTime, task.publish_time_ms()},
               {names::kHeaderDueTime, task.due_time_ms()}};
  return m;
}

amqp::Message EncodeDelayed(const v1::TaskMessage& task, int64_t now_ms) {
  amqp::Message m = EncodeTask(task);
  const int64_t ladder_ms = names::LadderDelayMs(task.due_time_ms() - now_ms);
  const int top = names::LadderTopLevel(ladder_ms);
  if (top < 0) {
    m.exchange = "";
    m.routing_key = names::kDueQueue;
    return m;
  }
  // Enter at the highest set bit; the levels below read their own bit.
  m.exchange = names::LadderLevelExchange(top);
  m.routing_key = task.topic();
  for (int level = top; level >= 0; --level) {
    m.headers.emplace_back(names::LadderBitHeader(level),
                           int64_t{names::LadderBit(ladder_ms, level) ? 1 : 0});
  }
  return m;
}

absl::StatusOr<v1::TaskMessage> DecodeTask(const amqp::Delivery& delivery) {
  v1::TaskMessage task;
  if (!task.ParseFromString(delivery.body)) {
    return absl::InvalidArgumentError("body is not an ebats.v1.TaskMessage");
  }
  if (absl::Status s = names::ValidateId(task.task_id(), "task id"); !s.ok())
    return s;
  if (absl::Status s = names::ValidateTopicName(task.topic()); !s.ok())
    return s;
  if (absl::Status s = names::ValidateTaskName(task.task()); !s.ok()) return s;
  if (task.attempt() < 1) task.set_attempt(1);
  return task;
}

int64_t DeliveryOfAttempt(const v1::TaskMessage& task) {
  return std::max<int64_t>(task.deliveries(), 1);
}

amqp::Message EncodeResult(const v1::TaskResult& result) {
  amqp::Message m;
  m.exchange = "";
  m.routing_key = names::kResultsQueue;
  m.type = names::kTypeResult;
  m.body = result.SerializeAsString();
  m.headers = {{names::kHeaderTaskId, result.task_id()},
               {names::kHeaderAttempt, int64_t{result.attempt()}}};
  return m;
}

amqp::Message EncodeResults(const std::vector<v1::TaskResult>& results) {
  if (results.size() == 1) return EncodeResult(results.front());
  amqp::Message m;
  m.exchange = "";
  m.routing_key = names::kResultsQueue;
  m.type = names::kTypeResultBatch;
  v1::TaskResultBatch batch;
  batch.mutable_results()->Reserve(static_cast<int>(results.size()));
  for (const auto& r : results) *batch.add_results() = r;
  m.body = batch.SerializeAsString();
  return m;
}

std::vector<amqp::BatchPart> EncodeResultBatch(
    const std::vector<v1::TaskResult>& results) {
  std::vector<amqp::BatchPart> parts(1);
  parts[0].message = EncodeResults(results);
  parts[0].items.resize(results.size());
  std::iota(parts[0].items.begin(), parts[0].items.end(), 0);
  return parts;
}

absl::StatusOr<std::vector<v1::TaskResult>> DecodeResults(
    const amqp::Delivery& delivery) {
  std::vector<v1::TaskResult> results;
  if (delivery.type != names::kTypeResultBatch) {
    auto one = DecodeResult(delivery);
    if (!one.ok()) return one.status();
    results.push_back(*std::move(one));
    return results;
  }
  v1::TaskResultBatch batch;
  if (!batch.ParseFromString(delivery.body)) {
    return absl::InvalidArgumentError(
        "body is not an ebats.v1.TaskResultBatch");
  }
  results.reserve(batch.results_size());
  for (auto& r : *batch.mutable_results()) {
    if (absl::Status s = names::ValidateId(r.task_id(), "task id"); !s.ok())
      return s;
    results.push_back(std::move(r));
  }
  return results;
}

absl::StatusOr<v1::TaskResult> DecodeResult(const amqp::Delivery& delivery) {
  v1::TaskResult result;
  if (!result.ParseFromString(delivery.body)) {
    return absl::InvalidArgumentError("body is not an ebats.v1.TaskResult");
  }
  if (absl::Status s = names::ValidateId(result.task_id(), "task id"); !s.ok())
    return s;
  return result;
}

amqp::Message EncodeEvent(const v1::EventMessage& event) {
  amqp::Message m;
  m.exchange = names::kEventsExchange;
  m.routing_key = event.event();
  m.type = names::kTypeEvent;
  m.message_id = event.event_id();
  m.headers = {{names::kHeaderPublishTime, event.publish_time_ms()}};
  v1::SchedulerInput input;
  *input.mutable_event() = event;
  m.body = input.SerializeAsString();
  return m;
}

namespace {

// How one kind of scheduler input travels in batches.
template <typename Item>
struct BatchForm {
  std::string (*routing_key)(const Item&);
  Item* (*add_to)(v1::SchedulerInput&);
  amqp::Message (*single)(const Item&);
  const char* type;
  int64_t (*publish_time_ms)(const Item&);
};

// Groups `items` by routing key into batches of at most `max_body_bytes`
// (an item larger than that travels alone), in the order of each key's
// first item; a batch of one is sent in its single form.
template <typename Item>
std::vector<amqp::BatchPart> EncodeBatches(const std::vector<Item>& items,
                                           size_t max_body_bytes,
                                           const BatchForm<Item>& form) {
  struct Open {
    v1::SchedulerInput input;
    std::vector<int> items;
    size_t bytes = 0;
    std::string key;
  };
  std::vector<Open> batches;
  absl::flat_hash_map<std::string, size_t> open_by_key;
  for (int i = 0; i < static_cast<int>(items.size()); ++i) {
    const size_t bytes = items[i].ByteSizeLong() + 8;
    std::string key = form.routing_key(items[i]);
    auto [it, is_new] = open_by_key.try_emplace(key, batches.size());
    if (is_new || batches[it->second].bytes + bytes > max_body_bytes) {
      it->second = batches.size();
      batches.emplace_back();
      batches.back().key = std::move(key);
    }
    Open& open = batches[it->second];
    *form.add_to(open.input) = items[i];
    open.items.push_back(i);
    open.bytes += bytes;
  }
  std::vector<amqp::BatchPart> out;
  out.reserve(batches.size());
  for (Open& open : batches) {
    const Item& first = items[open.items.front()];
    if (open.items.size() == 1) {
      out.push_back({form.single(first), std::move(open.items)});
      continue;
    }
    amqp::Message m;
    m.exchange = names::kEventsExchange;
    m.routing_key = std::move(open.key);
    m.type = form.type;
    m.headers = {{names::kHeaderPublishTime, form.publish_time_ms(first)}};
    m.body = open.input.SerializeAsString();
    out.push_back({std::move(m), std::move(open.items)});
  }
  return out;
}

}  // namespace

std::vector<amqp::BatchPart> EncodeEvents(
    const std::vector<v1::EventMessage>& events, size_t max_body_bytes) {
  static const BatchForm<v1::EventMessage> kForm{
      [](const v1::EventMessage& e) { return e.event(); },
      [](v1::SchedulerInput& in) {
        return in.mutable_event_batch()->add_events();
      },
      EncodeEvent, names::kTypeEventBatch,
      [](const v1::EventMessage& e) { return e.publish_time_ms(); }};
  return EncodeBatches(events, max_body_bytes, kForm);
}

std::vector<amqp::BatchPart> EncodeTaskRequests(
    const std::vector<v1::TaskRequest>& requests, size_t max_body_bytes) {
  static const BatchForm<v1::TaskRequest> kForm{
      [](const v1::TaskRequest& r) {
        return names::TaskRequestRoutingKey(r.topic());
      },
      [](v1::SchedulerInput& in) {
        return in.mutable_task_request_batch()->add_requests();
      },
      EncodeTaskRequest, names::kTypeTaskRequestBatch,
      [](const v1::TaskRequest& r) { return r.publish_time_ms(); }};
  return EncodeBatches(requests, max_body_bytes, kForm);
}

std::vector<const v1::TaskRequest*> TaskRequestsOf(
    const v1::SchedulerInput& input) {
  std::vector<const v1::TaskRequest*> requests;
  if (input.has_task_request()) requests.push_back(&input.task_request());
  for (const v1::TaskRequest& r : input.task_request_batch().requests())
    requests.push_back(&r);
  return requests;
}

std::vector<const v1::EventMessage*> EventsOf(const v1::SchedulerInput& input) {
  std::vector<const v1::EventMessage*> events;
  if (input.has_event()) events.push_back(&input.event());
  for (const v1::EventMessage& e : input.event_batch().events())
    events.push_back(&e);
  return events;
}

amqp::Message EncodeTaskRequest(const v1::TaskRequest& request) {
  amqp::Message m;
  m.exchange = names::kEventsExchange;
  m.routing_key = names::TaskRequestRoutingKey(request.topic());
  m.type = names::kTypeTaskRequest;
  m.message_id = request.task_id();
  m.headers = {{names::kHeaderPublishTime, request.publish_time_ms()},
               {names::kHeaderTaskId, request.task_id()}};
  v1::SchedulerInput input;
  *input.mutable_task_request() = request;
  m.body = input.SerializeAsString();
  return m;
}

absl::StatusOr<v1::SchedulerInput> DecodeSchedulerInput(
    const amqp::Delivery& delivery) {
  v1::SchedulerInput input;
  if (!input.ParseFromString(delivery.body)) {
    return absl::InvalidArgumentError("body is not an ebats.v1.SchedulerInput");
  }
  if (input.has_event() || input.has_event_batch()) {
    if (input.has_event_batch() && input.event_batch().events_size() == 0) {
      return absl::InvalidArgumentError("EventBatch carries no event");
    }
    for (const v1::EventMessage* e : EventsOf(input)) {
      if (absl::Status s = names::ValidateEventName(e->event()); !s.ok())
        return s;
      if (absl::Status s = names::ValidateId(e->event_id(), "event id");
          !s.ok())
        return s;
    }
  } else if (input.has_task_request() || input.has_task_request_batch()) {
    if (input.has_task_request_batch() &&
        input.task_request_batch().requests_size() == 0) {
      return absl::InvalidArgumentError("TaskRequestBatch carries no request");
    }
    for (const v1::TaskRequest* t : TaskRequestsOf(input)) {
      if (absl::Status s = names::ValidateId(t->task_id(), "task id"); !s.ok())
        return s;
      if (absl::Status s = names::ValidateTopicName(t->topic()); !s.ok())
        return s;
      if (absl::Status s = names::ValidateTaskName(t->task()); !s.ok())
        return s;
    }
  } else {
    return absl::InvalidArgumentError(
        "SchedulerInput carries neither an event nor a task");
  }
  return input;
}

amqp::Message EncodeDead(const v1::TaskMessage& task, const std::string& reason,
                         const std::string& last_message) {
  amqp::Message m = EncodeTask(task);
  m.exchange = "";
  m.routing_key = names::DeadQueueName(task.topic());
  m.headers.emplace_back("x-ebats-dead-reason", reason);
  m.headers.emplace_back("x-ebats-last-message", last_message);
  return m;
}

amqp::Message EncodePoison(const amqp::Delivery& delivery,
                           const std::string& reason) {
  amqp::Message m;
  m.exchange = "";
  m.routing_key = names::kPoisonQueue;
  m.type = delivery.type;
  m.body = delivery.body;
  m.headers = {{names::kHeaderPoisonReason, reason},
               {"x-ebats-poison-queue", delivery.queue}};
  return m;
}

}  // namespace ebats::codec
