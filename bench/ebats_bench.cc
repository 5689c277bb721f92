// ebats-bench: measures a running ebats stack through its public API.
//
//   ebats-bench --scenario=lateness --tasks=10000 --pending=1000000
//
// lateness: creates --pending tasks due in an hour (load that must not slow
// anything down), then --tasks tasks with delays spread evenly over
// [--min_delay, --max_delay], and runs them on an in-process worker whose
// handler records start - due; --repeat times on the same stack. Prints
// p50/p99/max lateness (median, min and max over the runs), how many started
// early and how many never ran, as one JSON object on stdout.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <fstream>
#include <iostream>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/random/random.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "bench/set_report.h"
#include "ebats/v1/gateway.grpc.pb.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "libs/amqp/ebats_topology.h"
#include "libs/amqp/topology.h"
#include "libs/client/client.h"
#include "libs/codec/message_codec.h"
#include "libs/common/logging.h"
#include "libs/common/openssl_init.h"
#include "libs/domain/broker_names.h"
#include "libs/domain/delay_ladder.h"
#include "libs/domain/ids.h"
#include "libs/worker/worker.h"

ABSL_FLAG(std::string, scenario, "lateness",
          "lateness, ladder, broker, broker_latency, throughput, latency, "
          "jitter, replay, or set_report (no stack: --reports into --out)");
ABSL_FLAG(
    std::string, reports, "",
    "set_report: comma-separated bench/run.sh JSON reports, in run order");
ABSL_FLAG(std::string, out, "",
          "set_report: where to write the set's report (PREFIX.md and "
          "PREFIX.json)");
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
ABSL_FLAG(absl::Duration, report_start_after, absl::Milliseconds(100),
          "worker's STARTED report for runs longer than this (as shipped); "
          "0 = every run, inf = none");
ABSL_FLAG(int, events, 200000, "events for throughput and fanout");
ABSL_FLAG(int, batch, 0,
          "events per PublishEvents call; 0 = unary PublishEvent");
ABSL_FLAG(int, fanout, 1, "registrations per event");
ABSL_FLAG(int, topics, 1,
          "throughput/fanout: spread the registrations over this many topics "
          "(one task queue each; the in-process worker consumes them all)");
ABSL_FLAG(int, rate, 200, "events per second for the latency scenario");
ABSL_FLAG(absl::Duration, duration, absl::Seconds(10),
          "length of the latency scenario");
ABSL_FLAG(
    int, repeat, 3,
    "runs of throughput/broker/latency; figures are medians with min-max");

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

// Median, min and max of repeated runs, as JSON.
std::string Stats(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return absl::StrCat("{\"median\":", v[v.size() / 2], ",\"min\":", v.front(),
                      ",\"max\":", v.back(), "}");
}

// p50 / p99 / max of each run's samples; reported as the median, min and
// max of those over the runs.
struct RunQuantiles {
  std::vector<double> p50, p99, max;
  void Add(const std::vector<double>& samples) {
    p50.push_back(Percentile(samples, 0.50));
    p99.push_back(Percentile(samples, 0.99));
    max.push_back(Percentile(samples, 1.0));
  }
  // "p50 1.2 ms, p99 3.4 ms, max 5.6 ms" of the last run, for progress logs.
  std::string Last() const {
    return absl::StrCat("p50 ", p50.back(), " ms, p99 ", p99.back(),
                        " ms, max ", max.back(), " ms");
  }
  // ,"<prefix>p50_ms":{...},"<prefix>p99_ms":{...},"<prefix>max_ms":{...}
  std::string Json(absl::string_view prefix) const {
    return absl::StrCat(",\"", prefix, "p50_ms\":", Stats(p50), ",\"", prefix,
                        "p99_ms\":", Stats(p99), ",\"", prefix,
                        "max_ms\":", Stats(max));
  }
};

// Waits until `samples` (guarded by `mu`) holds `total`, or 30 s more.
void AwaitSamples(absl::Mutex& mu, const std::vector<double>& samples,
                  int total) {
  const auto enough = [&] { return static_cast<int>(samples.size()) >= total; };
  absl::MutexLock lock(&mu);
  mu.AwaitWithTimeout(absl::Condition(&enough), absl::Seconds(30));
}

client::Client NewClient() {
  client::ClientOptions options;
  options.gateway_address = absl::GetFlag(FLAGS_gateway);
  options.scheduler_address = absl::GetFlag(FLAGS_scheduler);
  options.timeout = absl::Seconds(60);
  return client::Client(options);
}

