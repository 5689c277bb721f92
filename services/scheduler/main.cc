// ebats-scheduler: owns registrations and task records, turns events into
// tasks, records outcomes. See dispatcher.h, result_recorder.h.
#include <algorithm>
#include <filesystem>
#include <limits>

#include "absl/flags/flag.h"
#include "libs/amqp/ebats_topology.h"
#include "libs/common/env.h"
#include "libs/common/shutdown_signal.h"
#include "libs/domain/broker_names.h"
#include "libs/domain/delay_ladder.h"
#include "libs/service/service_runtime.h"
#include "libs/store/store.h"
#include "services/scheduler/dispatcher.h"
#include "services/scheduler/due_stage.h"
#include "services/scheduler/queue_monitor.h"
#include "services/scheduler/registrations.h"
#include "services/scheduler/result_recorder.h"
#include "services/scheduler/scheduler_service.h"
#include "spdlog/spdlog.h"

ABSL_FLAG(std::string, listen,
          ebats::EnvOr("EBATS_SCHEDULER_ADDR", "127.0.0.1:7402"),
          "gRPC address [EBATS_SCHEDULER_ADDR]");
ABSL_FLAG(std::string, metrics_addr,
          ebats::EnvOr("EBATS_SCHEDULER_METRICS_ADDR", "127.0.0.1:9402"),
          "Prometheus /metrics address; port 0 picks one "
          "[EBATS_SCHEDULER_METRICS_ADDR]");
ABSL_FLAG(std::string, data_dir, ebats::EnvOr("EBATS_DATA_DIR", "ebats-data"),
          "directory of the store [EBATS_DATA_DIR]");
ABSL_FLAG(std::string, db, "",
          "SQLite store file; default <data_dir>/scheduler.db");
ABSL_FLAG(int, prefetch, 512,
          "unacked input and result messages held at once (1-65535)");
ABSL_FLAG(absl::Duration, idempotency_window, absl::Hours(24),
          "events with the same idempotency key within this time of the "
          "key's first event are one event (dispatched once), on any gateway "
          "replica; a later one is a new event");
ABSL_FLAG(int64_t, dispatch_max_in_flight, 100000,
          "new input waits while this many tasks are published and not yet "
          "recorded as dispatched; bounds the scheduler's memory");
ABSL_FLAG(absl::Duration, due_claim_lead,
          ebats::scheduler::DueStage::kDefaultClaimLead,
          "a delayed task is claimed in the store (and can no longer be "
          "canceled) this long before it is due, so that a slow store write "
          "does not delay its release; 0..1s");
ABSL_FLAG(
    int, due_prefetch, 30000,
    "due tasks held at once (1-65535); cover (tasks due per second) x 5 s");

ABSL_FLAG(absl::Duration, queue_stats_interval, absl::Seconds(10),
          "how often ebats_queue_ready_messages and ebats_queue_consumers "
          "are read from the broker (one round-trip per queue); 100ms..1h");

