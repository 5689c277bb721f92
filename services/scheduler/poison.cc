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
  session.Forward(codec::EncodePoison(delivery, std::string(why.message())),
                  delivery.tag());
}

}  // namespace ebats::scheduler