worker::WorkerOptions BenchWorkerOptions(std::vector<std::string> topics) {
  worker::WorkerOptions options;
  options.brokers = *amqp::ParseBrokerUrls(absl::GetFlag(FLAGS_amqp_url));
  options.queue_type = *amqp::ParseQueueType(absl::GetFlag(FLAGS_queue_type));
  options.topics = std::move(topics);
  options.concurrency = absl::GetFlag(FLAGS_concurrency);
  options.prefetch = absl::GetFlag(FLAGS_prefetch);
  options.report_start_after = absl::GetFlag(FLAGS_report_start_after);
  return options;
}

// broker: the ceiling. Persistent, confirmed publishes and manual-ack
// consumption on one queue, through the same AMQP layer; messages/s from the
// first publish to the last ack.
int Broker() {
  const int n = absl::GetFlag(FLAGS_events);
  const auto type = *amqp::ParseQueueType(absl::GetFlag(FLAGS_queue_type));
  std::vector<double> rates;
  for (int run = 0; run < absl::GetFlag(FLAGS_repeat); ++run) {
    const std::string queue =
        absl::StrCat("bench.broker.", domain::NewRandomId().substr(0, 8));
    amqp::Topology topology;
    topology.queues.push_back(amqp::DurableQueue(queue, type));
    amqp::SessionOptions options;
    options.brokers = *amqp::ParseBrokerUrls(absl::GetFlag(FLAGS_amqp_url));
    options.topology = topology;
    options.prefetch = 1000;
    std::atomic<int> consumed{0};
    amqp::Session consumer(options);
    consumer.AddConsumer(queue, [&](amqp::Delivery d) {
      consumer.Ack(d);
      consumed.fetch_add(1);
    });
    consumer.Start();
    amqp::Session producer(options);
    producer.Start();
    while (!consumer.IsUp() || !producer.IsUp())
      absl::SleepFor(absl::Milliseconds(10));
    std::atomic<int> in_flight{0};
    const absl::Time start = absl::Now();
    for (int i = 0; i < n; ++i) {
      // Keep a bounded window of unconfirmed publishes, like a real producer.
      while (in_flight.load() > 2000) absl::SleepFor(absl::Microseconds(50));
      in_flight.fetch_add(1);
      amqp::Message m;
      m.routing_key = queue;
      m.body = std::string(200, 'x');
      producer.Publish(std::move(m),
                       [&](absl::Status) { in_flight.fetch_sub(1); });
    }
    while (consumed.load() < n) absl::SleepFor(absl::Milliseconds(1));
    rates.push_back(n / absl::ToDoubleSeconds(absl::Now() - start));
    std::cerr << "broker run " << run << ": " << rates.back() << " msg/s\n";
  }
  std::cout << "{\"scenario\":\"broker\",\"messages\":" << n
            << ",\"messages_per_second\":" << Stats(rates) << "}" << std::endl;
  return 0;
}

