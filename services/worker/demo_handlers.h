// The handlers of the order example (DESIGN.md): closeOrder,
// virtualShipping, orderAsync. Each logs its params and succeeds.
//
// Drill handlers, for fault drills and tests only (ebats-worker
// --drill_handlers):
//   flakyTask  params {"retry_percent": P, "sleep_ms": S}: sleeps S ms, then
//              asks for a retry on its first attempt for P% of tasks (picked
//              by task id, so a repeated run decides the same way).
//   crashTask  aborts the worker process: a poison task.
#ifndef EBATS_SERVICES_WORKER_DEMO_HANDLERS_H_
#define EBATS_SERVICES_WORKER_DEMO_HANDLERS_H_

#include "libs/worker/worker.h"

namespace ebats::worker {

void RegisterDemoHandlers(Worker& worker);
void RegisterDrillHandlers(Worker& worker);

}  // namespace ebats::worker

#endif  // EBATS_SERVICES_WORKER_DEMO_HANDLERS_H_
