// ebats-bench: measures a running ebats stack through its public API.
//
//   ebats-bench --scenario=lateness --tasks=10000 --pending=1000000
//
// lateness: creates --pending tasks due in an hour (load that must not slow
// anything down), then --tasks tasks with delays spread evenly over
// [--min_delay, --max_delay], and runs them on an in-process worker whose
// handler records start - due. Prints p50/p99/max lateness, how many started
// early and how many never ran, as one JSON object on stdout.
#include <algorithm>
#include <atomic>
#include <iostream>
#include <string>
#include <thread>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/random/random.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "libs/amqp/ebats_topology.h"
#include "libs/client/client.h"
#include "libs/codec/message_codec.h"
#include "libs/common/logging.h"
#include "libs/domain/broker_names.h"
#include "libs/domain/delay_ladder.h"
#include "libs/domain/ids.h"
#include "libs/worker/worker.h"

ABSL_FLAG(std::string, scenario, "lateness", "lateness");
ABSL_FLAG(std::string, gateway, "127.0.0.1:7401", "gateway address");
ABSL_FLAG(std::string, scheduler, "127.0.0.1:7402", "scheduler address");
ABSL_FLAG(std::string, amqp_url, "amqp://guest:guest@127.0.0.1:5672/",
          "broker for the worker");
ABSL_FLAG(std::string, queue_type, "quorum", "quorum or classic");
ABSL_FLAG(int, tasks, 10000, "measured tasks");
ABSL_FLAG(int, pending, 0,
          "tasks created first, due in an hour, never run during the run");
ABSL_FLAG(absl::Duration, min_delay, absl::Seconds(1),
          "shortest measured delay");
ABSL_FLAG(absl::Duration, max_delay, absl::Seconds(10),
          "longest measured delay");
ABSL_FLAG(int, clients, 8, "concurrent gRPC callers creating tasks");
ABSL_FLAG(int, concurrency, 8, "worker handlers");
ABSL_FLAG(int, prefetch, 0,
          "worker prefetch; 0 = the worker library's default");