int main(int argc, char** argv) {
  using namespace ebats;
  service::Init(argc, argv, "ebats-scheduler",
                "ebats-scheduler: registrations, dispatch and task records");
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
  const absl::Duration claim_lead = absl::GetFlag(FLAGS_due_claim_lead);
  if (absl::Status s = service::FirstError({
          service::CheckFlagRange("prefetch", absl::GetFlag(FLAGS_prefetch), 1,
                                  amqp::kMaxPrefetch),
          service::CheckFlagRange("due_prefetch",
                                  absl::GetFlag(FLAGS_due_prefetch), 1,
                                  amqp::kMaxPrefetch),
          service::CheckFlagRange("dispatch_max_in_flight",
                                  absl::GetFlag(FLAGS_dispatch_max_in_flight),
                                  1, std::numeric_limits<int64_t>::max()),
          service::CheckFlagRange(
              "idempotency_window", absl::GetFlag(FLAGS_idempotency_window),
              absl::ZeroDuration(), absl::InfiniteDuration()),
          service::CheckFlagRange("due_claim_lead", claim_lead,
                                  absl::ZeroDuration(),
                                  absl::Milliseconds(domain::kLadderLeadMs)),
          service::CheckFlagRange("queue_stats_interval",
                                  absl::GetFlag(FLAGS_queue_stats_interval),
                                  absl::Milliseconds(100), absl::Hours(1)),
      });
      !s.ok()) {
    spdlog::critical("{}", s.ToString());
    return 2;
  }
  std::string db_path = absl::GetFlag(FLAGS_db);
  if (db_path.empty()) {
    std::error_code ignored;
    std::filesystem::create_directories(absl::GetFlag(FLAGS_data_dir), ignored);
    db_path = absl::GetFlag(FLAGS_data_dir) + "/scheduler.db";
  }
  auto store = store::Store::Open(db_path);
  if (!store.ok()) {
    spdlog::critical("{}", store.status().ToString());
    return 1;
  }
  auto runtime =
      service::Runtime::Create("scheduler", absl::GetFlag(FLAGS_metrics_addr));
  if (!runtime.ok()) {
    spdlog::critical("{}", runtime.status().ToString());
    return 1;
  }
  scheduler::SchedulerMetrics metrics((*runtime)->registry());

  // The session needs the registered topics' queues at every connect, and
  // the registrations need the session to declare new topics: load the
  // registrations through a store-only instance first.
  amqp::SessionOptions session_options;
  session_options.brokers = broker->brokers;
  session_options.connection_name = "ebats-scheduler";
  session_options.prefetch =
      static_cast<uint16_t>(absl::GetFlag(FLAGS_prefetch));
  session_options.topology = amqp::SchedulerTopology(broker->queue_type);
  session_options.tls = broker->tls;
  {
    auto existing = (*store)->ListRegistrations("");
    if (!existing.ok()) {
      spdlog::critical("{}", existing.status().ToString());
      return 1;
    }
    for (const auto& r : *existing) {
      session_options.topology.Merge(amqp::TopicTopology(
          broker->queue_type, r.topic(), broker->delivery_limit));
    }
  }
  amqp::Session session(session_options);
  scheduler::Registrations registrations(**store, session, broker->queue_type,
                                         broker->delivery_limit);
  if (absl::Status s = registrations.Load(); !s.ok()) {
    spdlog::critical("{}", s.ToString());
    return 1;
  }
  scheduler::DispatcherOptions dispatcher_options;
  dispatcher_options.idempotency_window =
      absl::GetFlag(FLAGS_idempotency_window);
  dispatcher_options.max_in_flight_tasks =
      static_cast<size_t>(absl::GetFlag(FLAGS_dispatch_max_in_flight));
  scheduler::Dispatcher dispatcher(session, **store, registrations, metrics,
                                   Clock::Real(), dispatcher_options);
  scheduler::ResultRecorder recorder(session, **store, metrics);
  // The due stage has a connection of its own: on the shared one, a release
  // queued in the broker behind the dispatcher's publishes (a burst of new
  // delayed tasks entering the ladder) and came late by tens of ms.
  amqp::SessionOptions due_options = session_options;
  due_options.connection_name = "ebats-scheduler-due";
  // The due stage acks by due time, not in delivery order, and holds each
  // delivery at most a few seconds.
  due_options.ack_in_delivery_order = true;
  amqp::Session due_session(due_options);
  scheduler::DueStage due_stage(due_session, **store, registrations, metrics,
                                claim_lead);
  session.AddConsumer(domain::kSchedulerQueue, [&](amqp::Delivery d) {
    dispatcher.OnDelivery(std::move(d));
  });
  session.AddConsumer(domain::kResultsQueue, [&](amqp::Delivery d) {
    recorder.OnDelivery(std::move(d));
  });
  // The due stage holds tasks for up to ~5 s before their due time, so its
  // prefetch must cover (tasks due per second) x 5 s.
  due_session.AddConsumer(
      domain::kDueQueue,
      [&](amqp::Delivery d) { due_stage.OnDelivery(std::move(d)); },
      static_cast<uint16_t>(absl::GetFlag(FLAGS_due_prefetch)));
  // Queue depths are read on a connection of their own, so that no publish
  // waits behind those round-trips. It declares nothing.
  amqp::SessionOptions monitor_options = session_options;
  monitor_options.connection_name = "ebats-scheduler-monitor";
  monitor_options.topology = {};
  amqp::Session monitor_session(monitor_options);
  scheduler::QueueMonitor queue_monitor(
      monitor_session, registrations, (*runtime)->registry(),
      absl::GetFlag(FLAGS_queue_stats_interval));
  (*runtime)->TrackBroker(session);
  (*runtime)->TrackBroker(due_session);
  (*runtime)->TrackBroker(monitor_session);
  dispatcher.Start();
  recorder.Start();
  due_stage.Start();
  session.Start();
  due_session.Start();
  monitor_session.Start();
  queue_monitor.Start();

  scheduler::SchedulerService scheduler_service(**store, registrations,
                                                session);
  scheduler_service.set_token_check(rpc::TokenCheck(security->token));
  scheduler_service.set_queue_monitor(&queue_monitor);
  rpc::ServerOptions server_options;
  server_options.address = absl::GetFlag(FLAGS_listen);
  server_options.tls = security->server;
  auto server = rpc::RunningServer::Start(server_options, {&scheduler_service});
  if (!server.ok()) {
    spdlog::critical("{}", server.status().ToString());
    return 1;
  }
  (*runtime)->SetServer(server->get());
  spdlog::info("scheduler listening on port {} (metrics on {}, store {})",
               (*server)->port(), (*runtime)->metrics_port(), db_path);

  int signal = WaitForShutdownSignal();
  // Shutdown order: health NOT_SERVING and stop RPCs, stop taking input,
  // finish the batches already taken (their confirms and commits), close.
  spdlog::info("scheduler: signal {}, shutting down", signal);
  (*runtime)->SetServer(nullptr);
  (*server)->Shutdown(absl::Seconds(5));
  spdlog::info("scheduler: gRPC stopped");
  session.StopConsuming();
  dispatcher.Shutdown();
  recorder.Shutdown();
  due_session.StopConsuming();
  due_stage.Shutdown();
  spdlog::info("scheduler: input drained");
  queue_monitor.Shutdown();
  session.Shutdown();
  due_session.Shutdown();
  monitor_session.Shutdown();
  spdlog::info("scheduler: stopped");
  return 0;
}
