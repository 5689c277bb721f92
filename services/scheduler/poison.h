// Undecodable input never crashes the scheduler or loops: it moves to
// ebats.poison with the reason, and only then is it acked.
#ifndef EBATS_SERVICES_SCHEDULER_POISON_H_
#define EBATS_SERVICES_SCHEDULER_POISON_H_

#include "absl/status/status.h"
#include "libs/amqp/session.h"
#include "services/scheduler/scheduler_metrics.h"

namespace ebats::scheduler {

void SendToPoison(amqp::Session& session, const amqp::Delivery& delivery,
                  const absl::Status& why, SchedulerMetrics& metrics);

}  // namespace ebats::scheduler

#endif  // EBATS_SERVICES_SCHEDULER_POISON_H_