// broker_latency: the broker's own floor under the latency scenario. Messages
// at --rate for --duration, published with confirms to one queue of
// --queue_type; a relay consumes them and forwards each to a second queue
// (publish, confirm, then ack, as the scheduler does with an event's task);
// a sink consumes and acks that. Reported: publish call -> delivery from
// the first queue (one hop) and from the second (two hops, the path every
// ebats task takes), p50 / p99 / max.
int BrokerLatency() {
  const int rate = absl::GetFlag(FLAGS_rate);
  const absl::Duration duration = absl::GetFlag(FLAGS_duration);
  const auto type = *amqp::ParseQueueType(absl::GetFlag(FLAGS_queue_type));
  const auto now_us = [] { return absl::GetCurrentTimeNanos() / 1000; };
  RunQuantiles hop_quantiles[2];
  for (int run = 0; run < absl::GetFlag(FLAGS_repeat); ++run) {
    const std::string prefix =
        absl::StrCat("bench.latency.", domain::NewRandomId().substr(0, 8));
    const std::string first = prefix + ".1", second = prefix + ".2";
    amqp::SessionOptions options;
    options.brokers = *amqp::ParseBrokerUrls(absl::GetFlag(FLAGS_amqp_url));
    options.topology.queues.push_back(amqp::DurableQueue(first, type));
    options.topology.queues.push_back(amqp::DurableQueue(second, type));
    options.prefetch = 1000;
    absl::Mutex mu;
    std::vector<double> hops[2];  // ms, per message
    auto record = [&](int hop, const amqp::Delivery& d) {
      const double ms =
          static_cast<double>(now_us() - std::atoll(d.body.c_str())) / 1000.0;
      absl::MutexLock lock(&mu);
      hops[hop].push_back(ms);
    };
    amqp::Session relay(options);
    relay.AddConsumer(first, [&](amqp::Delivery d) {
      record(0, d);
      amqp::Message m;
      m.routing_key = second;
      m.body = d.body;
      relay.Forward(std::move(m), d.tag());
    });
    amqp::Session sink(options);
    sink.AddConsumer(second, [&](amqp::Delivery d) {
      record(1, d);
      sink.Ack(d);
    });
    amqp::Session producer(options);
    for (amqp::Session* s : {&relay, &sink, &producer}) s->Start();
    while (!relay.IsUp() || !sink.IsUp() || !producer.IsUp())
      absl::SleepFor(absl::Milliseconds(10));
    const int total = static_cast<int>(rate * absl::ToDoubleSeconds(duration));
    const absl::Time start = absl::Now();
    for (int i = 0; i < total; ++i) {
      const absl::Duration wait =
          start + absl::Seconds(1) * i / rate - absl::Now();
      if (wait > absl::ZeroDuration()) absl::SleepFor(wait);
      amqp::Message m;
      m.routing_key = first;
      m.body = absl::StrCat(now_us(), std::string(200, ' '));
      producer.Publish(std::move(m), [](absl::Status) {});
    }
    AwaitSamples(mu, hops[1], total);
    for (amqp::Session* s : {&producer, &relay, &sink}) s->Shutdown();
    absl::MutexLock lock(&mu);
    for (int hop = 0; hop < 2; ++hop) {
      RunQuantiles& q = hop_quantiles[hop];
      q.Add(hops[hop]);
      std::cerr << "run " << run << ", " << hop + 1 << " hop(s): " << q.Last()
                << " (" << hops[hop].size() << "/" << total << ")\n";
    }
  }
  std::cout << "{\"scenario\":\"broker_latency\",\"rate\":" << rate
            << ",\"duration_seconds\":" << absl::ToDoubleSeconds(duration)
            << hop_quantiles[0].Json("one_hop_")
            << hop_quantiles[1].Json("two_hops_") << "}" << std::endl;
  return 0;
}

// Unary PublishEvent calls, `callers` of them in flight at any time, each
// answer starting the next call (gRPC's callback API). As many blocking
// threads cost the load generator more CPU than the gateway it measures.
class UnaryPublisher {
 public:
  UnaryPublisher(int n, std::string event)
      : n_(n),
        event_(std::move(event)),
        stub_(v1::EventGateway::NewStub(Channel())) {}
  // Run has returned: every callback is past its last use of `this` but
  // may still be leaving the critical section; wait for it, as
  // absl::Notification's destructor does.
  ~UnaryPublisher() { absl::MutexLock lock(&mu_); }

  // Returns once every call has been answered.
  void Run(int callers, std::atomic<int>* failed, std::string* last_event_id) {
    for (int c = 0; c < std::min(callers, n_); ++c) StartNext();
    absl::MutexLock lock(&mu_);
    mu_.Await(absl::Condition(
        +[](UnaryPublisher* p) { return p->answered_ >= p->n_; }, this));
    failed->fetch_add(failed_);
    *last_event_id = last_event_id_;
  }

 private:
  // One channel for the whole process. gRPC 1.51 runs client callbacks on a
  // shared completion queue that is shut down when the last channel using it
  // goes; that shutdown double-frees the queue now and then (found under
  // ASan: grpc_cq_internal_unref on a nexting_thread, when a run's publisher
  // was destroyed). Never letting it go avoids the race.
  static std::shared_ptr<grpc::Channel> Channel() {
    static const auto* const channel =
        new std::shared_ptr<grpc::Channel>(grpc::CreateChannel(
            absl::GetFlag(FLAGS_gateway), grpc::InsecureChannelCredentials()));
    return *channel;
  }

  struct Call {
    grpc::ClientContext context;
    v1::PublishEventRequest request;
    v1::PublishEventResponse response;
  };

