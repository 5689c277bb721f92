// The handlers of the order example (DESIGN.md): closeOrder,
// virtualShipping, orderAsync. Each logs its params and succeeds.
#ifndef EBATS_SERVICES_WORKER_DEMO_HANDLERS_H_
#define EBATS_SERVICES_WORKER_DEMO_HANDLERS_H_

#include "libs/worker/worker.h"

namespace ebats::worker {

void RegisterDemoHandlers(Worker& worker);

}  // namespace ebats::worker

#endif  // EBATS_SERVICES_WORKER_DEMO_HANDLERS_H_
