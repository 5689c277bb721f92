#include "services/worker/demo_handlers.h"

#include "spdlog/spdlog.h"

namespace ebats::worker {
namespace {

Handler LogAndSucceed(const char* what) {
  return [what](const TaskContext& task) {
    spdlog::info("{}: task {} attempt {} params {}", task.task, task.task_id,
                 task.attempt, task.params);
    return Result::Success(what);
  };
}

}  // namespace

void RegisterDemoHandlers(Worker& worker) {
  worker.Handle("closeOrder", LogAndSucceed("order closed"));
  worker.Handle("virtualShipping", LogAndSucceed("virtual goods shipped"));
  worker.Handle("orderAsync", LogAndSucceed("order synchronized"));
}

}  // namespace ebats::worker