  void StartNext() {
    const int i = next_.fetch_add(1);
    if (i >= n_) return;
    auto call = std::make_shared<Call>();
    call->context.set_deadline(std::chrono::system_clock::now() +
                               std::chrono::seconds(60));
    call->request.set_event(event_);
    call->request.set_params(absl::StrCat(R"({"i": )", i, "}"));
    stub_->async()->PublishEvent(&call->context, &call->request,
                                 &call->response,
                                 [this, call, i](grpc::Status status) {
                                   StartNext();
                                   // The last use of `this`: Run returns once
                                   // all calls counted.
                                   absl::MutexLock lock(&mu_);
                                   if (!status.ok()) ++failed_;
                                   if (status.ok() && i == n_ - 1)
                                     last_event_id_ = call->response.event_id();
                                   ++answered_;
                                 });
  }

  const int n_;
  const std::string event_;
  std::unique_ptr<v1::EventGateway::Stub> stub_;
  std::atomic<int> next_{0};
  absl::Mutex mu_;
  int answered_ ABSL_GUARDED_BY(mu_) = 0;
  int failed_ ABSL_GUARDED_BY(mu_) = 0;
  std::string last_event_id_ ABSL_GUARDED_BY(mu_);
};

// throughput / fanout: --events events through the gateway (unary from
// --clients callers, or batches of --batch), each matching --fanout
// registrations with a no-op handler. Reports events/s published, tasks/s
// completed (last handler run) and tasks/s recorded (last task SUCCEEDED in
// the store).
int Throughput() {
  const int n = absl::GetFlag(FLAGS_events);
  const int fanout = absl::GetFlag(FLAGS_fanout);
  const int batch = absl::GetFlag(FLAGS_batch);
  const int clients = absl::GetFlag(FLAGS_clients);
  const int topic_count = std::max(1, absl::GetFlag(FLAGS_topics));
  // Registration i's topic.
  auto topic = [&](int i) {
    return topic_count == 1 ? std::string("bench_tp")
                            : absl::StrCat("bench_tp", i % topic_count);
  };
  std::vector<std::string> topics;
  for (int i = 0; i < topic_count; ++i) topics.push_back(topic(i));
  const std::string event = absl::StrCat("bench_tp_", fanout);
  client::Client admin = NewClient();
  for (int i = 0; i < fanout; ++i) {
    v1::RegisterTaskRequest r;
    r.mutable_registration()->set_event(event);
    r.mutable_registration()->set_topic(topic(i));
    r.mutable_registration()->set_task(absl::StrCat("noop", i));
    if (auto s = admin.RegisterTask(r); !s.ok()) {
      std::cerr << s.status() << "\n";
      return 1;
    }
  }
  std::atomic<int64_t> ran{0};
  worker::Worker worker(BenchWorkerOptions(topics));
  for (int i = 0; i < fanout; ++i) {
    worker.Handle(absl::StrCat("noop", i), [&](const worker::TaskContext&) {
      ran.fetch_add(1);
      return worker::Result::Success();
    });
  }
  if (!worker.Start().ok()) return 1;
  while (!worker.IsUp()) absl::SleepFor(absl::Milliseconds(10));

  std::vector<double> published_rate, completed_rate, recorded_rate;
  for (int run = 0; run < absl::GetFlag(FLAGS_repeat); ++run) {
    ran = 0;
    std::atomic<int> next{0};
    std::atomic<int> failed{0};
    absl::Mutex mu;
    std::string last_event_id;
    const absl::Time start = absl::Now();
    std::vector<std::thread> threads;
    if (batch == 0) {
      UnaryPublisher(n, event).Run(clients, &failed, &last_event_id);
    }
    for (int c = 0; c < clients && batch > 0; ++c) {
      threads.emplace_back([&] {
        client::Client client = NewClient();
        for (;;) {
          const int first = next.fetch_add(batch);
          if (first >= n) break;
          const int count = std::min(batch, n - first);
          v1::PublishEventsRequest request;
          for (int i = 0; i < count; ++i) {
            auto* e = request.add_events();
            e->set_event(event);
            e->set_params(absl::StrCat(R"({"i": )", first + i, "}"));
          }
          auto response = client.PublishEvents(request);
          if (!response.ok()) {
            failed.fetch_add(count);
          } else if (first + count == n) {
            absl::MutexLock lock(&mu);
            last_event_id = response->results(count - 1).event_id();
          }
        }
      });
    }
    for (auto& t : threads) t.join();
    const absl::Duration publish_time = absl::Now() - start;
    const int64_t expected = int64_t{n - failed.load()} * fanout;
    const absl::Time deadline = absl::Now() + absl::Minutes(10);
    while (ran.load() < expected && absl::Now() < deadline)
      absl::SleepFor(absl::Milliseconds(2));
    const absl::Duration complete_time = absl::Now() - start;
    // Recorded: the last event's tasks are SUCCEEDED in the store (results
    // are recorded in order per worker, so this bounds the rest closely).
    std::string last;
    {
      absl::MutexLock lock(&mu);
      last = last_event_id;
    }
    for (int i = 0; i < fanout && !last.empty(); ++i) {
      const std::string id =
          domain::TaskIdFor(last, topic(i), absl::StrCat("noop", i));
      while (absl::Now() < deadline) {
        auto t = admin.GetTask(id);
        if (t.ok() && t->state() == v1::TASK_STATE_SUCCEEDED) break;
        absl::SleepFor(absl::Milliseconds(5));
      }
    }
    const absl::Duration record_time = absl::Now() - start;
    published_rate.push_back((n - failed.load()) /
                             absl::ToDoubleSeconds(publish_time));
    completed_rate.push_back(static_cast<double>(ran.load()) /
                             absl::ToDoubleSeconds(complete_time));
    recorded_rate.push_back(static_cast<double>(expected) /
                            absl::ToDoubleSeconds(record_time));
    std::cerr << "run " << run << ": published " << published_rate.back()
              << " events/s, "
              << "completed " << completed_rate.back() << " tasks/s, recorded "
              << recorded_rate.back() << " tasks/s, failed " << failed.load()
              << "\n";
  }
  worker.Shutdown(absl::Seconds(5));
  std::cout << "{\"scenario\":\"" << (fanout > 1 ? "fanout" : "throughput")
            << "\",\"events\":" << n << ",\"fanout\":" << fanout
            << ",\"topics\":" << topic_count << ",\"batch\":" << batch
            << ",\"clients\":" << clients
            << ",\"events_published_per_second\":" << Stats(published_rate)
            << ",\"tasks_completed_per_second\":" << Stats(completed_rate)
            << ",\"tasks_recorded_per_second\":" << Stats(recorded_rate) << "}"
            << std::endl;
  return 0;
}