namespace ebats::bench {
namespace {

// Creates `count` tasks from `clients` threads; returns how many failed.
int CreateTasks(int count, int clients, const std::string& topic,
                const std::function<int64_t()>& delay_ms,
                std::atomic<int>* done) {
  std::atomic<int> next{0};
  std::atomic<int> failed{0};
  std::vector<std::thread> threads;
  for (int c = 0; c < clients; ++c) {
    threads.emplace_back([&] {
      client::ClientOptions options;
      options.gateway_address = absl::GetFlag(FLAGS_gateway);
      options.scheduler_address = absl::GetFlag(FLAGS_scheduler);
      client::Client client(options);
      while (next.fetch_add(1) < count) {
        v1::CreateTaskRequest request;
        request.set_topic(topic);
        request.set_task("noop");
        request.set_delay_ms(delay_ms());
        request.set_params(R"({"bench": true})");
        auto created = client.CreateTask(request);
        if (!created.ok()) {
          if (failed.fetch_add(1) < 5) std::cerr << created.status() << "\n";
        }
        if (done != nullptr) done->fetch_add(1);
      }
    });
  }
  for (auto& t : threads) t.join();
  return failed.load();
}

double Percentile(std::vector<double> values, double p) {
  if (values.empty()) return 0;
  std::sort(values.begin(), values.end());
  size_t index =
      static_cast<size_t>(p * static_cast<double>(values.size() - 1) + 0.5);
  return values[std::min(index, values.size() - 1)];
}

// ladder: the bare delay ladder, without the scheduler: publishes --tasks
// messages with delays over [min_delay, max_delay] into ebats.dtask and
// records when each reaches ebats.due, against when the ladder should have
// delivered it (due - margin).
int Ladder() {
  const int tasks = absl::GetFlag(FLAGS_tasks);
  const int64_t min_ms =
      absl::ToInt64Milliseconds(absl::GetFlag(FLAGS_min_delay));
  const int64_t max_ms =
      absl::ToInt64Milliseconds(absl::GetFlag(FLAGS_max_delay));
  const auto type = *amqp::ParseQueueType(absl::GetFlag(FLAGS_queue_type));
  amqp::SessionOptions options;
  options.brokers = *amqp::ParseBrokerUrls(absl::GetFlag(FLAGS_amqp_url));
  options.topology = amqp::SchedulerTopology(type);
  options.prefetch = 1000;
  absl::Mutex mu;
  std::vector<double> late_ms;
  amqp::Session session(options);
  session.AddConsumer(domain::kDueQueue, [&](amqp::Delivery d) {
    const int64_t now_us = absl::GetCurrentTimeNanos() / 1000;
    const int64_t expected_ms = d.IntHeader("x-bench-expected-ms");
    session.Ack(d);
    if (expected_ms == 0) return;
    absl::MutexLock lock(&mu);
    late_ms.push_back(static_cast<double>(now_us - expected_ms * 1000) /
                      1000.0);
  });
  session.Start();
  while (!session.IsUp()) absl::SleepFor(absl::Milliseconds(10));
  absl::BitGen gen;
  std::atomic<int> confirmed{0};
  const absl::Time publish_start = absl::Now();
  for (int i = 0; i < tasks; ++i) {
    v1::TaskMessage task;
    task.set_task_id(domain::NewRandomId());
    task.set_topic("bench");
    task.set_task("noop");
    const int64_t now = absl::ToUnixMillis(absl::Now());
    task.set_due_time_ms(now + absl::Uniform<int64_t>(gen, min_ms, max_ms + 1));
    amqp::Message m = codec::EncodeDelayed(task, now);
    m.headers.emplace_back(
        "x-bench-expected-ms",
        now + domain::LadderDelayMs(task.due_time_ms() - now));
    session.Publish(std::move(m), [&](absl::Status s) {
      if (s.ok()) confirmed.fetch_add(1);
    });
  }
  while (confirmed.load() < tasks &&
         absl::Now() < publish_start + absl::Seconds(60)) {
    absl::SleepFor(absl::Microseconds(200));
  }
  const absl::Duration publish_time = absl::Now() - publish_start;
  absl::Time deadline =
      absl::Now() + absl::Milliseconds(max_ms) + absl::Seconds(30);
  for (;;) {
    {
      absl::MutexLock lock(&mu);
      if (static_cast<int>(late_ms.size()) >= tasks || absl::Now() > deadline)
        break;
    }
    absl::SleepFor(absl::Milliseconds(50));
  }
  session.Shutdown();
  absl::MutexLock lock(&mu);
  std::cout << "{\"scenario\":\"ladder\",\"tasks\":" << tasks
            << ",\"confirmed\":" << confirmed.load()
            << ",\"publish_seconds\":" << absl::ToDoubleSeconds(publish_time)
            << ",\"arrived\":" << late_ms.size()
            << ",\"p50_ms\":" << Percentile(late_ms, 0.50)
            << ",\"p99_ms\":" << Percentile(late_ms, 0.99)
            << ",\"max_ms\":" << Percentile(late_ms, 1.0) << "}" << std::endl;
  return 0;
}

int Lateness() {
  const int tasks = absl::GetFlag(FLAGS_tasks);
  const int pending = absl::GetFlag(FLAGS_pending);
  const int64_t min_ms =
      absl::ToInt64Milliseconds(absl::GetFlag(FLAGS_min_delay));
  const int64_t max_ms =
      absl::ToInt64Milliseconds(absl::GetFlag(FLAGS_max_delay));

  if (pending > 0) {
    absl::Time start = absl::Now();
    std::atomic<int> done{0};
    std::thread progress([&] {
      while (done.load() < pending) {
        absl::SleepFor(absl::Seconds(10));
        std::cerr << "pending: " << done.load() << "/" << pending << "\n";
      }
    });
    int failed = CreateTasks(
        pending, absl::GetFlag(FLAGS_clients), "bench_pending",
        [] { return int64_t{3'600'000}; }, &done);
    progress.join();
    std::cerr << "created " << pending - failed << " pending tasks in "
              << absl::FormatDuration(absl::Now() - start) << "\n";
  }

  absl::Mutex mu;
  std::vector<double> lateness_ms;
  std::atomic<int> early{0};
  worker::WorkerOptions options;
  options.brokers = *amqp::ParseBrokerUrls(absl::GetFlag(FLAGS_amqp_url));
  options.queue_type = *amqp::ParseQueueType(absl::GetFlag(FLAGS_queue_type));
  options.topics = {"bench_delay"};
  options.concurrency = absl::GetFlag(FLAGS_concurrency);
  options.prefetch = absl::GetFlag(FLAGS_prefetch);
  options.report_start = false;
  worker::Worker worker(options);
  worker.Handle("noop", [&](const worker::TaskContext& task) {
    const double late = static_cast<double>(absl::GetCurrentTimeNanos() / 1000 -
                                            task.due_time_ms * 1000) /
                        1000.0;
    if (late < 0) early.fetch_add(1);
    absl::MutexLock lock(&mu);
    lateness_ms.push_back(late);
    return worker::Result::Success();
  });
  if (!worker.Start().ok()) return 1;
  while (!worker.IsUp()) absl::SleepFor(absl::Milliseconds(10));

  absl::BitGen gen;
  absl::Mutex gen_mu;
  absl::Time start = absl::Now();
  int failed = CreateTasks(
      tasks, absl::GetFlag(FLAGS_clients), "bench_delay",
      [&] {
        absl::MutexLock lock(&gen_mu);
        return absl::Uniform<int64_t>(gen, min_ms, max_ms + 1);
      },
      nullptr);
  const absl::Duration create_time = absl::Now() - start;
  const int expected = tasks - failed;
  absl::Time deadline =
      absl::Now() + absl::Milliseconds(max_ms) + absl::Seconds(30);
  for (;;) {
    size_t ran;
    {
      absl::MutexLock lock(&mu);
      ran = lateness_ms.size();
    }
    if (static_cast<int>(ran) >= expected || absl::Now() > deadline) break;
    absl::SleepFor(absl::Milliseconds(50));
  }
  worker.Shutdown(absl::Seconds(5));
  absl::MutexLock lock(&mu);
  const int ran = static_cast<int>(lateness_ms.size());
  std::cout << "{\"scenario\":\"lateness\",\"tasks\":" << tasks
            << ",\"pending\":" << pending << ",\"create_failed\":" << failed
            << ",\"create_seconds\":" << absl::ToDoubleSeconds(create_time)
            << ",\"ran\":" << ran << ",\"lost\":" << std::max(0, expected - ran)
            << ",\"early\":" << early.load()
            << ",\"p50_ms\":" << Percentile(lateness_ms, 0.50)
            << ",\"p99_ms\":" << Percentile(lateness_ms, 0.99)
            << ",\"max_ms\":" << Percentile(lateness_ms, 1.0) << "}"
            << std::endl;
  return 0;
}

}  // namespace
}  // namespace ebats::bench

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  // stdout carries the JSON result only.
  ebats::InitLogging("ebats-bench", "warn");
  if (absl::GetFlag(FLAGS_scenario) == "lateness")
    return ebats::bench::Lateness();
  if (absl::GetFlag(FLAGS_scenario) == "ladder") return ebats::bench::Ladder();
  std::cerr << "unknown --scenario " << absl::GetFlag(FLAGS_scenario) << "\n";
  return 2;
}
