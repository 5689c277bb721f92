#include "services/scheduler/poison.h"

#include <string>

#include "libs/codec/message_codec.h"
#include "libs/domain/broker_names.h"
#include "spdlog/spdlog.h"

namespace ebats::scheduler {

void SendToPoison(amqp::Session& session, const amqp::Delivery& delivery,
                  const absl::Status& why, SchedulerMetrics& metrics) {
  spdlog::error("scheduler: undecodable message on {} moved to {}: {}",
                delivery.queue, domain::kPoisonQueue, why.ToString());
  metrics.poison.Add({{"queue", delivery.queue}}).Increment();
  amqp::Delivery handle;
  handle.delivery_tag = delivery.delivery_tag;
  handle.connection_generation = delivery.connection_generation;
  session.Publish(codec::EncodePoison(delivery, std::string(why.message())),
                  [&session, handle](absl::Status status) {
                    if (status.ok()) {
                      session.Ack(handle);
                    } else {
                      session.Reject(handle, /*requeue=*/true);
                    }
                  });
}

}  // namespace ebats::scheduler