// latency: events at a fixed --rate for --duration; for each, the time from
// the PublishEvent call to the start of its handler, and the part of it after
// the gateway took the event (its publish time, whole milliseconds: the split
// is good to +-0.5 ms, enough to tell where a tail of 10 ms comes from).
int Latency() {
  const int rate = absl::GetFlag(FLAGS_rate);
  const absl::Duration duration = absl::GetFlag(FLAGS_duration);
  const std::string topic = "bench_lat";
  const std::string event = "bench_lat";
  client::Client admin = NewClient();
  v1::RegisterTaskRequest r;
  r.mutable_registration()->set_event(event);
  r.mutable_registration()->set_topic(topic);
  r.mutable_registration()->set_task("noop");
  if (auto s = admin.RegisterTask(r); !s.ok()) return 1;
  absl::Mutex mu;
  std::vector<double> latency_ms, after_gateway_ms;
  worker::Worker worker(BenchWorkerOptions({topic}));
  worker.Handle("noop", [&](const worker::TaskContext& t) {
    const int64_t now_us = absl::GetCurrentTimeNanos() / 1000;
    int64_t sent_us = 0;
    const auto pos = t.params.find(':');
    if (pos != std::string::npos)
      sent_us = std::atoll(t.params.c_str() + pos + 1);
    absl::MutexLock lock(&mu);
    latency_ms.push_back(static_cast<double>(now_us - sent_us) / 1000.0);
    // The publish time is truncated to the millisecond: take its middle.
    after_gateway_ms.push_back(
        static_cast<double>(now_us - t.publish_time_ms * 1000 - 500) / 1000.0);
    return worker::Result::Success();
  });
  if (!worker.Start().ok()) return 1;
  while (!worker.IsUp()) absl::SleepFor(absl::Milliseconds(10));

  RunQuantiles total_quantiles, after_gateway_quantiles;
  for (int run = 0; run < absl::GetFlag(FLAGS_repeat); ++run) {
    {
      absl::MutexLock lock(&mu);
      latency_ms.clear();
      after_gateway_ms.clear();
    }
    const int total = static_cast<int>(rate * absl::ToDoubleSeconds(duration));
    const int callers =
        std::max(1, std::min(absl::GetFlag(FLAGS_clients), rate / 50 + 1));
    std::vector<std::thread> threads;
    const absl::Time start = absl::Now();
    for (int c = 0; c < callers; ++c) {
      threads.emplace_back([&, c] {
        client::Client client = NewClient();
        // Caller c sends events c, c + callers, ... at their scheduled times.
        for (int i = c; i < total; i += callers) {
          const absl::Time at = start + absl::Seconds(1) * i / rate;
          const absl::Duration wait = at - absl::Now();
          if (wait > absl::ZeroDuration()) absl::SleepFor(wait);
          v1::PublishEventRequest request;
          request.set_event(event);
          request.set_params(absl::StrCat(
              R"({"sent_us":)", absl::GetCurrentTimeNanos() / 1000, "}"));
          (void)client.PublishEvent(request);
        }
      });
    }
    for (auto& t : threads) t.join();
    AwaitSamples(mu, latency_ms, total);
    absl::MutexLock lock(&mu);
    total_quantiles.Add(latency_ms);
    after_gateway_quantiles.Add(after_gateway_ms);
    std::cerr << "run " << run << ": " << total_quantiles.Last() << " ("
              << latency_ms.size() << "/" << total << ")\n";
  }
  worker.Shutdown(absl::Seconds(5));
  std::cout << "{\"scenario\":\"latency\",\"rate\":" << rate
            << ",\"duration_seconds\":" << absl::ToDoubleSeconds(duration)
            << total_quantiles.Json("")
            << after_gateway_quantiles.Json("after_gateway_") << "}"
            << std::endl;
  return 0;
}

