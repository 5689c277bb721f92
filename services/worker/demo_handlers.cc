#include "services/worker/demo_handlers.h"

#include <cstdlib>
#include <functional>

#include "absl/time/clock.h"
#include "nlohmann/json.hpp"
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

Result Flaky(const TaskContext& task) {
  auto params = nlohmann::json::parse(task.params, nullptr,
                                      /*allow_exceptions=*/false);
  auto number = [&](const char* key) -> int64_t {
    if (!params.is_object() || !params.contains(key)) return 0;
    const auto& v = params[key];
    return v.is_number_integer() ? v.get<int64_t>() : 0;
  };
  if (int64_t sleep_ms = number("sleep_ms"); sleep_ms > 0) {
    absl::SleepFor(absl::Milliseconds(sleep_ms));
  }
  const bool unlucky =
      static_cast<int64_t>(std::hash<std::string>{}(task.task_id) % 100) <
      number("retry_percent");
  if (unlucky && task.attempt == 1) return Result::Retry("flaky: try again");
  return Result::Success("flaky: done");
}

}  // namespace

void RegisterDemoHandlers(Worker& worker) {
  worker.Handle("closeOrder", LogAndSucceed("order closed"));
  worker.Handle("virtualShipping", LogAndSucceed("virtual goods shipped"));
  worker.Handle("orderAsync", LogAndSucceed("order synchronized"));
}

void RegisterDrillHandlers(Worker& worker) {
  worker.Handle("flakyTask", Flaky);
  worker.Handle("crashTask", [](const TaskContext& task) -> Result {
    spdlog::critical("crashTask {}: aborting the worker on purpose",
                     task.task_id);
    std::abort();
  });
}

}  // namespace ebats::worker
