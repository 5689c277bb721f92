// The AMQP form of every ebats message: body, type, routing and headers.
// Used by all services, so producer and consumer always agree.
#ifndef EBATS_LIBS_CODEC_MESSAGE_CODEC_H_
#define EBATS_LIBS_CODEC_MESSAGE_CODEC_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "ebats/v1/messages.pb.h"
#include "libs/amqp/publish_batcher.h"
#include "libs/amqp/session.h"

namespace ebats::codec {

// A ready task for ebats.ntask (routing key = topic), with tracing headers.
amqp::Message EncodeTask(const v1::TaskMessage& task);
// `task` on the delay path: through the ladder (ebats.dtask) when it is due
// later than the ladder's margin from `now_ms`, else straight to ebats.due;
// either way the scheduler's due stage releases it at its due time.
amqp::Message EncodeDelayed(const v1::TaskMessage& task, int64_t now_ms);
// INVALID_ARGUMENT when the body is not a TaskMessage with valid names.
absl::StatusOr<v1::TaskMessage> DecodeTask(const amqp::Delivery& delivery);
// Classic queues do not count deliveries, so a worker that receives a task
// again re-publishes it with the count in the message: which delivery of
// its attempt a message is (1 for the first; a field left 0 also means 1).
int64_t DeliveryOfAttempt(const v1::TaskMessage& task);
// A re-published copy of a task whose attempt was delivered before (classic
// mode): the due stage lets it through only while the attempt is unsettled.
inline bool IsReRun(const v1::TaskMessage& task) {
  return DeliveryOfAttempt(task) > 1;
}
// A worker report for ebats.results.
amqp::Message EncodeResult(const v1::TaskResult& result);
// INVALID_ARGUMENT when the body is not a TaskResult with a task id.
absl::StatusOr<v1::TaskResult> DecodeResult(const amqp::Delivery& delivery);
// Several reports in one message for ebats.results (one report is sent in
// its single form).
amqp::Message EncodeResults(const std::vector<v1::TaskResult>& results);
// The same, as the one part of a batch (for amqp::PublishBatcher).
std::vector<amqp::BatchPart> EncodeResultBatch(
    const std::vector<v1::TaskResult>& results);
// The reports in a delivery on ebats.results, batch or single.
// INVALID_ARGUMENT when the body is neither, or a task id is invalid.
absl::StatusOr<std::vector<v1::TaskResult>> DecodeResults(
    const amqp::Delivery& delivery);
// An event for ebats.events (routing key = event name).
amqp::Message EncodeEvent(const v1::EventMessage& event);
// Events for ebats.events as few messages as possible: one per event name
// (the routing key), split so that no body exceeds `max_body_bytes` (an
// event larger than that travels alone); each part lists the indices of the
// events it carries. A lone event is sent in its single form. Parts follow
// the order of each name's first event.
std::vector<amqp::BatchPart> EncodeEvents(
    const std::vector<v1::EventMessage>& events,
    size_t max_body_bytes = 1 << 20);
// The events a scheduler input carries: one, a batch's, or none (a task
// request).
std::vector<const v1::EventMessage*> EventsOf(const v1::SchedulerInput& input);
// A CreateTask request for the scheduler's input.
amqp::Message EncodeTaskRequest(const v1::TaskRequest& request);
// Task requests as few messages as possible: one per topic (the routing
// key), split as EncodeEvents does.
std::vector<amqp::BatchPart> EncodeTaskRequests(
    const std::vector<v1::TaskRequest>& requests,
    size_t max_body_bytes = 1 << 20);
// The task requests a scheduler input carries: one, a batch's, or none.
std::vector<const v1::TaskRequest*> TaskRequestsOf(
    const v1::SchedulerInput& input);
// INVALID_ARGUMENT when the body is not a SchedulerInput with valid names.
absl::StatusOr<v1::SchedulerInput> DecodeSchedulerInput(
    const amqp::Delivery& delivery);
// A dead task for ebats.dead.<topic>, with its reason in a header.
amqp::Message EncodeDead(const v1::TaskMessage& task, const std::string& reason,
                         const std::string& last_message);
// An undecodable delivery for ebats.poison, body unchanged, reason in a header.
amqp::Message EncodePoison(const amqp::Delivery& delivery,
                           const std::string& reason);

}  // namespace ebats::codec

#endif  // EBATS_LIBS_CODEC_MESSAGE_CODEC_H_