// jitter: the machine's own floor under every tail figure. A thread sleeps
// 1 ms at a time for --duration and records how late it wakes up; on an
// otherwise idle stack this is the scheduling noise of the (virtual) machine
// that every hand-off between threads and processes on a task's path can
// meet.
int Jitter() {
  const absl::Duration duration = absl::GetFlag(FLAGS_duration);
  const absl::Duration nap = absl::Milliseconds(1);
  RunQuantiles quantiles;
  std::vector<double> late_1ms_per_second;
  for (int run = 0; run < absl::GetFlag(FLAGS_repeat); ++run) {
    std::vector<double> late_ms;
    int late_1ms = 0;
    const absl::Time end = absl::Now() + duration;
    for (absl::Time before = absl::Now(); before < end;) {
      absl::SleepFor(nap);
      const absl::Time after = absl::Now();
      late_ms.push_back(absl::ToDoubleMilliseconds(after - before - nap));
      if (late_ms.back() >= 1) ++late_1ms;
      before = after;
    }
    quantiles.Add(late_ms);
    late_1ms_per_second.push_back(late_1ms / absl::ToDoubleSeconds(duration));
    std::cerr << "run " << run << ": " << quantiles.Last() << ", " << late_1ms
              << " wake-ups 1 ms or more late\n";
  }
  std::cout << "{\"scenario\":\"jitter\",\"duration_seconds\":"
            << absl::ToDoubleSeconds(duration) << quantiles.Json("wake_late_")
            << ",\"wake_late_1ms_or_more_per_second\":"
            << Stats(late_1ms_per_second) << "}" << std::endl;
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
  std::vector<int64_t> due_ms;  // of the same task as lateness_ms[i]
  std::atomic<int> early{0};
  worker::Worker worker(BenchWorkerOptions({"bench_delay"}));
  worker.Handle("noop", [&](const worker::TaskContext& task) {
    const double late = static_cast<double>(absl::GetCurrentTimeNanos() / 1000 -
                                            task.due_time_ms * 1000) /
                        1000.0;
    if (late < 0) early.fetch_add(1);
    absl::MutexLock lock(&mu);
    lateness_ms.push_back(late);
    due_ms.push_back(task.due_time_ms);
    return worker::Result::Success();
  });
  if (!worker.Start().ok()) return 1;
  while (!worker.IsUp()) absl::SleepFor(absl::Milliseconds(10));

  // Each run creates its own --tasks on the same stack (the --pending ones
  // stay); the report gives each figure as median, min and max over runs.
  absl::BitGen gen;
  absl::Mutex gen_mu;
  RunQuantiles quantiles;
  // The tasks due after the last one was created: the delay path's own
  // precision, without the load of creating the rest (which overlaps the
  // first due times: creation takes seconds, the first delays are 1 s).
  RunQuantiles settled_quantiles;
  std::vector<double> create_seconds, settled_share;
  int failed = 0, lost = 0;
  for (int run = 0; run < absl::GetFlag(FLAGS_repeat); ++run) {
    {
      absl::MutexLock lock(&mu);
      lateness_ms.clear();
      due_ms.clear();
    }
    absl::Time start = absl::Now();
    const int run_failed = CreateTasks(
        tasks, absl::GetFlag(FLAGS_clients), "bench_delay",
        [&] {
          absl::MutexLock lock(&gen_mu);
          return absl::Uniform<int64_t>(gen, min_ms, max_ms + 1);
        },
        nullptr);
    const int64_t created_ms = absl::ToUnixMillis(absl::Now());
    create_seconds.push_back(absl::ToDoubleSeconds(absl::Now() - start));
    const int expected = tasks - run_failed;
    const auto all_ran = [&] {
      return static_cast<int>(lateness_ms.size()) >= expected;
    };
    absl::MutexLock lock(&mu);
    mu.AwaitWithTimeout(absl::Condition(&all_ran),
                        absl::Milliseconds(max_ms) + absl::Seconds(30));
    failed += run_failed;
    lost += std::max(0, expected - static_cast<int>(lateness_ms.size()));
    quantiles.Add(lateness_ms);
    std::vector<double> settled;
    for (size_t i = 0; i < lateness_ms.size(); ++i) {
      if (due_ms[i] > created_ms) settled.push_back(lateness_ms[i]);
    }
    settled_quantiles.Add(settled);
    settled_share.push_back(static_cast<double>(settled.size()) /
                            std::max<size_t>(1, lateness_ms.size()));
    std::cerr << "run " << run << ": " << quantiles.Last() << " ("
              << lateness_ms.size() << "/" << expected
              << "); due after creation (" << settled.size()
              << "): " << settled_quantiles.Last() << "\n";
  }
  worker.Shutdown(absl::Seconds(5));
  std::cout << "{\"scenario\":\"lateness\",\"tasks\":" << tasks
            << ",\"pending\":" << pending << ",\"create_failed\":" << failed
            << ",\"create_seconds\":" << Stats(create_seconds)
            << ",\"lost\":" << lost << ",\"early\":" << early.load()
            << quantiles.Json("")
            << settled_quantiles.Json("due_after_creation_")
            << ",\"due_after_creation_share\":" << Stats(settled_share) << "}"
            << std::endl;
  return 0;
}

