// ebats-worker: runs the demo handlers (see demo_handlers.h) on the topics
// given, with the worker library. A real deployment links the worker library
// into its own binary with its own handlers.
#include <cstdlib>
#include <thread>

#include "absl/flags/flag.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/notification.h"
#include "libs/common/env.h"
#include "libs/common/shutdown_signal.h"
#include "libs/rpc/server.h"
#include "libs/service/service_runtime.h"
#include "services/worker/demo_handlers.h"
#include "spdlog/spdlog.h"

ABSL_FLAG(std::string, listen,
          ebats::EnvOr("EBATS_WORKER_ADDR", "127.0.0.1:7403"),
          "gRPC address (health, reflection); port 0 picks a free one "
          "[EBATS_WORKER_ADDR]");
ABSL_FLAG(std::string, metrics_addr,
          ebats::EnvOr("EBATS_WORKER_METRICS_ADDR", "127.0.0.1:9403"),
          "Prometheus /metrics address; port 0 picks one "
          "[EBATS_WORKER_METRICS_ADDR]");
ABSL_FLAG(std::string, topics, ebats::EnvOr("EBATS_TOPICS", "demo"),
          "comma-separated topics to consume [EBATS_TOPICS]");
ABSL_FLAG(int, concurrency, 4, "handlers running at once (1 or more)");
ABSL_FLAG(int, prefetch, 0,
          "unacked tasks held per topic (up to 65535); 0 = 32 x concurrency "
          "(deep enough for short tasks; use ~2 x concurrency for long ones)");
ABSL_FLAG(absl::Duration, report_start_after, absl::Milliseconds(100),
          "a run still going after this long is reported STARTED (the store "
          "shows it RUNNING); shorter runs report only their outcome; 0 = "
          "report every start, inf = never");
ABSL_FLAG(std::string, scheduler,
          ebats::EnvOr("EBATS_SCHEDULER_ADDR", "127.0.0.1:7402"),
          "scheduler gRPC address to register with; empty = none "
          "[EBATS_SCHEDULER_ADDR]");
ABSL_FLAG(std::string, worker_id, "",
          "worker id; default <host>-<pid>-<random>");
ABSL_FLAG(bool, drill_handlers, false,
          "also run the drill handlers flakyTask and crashTask (fault drills "
          "and tests only; crashTask aborts the process)");
ABSL_FLAG(absl::Duration, task_timeout, absl::Minutes(10),
          "longest run of a task whose retry policy sets no timeout (at most "
          "25m, below RabbitMQ's consumer_timeout); a longer run counts as a "
          "retry");
ABSL_FLAG(int, grace_seconds, 30,
          "on SIGTERM, how long running tasks may finish");

int main(int argc, char** argv) {
  using namespace ebats;
  service::Init(argc, argv, "ebats-worker",
                "ebats-worker: runs tasks of the given topics");
  auto broker = service::BrokerConfigFromFlags();
  auto security = service::SecurityFromFlags();
  if (!security.ok()) {
    spdlog::critical("{}", security.status().ToString());
    return 2;
  }
  if (!broker.ok()) {
    spdlog::critical("{}", broker.status().ToString());
    return 2;
  }
  if (absl::Status s = service::FirstError(
          {service::CheckFlagRange("grace_seconds",
                                   absl::GetFlag(FLAGS_grace_seconds), 0,
                                   24 * 3600),
           service::CheckFlagRange(
               "report_start_after", absl::GetFlag(FLAGS_report_start_after),
               absl::ZeroDuration(), absl::InfiniteDuration())});
      !s.ok()) {
    spdlog::critical("{}", s.ToString());
    return 2;
  }
  auto runtime =
      service::Runtime::Create("worker", absl::GetFlag(FLAGS_metrics_addr));
  if (!runtime.ok()) {
    spdlog::critical("{}", runtime.status().ToString());
    return 1;
  }

  worker::WorkerOptions options;
  options.brokers = broker->brokers;
  options.broker_tls = broker->tls;
  options.queue_type = broker->queue_type;
  options.delivery_limit = broker->delivery_limit;
  options.topics =
      absl::StrSplit(absl::GetFlag(FLAGS_topics), ',', absl::SkipWhitespace());
  options.concurrency = absl::GetFlag(FLAGS_concurrency);
  options.prefetch = absl::GetFlag(FLAGS_prefetch);
  options.report_start_after = absl::GetFlag(FLAGS_report_start_after);
  options.task_timeout = absl::GetFlag(FLAGS_task_timeout);
  options.scheduler_address = absl::GetFlag(FLAGS_scheduler);
  options.scheduler_tls = security->client;
  options.scheduler_token = security->token;
  options.worker_id = absl::GetFlag(FLAGS_worker_id);
  options.registry = (*runtime)->shared_registry();
  worker::Worker worker(options);
  worker::RegisterDemoHandlers(worker);
  if (absl::GetFlag(FLAGS_drill_handlers))
    worker::RegisterDrillHandlers(worker);
  worker.OnReport([](const worker::TaskReport& r) {
    spdlog::info(
        "result topic={} task_id={} task={} params={} time_used={} "
        "message=\"{}\"",
        r.topic, r.task_id, r.task, r.params, absl::FormatDuration(r.time_used),
        r.message);
  });
  worker.OnBrokerState((*runtime)->BrokerStateHandler());
  worker.OnBrokerBlocked((*runtime)->BrokerBlockedHandler());
  if (absl::Status s = worker.Start(); !s.ok()) {
    spdlog::critical("{}", s.ToString());
    return 2;
  }

  rpc::ServerOptions server_options;
  server_options.address = absl::GetFlag(FLAGS_listen);
  server_options.tls = security->server;
  auto server = rpc::RunningServer::Start(server_options, {});
  if (!server.ok()) {
    spdlog::critical("{}", server.status().ToString());
    return 1;
  }
  spdlog::info("worker {} consuming {} (gRPC port {}, metrics port {})",
               worker.id(), absl::GetFlag(FLAGS_topics), (*server)->port(),
               (*runtime)->metrics_port());
  (*runtime)->SetServer(server->get());

  int signal = WaitForShutdownSignal();
  // Shutdown order: health NOT_SERVING, stop taking tasks, let running ones
  // finish within the grace period (the rest return to their queue), close.
  spdlog::info("worker: signal {}, draining", signal);
  (*runtime)->SetServer(nullptr);
  (*server)->SetServing(false);
  worker.Drain(absl::Seconds(absl::GetFlag(FLAGS_grace_seconds)));
  (*server)->Shutdown(absl::Seconds(1));
  // A handler thread cannot be interrupted, and waiting for one that never
  // returns would keep the worker from exiting until a SIGKILL. Its task is
  // back in its queue (or was retried at its timeout), and the outcome of a
  // run after the disconnect could not be acked anyway: give the handlers a
  // second, then exit without them.
  absl::Notification joined;
  std::thread joiner([&] {
    worker.Shutdown();
    joined.Notify();
  });
  if (!joined.WaitForNotificationWithTimeout(absl::Seconds(1))) {
    spdlog::warn(
        "worker: stopped with {} handler(s) still running; exiting without "
        "them (their tasks are back in their queues or were retried)",
        worker.running_handlers());
    spdlog::default_logger()->flush();
    std::_Exit(0);
  }
  joiner.join();
  spdlog::info("worker: stopped");
  return 0;
}