// replay: --tasks tasks created on a topic of their own whose handler fails
// each task's first run (dead at once, reason "failed"), then one
// ReplayTasks call for the topic: how long the call took, tasks replayed per
// second, and the time from the call until every replayed task ran again;
// --repeat runs with fresh tasks on the same topic.
int Replay() {
  const int tasks = absl::GetFlag(FLAGS_tasks);
  const std::string topic =
      absl::StrCat("bench_replay_", domain::NewRandomId().substr(0, 6));
  absl::Mutex mu;
  absl::flat_hash_set<std::string> failed_once;
  int replays_ran = 0;
  worker::Worker worker(BenchWorkerOptions({topic}));
  worker.Handle("noop", [&](const worker::TaskContext& task) {
    absl::MutexLock lock(&mu);
    if (failed_once.insert(task.task_id).second)
      return worker::Result::Fail("first run fails");
    ++replays_ran;
    return worker::Result::Success();
  });
  if (!worker.Start().ok()) return 1;
  while (!worker.IsUp()) absl::SleepFor(absl::Milliseconds(10));
  client::ClientOptions options;
  options.gateway_address = absl::GetFlag(FLAGS_gateway);
  options.scheduler_address = absl::GetFlag(FLAGS_scheduler);
  options.timeout = absl::Minutes(30);
  client::Client client(options);
  // Dead tasks of the topic, as the store has them.
  const auto count_dead = [&]() -> int {
    v1::ListTasksRequest request;
    request.set_topic(topic);
    request.set_state(v1::TASK_STATE_DEAD);
    request.set_page_size(1000);
    int dead = 0;
    for (;;) {
      auto page = client.ListTasks(request);
      if (!page.ok()) return -1;
      dead += page->tasks_size();
      if (page->next_page_token().empty()) return dead;
      request.set_page_token(page->next_page_token());
    }
  };
  std::vector<double> call_seconds, per_second, all_ran_seconds;
  int create_failed = 0, replayed_total = 0;
  for (int run = 0; run < absl::GetFlag(FLAGS_repeat); ++run) {
    {
      absl::MutexLock lock(&mu);
      replays_ran = 0;
    }
    const int failed = CreateTasks(
        tasks, absl::GetFlag(FLAGS_clients), topic, [] { return int64_t{0}; },
        nullptr);
    create_failed += failed;
    const absl::Time give_up = absl::Now() + absl::Minutes(10);
    while (count_dead() < tasks - failed && absl::Now() < give_up)
      absl::SleepFor(absl::Milliseconds(500));
    v1::ReplayTasksRequest request;
    request.set_topic(topic);
    const absl::Time start = absl::Now();
    auto replayed = client.ReplayTasks(request);
    const absl::Duration call = absl::Now() - start;
    if (!replayed.ok()) {
      std::cerr << "ReplayTasks: " << replayed.status() << "\n";
      return 1;
    }
    const int sent = static_cast<int>(replayed->replayed());
    replayed_total += sent;
    const auto all_ran = [&] { return replays_ran >= sent; };
    {
      absl::MutexLock lock(&mu);
      mu.AwaitWithTimeout(absl::Condition(&all_ran), absl::Minutes(10));
    }
    const absl::Duration ran = absl::Now() - start;
    call_seconds.push_back(absl::ToDoubleSeconds(call));
    per_second.push_back(sent / absl::ToDoubleSeconds(call));
    all_ran_seconds.push_back(absl::ToDoubleSeconds(ran));
    std::cerr << "run " << run << ": replayed " << sent << " in "
              << absl::FormatDuration(call) << " (" << per_second.back()
              << "/s); all ran again after " << absl::FormatDuration(ran)
              << "\n";
  }
  worker.Shutdown(absl::Seconds(5));
  std::cout << "{\"scenario\":\"replay\",\"tasks\":" << tasks
            << ",\"create_failed\":" << create_failed
            << ",\"replayed\":" << replayed_total
            << ",\"call_seconds\":" << Stats(call_seconds)
            << ",\"replayed_per_second\":" << Stats(per_second)
            << ",\"all_ran_again_seconds\":" << Stats(all_ran_seconds) << "}"
            << std::endl;
  return 0;
}

// set_report: the report of a whole set (bench/run-all.sh) from its
// per-scenario reports; starts nothing.
int WriteSetReport() {
  std::vector<std::pair<std::string, std::string>> reports;
  for (absl::string_view path : absl::StrSplit(absl::GetFlag(FLAGS_reports),
                                               ',', absl::SkipWhitespace())) {
    std::ifstream in{std::string(path)};
    if (!in) {
      std::cerr << "cannot read " << path << "\n";
      return 1;
    }
    std::stringstream text;
    text << in.rdbuf();
    const size_t slash = path.rfind('/');
    reports.emplace_back(
        std::string(slash == absl::string_view::npos ? path
                                                     : path.substr(slash + 1)),
        text.str());
  }
  auto report = BuildSetReport(reports);
  if (!report.ok()) {
    std::cerr << report.status() << "\n";
    return 1;
  }
  const std::string out = absl::GetFlag(FLAGS_out);
  std::ofstream(out + ".md") << report->markdown;
  std::ofstream(out + ".json") << report->json << "\n";
  std::cout << report->json << std::endl;
  return 0;
}

}  // namespace
}  // namespace ebats::bench

int main(int argc, char** argv) {
  ebats::InitOpenSslWithoutExitCleanup();
  // As in the services (service::Init): no lock-graph upkeep.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  absl::ParseCommandLine(argc, argv);
  // stdout carries the JSON result only.
  ebats::InitLogging("ebats-bench", "warn");
  if (absl::GetFlag(FLAGS_scenario) == "lateness")
    return ebats::bench::Lateness();
  if (absl::GetFlag(FLAGS_scenario) == "ladder") return ebats::bench::Ladder();
  if (absl::GetFlag(FLAGS_scenario) == "broker") return ebats::bench::Broker();
  if (absl::GetFlag(FLAGS_scenario) == "broker_latency")
    return ebats::bench::BrokerLatency();
  if (absl::GetFlag(FLAGS_scenario) == "throughput")
    return ebats::bench::Throughput();
  if (absl::GetFlag(FLAGS_scenario) == "latency")
    return ebats::bench::Latency();
  if (absl::GetFlag(FLAGS_scenario) == "jitter") return ebats::bench::Jitter();
  if (absl::GetFlag(FLAGS_scenario) == "replay") return ebats::bench::Replay();
  if (absl::GetFlag(FLAGS_scenario) == "set_report")
    return ebats::bench::WriteSetReport();
  std::cerr << "unknown --scenario " << absl::GetFlag(FLAGS_scenario) << "\n";
  return 2;
}
