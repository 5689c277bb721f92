// The scheduler's gRPC API (real stub, in-process server on port 0) and its
// dispatcher and result recorder against a real RabbitMQ.
#include <algorithm>
#include <atomic>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "ebats/v1/scheduler.grpc.pb.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "gtest/gtest.h"
#include "libs/codec/message_codec.h"
#include "libs/domain/broker_names.h"
#include "libs/domain/delay_ladder.h"
#include "libs/domain/ids.h"
#include "libs/rpc/server.h"
#include "libs/worker/heartbeater.h"
#include "services/scheduler/dispatcher.h"
#include "services/scheduler/queue_monitor.h"
#include "services/scheduler/result_recorder.h"
#include "services/scheduler/scheduler_service.h"
#include "tests/harness/broker_environment.h"
#include "tests/integration/queue_probe.h"

namespace ebats::scheduler {
namespace {

using ::ebats::testing::QueueProbe;
using ::ebats::testing::TestSessionOptions;
using ::ebats::testing::WaitFor;

constexpr auto kQuorum = amqp::QueueType::kQuorum;

class SchedulerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    store_ = *store::Store::Open(":memory:");
    amqp::SessionOptions options =
        TestSessionOptions(amqp::SchedulerTopology(kQuorum));
    session_ = std::make_unique<amqp::Session>(options);
    metrics_ = std::make_unique<SchedulerMetrics>(registry_);
    registrations_ =
        std::make_unique<Registrations>(*store_, *session_, kQuorum);
    ASSERT_TRUE(registrations_->Load().ok());
    dispatcher_ =
        std::make_unique<Dispatcher>(*session_, *store_, *registrations_,
                                     *metrics_, Clock::Real(), Options());
    recorder_ = std::make_unique<ResultRecorder>(*session_, *store_, *metrics_);
    session_->AddConsumer(domain::kSchedulerQueue, [this](amqp::Delivery d) {
      dispatcher_->OnDelivery(std::move(d));
    });
    session_->AddConsumer(domain::kResultsQueue, [this](amqp::Delivery d) {
      recorder_->OnDelivery(std::move(d));
    });
    dispatcher_->Start();
    recorder_->Start();
    session_->Start();
    service_ =
        std::make_unique<SchedulerService>(*store_, *registrations_, *session_);
    rpc::ServerOptions server_options;
    server_options.address = "127.0.0.1:0";
    server_ = *rpc::RunningServer::Start(server_options, {service_.get()});
    stub_ = v1::Scheduler::NewStub(
        grpc::CreateChannel(absl::StrCat("127.0.0.1:", server_->port()),
                            grpc::InsecureChannelCredentials()));
    ASSERT_TRUE(WaitFor([&] { return session_->IsUp(); }));
  }

  virtual DispatcherOptions Options() const { return {}; }

  // The value of an unlabelled gauge or counter, or the sample count of an
  // unlabelled histogram (or of the one labelled op=`op`).
  double MetricValue(const std::string& name, const std::string& op = "") {
    for (const auto& family : registry_.Collect()) {
      if (family.name != name) continue;
      for (const auto& m : family.metric) {
        if (!op.empty() && (m.label.empty() || m.label[0].value != op))
          continue;
        switch (family.type) {
          case prometheus::MetricType::Gauge:
            return m.gauge.value;
          case prometheus::MetricType::Counter:
            return m.counter.value;
          case prometheus::MetricType::Histogram:
            return static_cast<double>(m.histogram.sample_count);
          default:
            return -1;
        }
      }
    }
    return -1;
  }

  // The gauge `name`{queue=`queue`}, or -1 when there is none.
  double QueueGauge(const std::string& name, const std::string& queue) {
    for (const auto& family : registry_.Collect()) {
      if (family.name != name) continue;
      for (const auto& m : family.metric) {
        for (const auto& label : m.label) {
          if (label.name == "queue" && label.value == queue)
            return m.gauge.value;
        }
      }
    }
    return -1;
  }

  void TearDown() override {
    server_->Shutdown(absl::Seconds(1));
    session_->StopConsuming();
    dispatcher_->Shutdown();
    recorder_->Shutdown();
    session_->Shutdown();
  }

  grpc::Status Register(const std::string& event, const std::string& topic,
                        const std::string& task, int64_t delay_ms = 0) {
    v1::RegisterTaskRequest request;
    request.mutable_registration()->set_event(event);
    request.mutable_registration()->set_topic(topic);
    request.mutable_registration()->set_task(task);
    request.mutable_registration()->set_delay_ms(delay_ms);
    v1::RegisterTaskResponse response;
    grpc::ClientContext context;
    return stub_->RegisterTask(&context, request, &response);
  }

  // Publishes an event straight to the scheduler's input, as a gateway would.
  v1::EventMessage PublishEvent(const std::string& event,
                                const std::string& params) {
    v1::EventMessage message;
    message.set_event_id(domain::NewRandomId());
    message.set_event(event);
    message.set_params(params);
    message.set_publish_time_ms(absl::ToUnixMillis(absl::Now()));
    EXPECT_TRUE(session_->PublishAndWait(codec::EncodeEvent(message)).ok());
    return message;
  }

  // Waits until the store says task `id` was dispatched (confirmed by the
  // broker), as a redelivered input would find it.
  bool WaitDispatched(const std::string& id) {
    return WaitFor([&] {
      v1::Task probe_task;
      probe_task.set_id(id);
      std::vector<store::InsertOutcome> outcomes;
      return store_->InsertTasks({probe_task}, &outcomes).ok() &&
             outcomes[0] == store::InsertOutcome::kExistsDispatched;
    });
  }

  // Publishes a batch that must be one message straight to the scheduler's
  // input; returns the tasks on `probe`'s queue once there are `n`.
  std::vector<amqp::Delivery> PublishAsOneMessage(
      std::vector<amqp::BatchPart> parts, QueueProbe& probe, size_t n) {
    EXPECT_EQ(parts.size(), 1u);
    if (parts.size() != 1) return {};
    EXPECT_TRUE(session_->PublishAndWait(parts[0].message).ok());
    return probe.WaitMatching(
        [](const amqp::Delivery& d) { return codec::DecodeTask(d).ok(); }, n);
  }

  prometheus::Registry registry_;
  std::unique_ptr<store::Store> store_;
  std::unique_ptr<amqp::Session> session_;
  std::unique_ptr<SchedulerMetrics> metrics_;
  std::unique_ptr<Registrations> registrations_;
  std::unique_ptr<Dispatcher> dispatcher_;
  std::unique_ptr<ResultRecorder> recorder_;
  std::unique_ptr<SchedulerService> service_;
  std::unique_ptr<rpc::RunningServer> server_;
  std::unique_ptr<v1::Scheduler::Stub> stub_;
};

TEST_F(SchedulerTest, RegistrationRulesAndCodes) {
  EXPECT_TRUE(Register("order_paid", "api", "virtualShipping").ok());
  EXPECT_TRUE(
      Register("order_paid", "api", "virtualShipping").ok());  // same settings
  EXPECT_EQ(Register("order_paid", "api", "virtualShipping", 10).error_code(),
            grpc::StatusCode::ALREADY_EXISTS);
  EXPECT_EQ(Register("order paid", "api", "t").error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(Register("e", "a.b", "t").error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(Register("e", "api", "").error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(Register("e", "api", "t", -5).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);

  v1::ListRegistrationsRequest list;
  v1::ListRegistrationsResponse listed;
  {
    grpc::ClientContext context;
    ASSERT_TRUE(stub_->ListRegistrations(&context, list, &listed).ok());
  }
  EXPECT_EQ(listed.registrations_size(), 1);

  v1::UnregisterTaskRequest unregister;
  unregister.set_event("order_paid");
  unregister.set_topic("api");
  unregister.set_task("virtualShipping");
  v1::UnregisterTaskResponse unregistered;
  {
    grpc::ClientContext context;
    EXPECT_TRUE(
        stub_->UnregisterTask(&context, unregister, &unregistered).ok());
  }
  {
    grpc::ClientContext context;
    EXPECT_EQ(
        stub_->UnregisterTask(&context, unregister, &unregistered).error_code(),
        grpc::StatusCode::NOT_FOUND);
  }
}

// A replay whose publish fails leaves its task DEAD with its reason, and the
// call says so: the task stays replayable, never PENDING without a message
// that would run it. Here the topic's queue is deleted behind the
// scheduler's back, so the publishes are unroutable.
TEST_F(SchedulerTest, ReplayThatCannotBeSentLeavesTheTasksDead) {
  const std::string topic = "replay_unsent";
  std::vector<v1::Task> tasks;
  std::vector<v1::TaskResult> failures;
  for (const char* id : {"unsent-1", "unsent-2"}) {
    v1::Task& task = tasks.emplace_back();
    task.set_id(id);
    task.set_event_id("ev");
    task.set_topic(topic);
    task.set_task("t");
    task.set_state(v1::TASK_STATE_PENDING);
    task.set_max_attempts(1);
    v1::TaskResult& failed = failures.emplace_back();
    failed.set_task_id(id);
    failed.set_outcome(v1::OUTCOME_FAILED);
    failed.set_attempt(1);
  }
  std::vector<store::InsertOutcome> outcomes;
  ASSERT_TRUE(store_->InsertTasks(tasks, &outcomes).ok());
  ASSERT_TRUE(store_->ApplyResults(failures, nullptr).ok());
  ASSERT_TRUE(registrations_->EnsureTopic(topic).ok());
  ASSERT_TRUE(testing::BrokerEnvironment::Node()
                  .Ctl({"delete_queue", domain::TaskQueueName(topic)})
                  .ok());

  auto replay = [&](const std::string& task_id, const std::string& of_topic) {
    v1::ReplayTasksRequest request;
    request.set_task_id(task_id);
    request.set_topic(of_topic);
    v1::ReplayTasksResponse response;
    grpc::ClientContext context;
    return stub_->ReplayTasks(&context, request, &response);
  };
  for (const grpc::Status& status :
       {replay("unsent-1", ""), replay("", topic)}) {
    EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAVAILABLE);
    EXPECT_NE(status.error_message().find("not sent (still dead)"),
              std::string::npos)
        << status.error_message();
    for (const v1::Task& task : tasks) {
      auto after = store_->GetTask(task.id());
      ASSERT_TRUE(after.ok()) << after.status();
      EXPECT_EQ(after->state(), v1::TASK_STATE_DEAD) << task.id();
      EXPECT_EQ(after->dead_reason(), "failed") << task.id();
    }
  }
}

TEST_F(SchedulerTest, UnknownTaskAndBadPageTokenAreRefused) {
  v1::GetTaskRequest get;
  get.set_task_id("nope");
  v1::GetTaskResponse got;
  {
    grpc::ClientContext context;
    EXPECT_EQ(stub_->GetTask(&context, get, &got).error_code(),
              grpc::StatusCode::NOT_FOUND);
  }
  v1::ListTasksRequest list;
  list.set_page_token("not-a-token");
  v1::ListTasksResponse listed;
  grpc::ClientContext context;
  EXPECT_EQ(stub_->ListTasks(&context, list, &listed).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
}

TEST_F(SchedulerTest, EventBecomesOneTaskPerRegistrationOnItsTopicQueue) {
  ASSERT_TRUE(Register("order_paid", "dispatch", "virtualShipping").ok());
  ASSERT_TRUE(Register("order_paid", "dispatch", "orderAsync").ok());
  QueueProbe probe({domain::TaskQueueName("dispatch")},
                   amqp::TopicTopology(kQuorum, "dispatch"));
  ASSERT_TRUE(probe.WaitUp());
  v1::EventMessage event =
      PublishEvent("order_paid", R"({"order_id": "FB138020392193312"})");

  auto tasks = probe.WaitMatching(
      [&](const amqp::Delivery& d) {
        auto t = codec::DecodeTask(d);
        return t.ok() && t->event_id() == event.event_id();
      },
      2);
  ASSERT_EQ(tasks.size(), 2u);
  for (const auto& d : tasks) {
    auto t = codec::DecodeTask(d);
    EXPECT_EQ(t->params(), event.params());
    EXPECT_EQ(t->attempt(), 1);
    EXPECT_EQ(t->task_id(),
              domain::TaskIdFor(event.event_id(), "dispatch", t->task()));
  }
  // Recorded, and marked dispatched once confirmed.
  ASSERT_TRUE(WaitFor([&] {
    auto t = store_->GetTask(
        domain::TaskIdFor(event.event_id(), "dispatch", "orderAsync"));
    return t.ok() && t->state() == v1::TASK_STATE_PENDING;
  }));
}

// What no worker metric can show: tasks waiting on a topic nobody consumes.
TEST_F(SchedulerTest, QueueMonitorShowsTasksWaitingForAWorkerThatIsNotThere) {
  ASSERT_TRUE(Register("order_paid", "unattended", "virtualShipping").ok());
  amqp::Session monitor_session(TestSessionOptions());
  QueueMonitor monitor(monitor_session, *registrations_, registry_,
                       absl::Milliseconds(100));
  monitor_session.Start();
  monitor.Start();
  const std::string queue = domain::TaskQueueName("unattended");
  for (int i = 0; i < 3; ++i) PublishEvent("order_paid", "{}");

  EXPECT_TRUE(WaitFor([&] {
    return QueueGauge("ebats_queue_ready_messages", queue) == 3;
  })) << QueueGauge("ebats_queue_ready_messages", queue);
  EXPECT_EQ(QueueGauge("ebats_queue_consumers", queue), 0);
  EXPECT_EQ(QueueGauge("ebats_queue_ready_messages",
                       domain::DeadQueueName("unattended")),
            0);
  EXPECT_GE(QueueGauge("ebats_queue_consumers", domain::kSchedulerQueue), 1);

  // A worker comes: it takes the backlog and counts as a consumer.
  QueueProbe worker({queue}, amqp::TopicTopology(kQuorum, "unattended"));
  ASSERT_TRUE(worker.WaitUp());
  EXPECT_TRUE(WaitFor([&] {
    return QueueGauge("ebats_queue_consumers", queue) == 1 &&
           QueueGauge("ebats_queue_ready_messages", queue) == 0;
  }));

  // A task delayed by an hour waits on the ladder, and its levels are read
  // (at least this one; the broker is shared with the binary's other tests).
  ASSERT_TRUE(
      Register("order_created", "unattended", "closeOrder", 3'600'000).ok());
  PublishEvent("order_created", "{}");
  auto on_ladder = [&] {
    double sum = 0;
    for (int level = 0; level < domain::kLadderLevels; ++level) {
      sum += std::max(0.0, QueueGauge("ebats_queue_ready_messages",
                                      domain::LadderLevelQueue(level)));
    }
    return sum;
  };
  EXPECT_TRUE(WaitFor([&] { return on_ladder() >= 1; })) << on_ladder();
  EXPECT_EQ(QueueGauge("ebats_queue_consumers", domain::LadderLevelQueue(0)),
            0);

  // A topic with tasks and no registration is watched too, also by a
  // scheduler started later on the same store.
  ASSERT_TRUE(registrations_->EnsureTopic("created-only").ok());
  Registrations restarted(*store_, *session_, kQuorum);
  ASSERT_TRUE(restarted.Load().ok());
  EXPECT_EQ(restarted.Topics(),
            (std::vector<std::string>{"created-only", "unattended"}));
  const auto watched = monitor.Queues();
  EXPECT_TRUE(std::any_of(
      watched.begin(), watched.end(), [](const QueueMonitor::WatchedQueue& q) {
        return q.queue == domain::TaskQueueName("created-only") &&
               q.topic == "created-only";
      }));

  // Without a broker connection there are no figures, rather than stale ones.
  monitor_session.Shutdown();
  EXPECT_TRUE(WaitFor(
      [&] { return QueueGauge("ebats_queue_consumers", queue) == -1; }));
  // And ListQueues' read says so at once (the RPC answers UNAVAILABLE).
  EXPECT_EQ(
      monitor.ReadNow(watched, absl::Now() + absl::Seconds(5)).status().code(),
      absl::StatusCode::kUnavailable);
  monitor.Shutdown();
}

TEST_F(SchedulerTest, EventsOfSeveralNamesFollowTheRegistrationsOfTheirOwn) {
  ASSERT_TRUE(Register("order_paid", "mixed", "keep").ok());
  ASSERT_TRUE(Register("order_paid", "mixed", "drop").ok());
  ASSERT_TRUE(Register("order_shipped", "mixed", "ship").ok());
  v1::UnregisterTaskRequest unregister;
  unregister.set_event("order_paid");
  unregister.set_topic("mixed");
  unregister.set_task("drop");
  v1::UnregisterTaskResponse unregistered;
  {
    grpc::ClientContext context;
    ASSERT_TRUE(
        stub_->UnregisterTask(&context, unregister, &unregistered).ok());
  }
  QueueProbe probe({domain::TaskQueueName("mixed")},
                   amqp::TopicTopology(kQuorum, "mixed"));
  ASSERT_TRUE(probe.WaitUp());
  // Back to back, so they usually meet in one dispatcher batch.
  const std::vector<v1::EventMessage> events = {
      PublishEvent("order_paid", "{}"), PublishEvent("order_shipped", "{}"),
      PublishEvent("order_paid", "{}")};
  auto tasks = probe.WaitMatching(
      [](const amqp::Delivery& d) { return codec::DecodeTask(d).ok(); }, 3);
  ASSERT_EQ(tasks.size(), 3u);
  std::multiset<std::string> names;
  for (const auto& d : tasks) names.insert(codec::DecodeTask(d)->task());
  EXPECT_EQ(names, (std::multiset<std::string>{"keep", "keep", "ship"}));
  for (const auto& event : events) {
    EXPECT_FALSE(
        store_->GetTask(domain::TaskIdFor(event.event_id(), "mixed", "drop"))
            .ok());
  }
}

TEST_F(SchedulerTest, RedeliveredEventIsNotDispatchedTwice) {
  ASSERT_TRUE(Register("order_paid", "dedupe", "virtualShipping").ok());
  QueueProbe probe({domain::TaskQueueName("dedupe")},
                   amqp::TopicTopology(kQuorum, "dedupe"));
  ASSERT_TRUE(probe.WaitUp());
  v1::EventMessage event = PublishEvent("order_paid", "{}");
  auto is_ours = [&](const amqp::Delivery& d) {
    auto t = codec::DecodeTask(d);
    return t.ok() && t->event_id() == event.event_id();
  };
  ASSERT_EQ(probe.WaitMatching(is_ours, 1).size(), 1u);
  // Wait until the store says dispatched, then deliver the same event again.
  ASSERT_TRUE(WaitDispatched(
      domain::TaskIdFor(event.event_id(), "dedupe", "virtualShipping")));
  ASSERT_TRUE(session_->PublishAndWait(codec::EncodeEvent(event)).ok());
  ASSERT_TRUE(WaitFor(
      [&] { return MetricValue("ebats_events_duplicate_total") >= 1; }));
  EXPECT_EQ(probe.Matching(is_ours).size(), 1u);
}

TEST_F(SchedulerTest, EventBatchDispatchesEveryEventAndSkipsTheDispatchedOnes) {
  ASSERT_TRUE(Register("order_paid", "batched", "virtualShipping").ok());
  QueueProbe probe({domain::TaskQueueName("batched")},
                   amqp::TopicTopology(kQuorum, "batched"));
  ASSERT_TRUE(probe.WaitUp());
  // The first event alone, until the store says its task is dispatched.
  v1::EventMessage first = PublishEvent("order_paid", R"({"n":0})");
  ASSERT_TRUE(WaitDispatched(
      domain::TaskIdFor(first.event_id(), "batched", "virtualShipping")));
  // Then a batch that carries it again with three new ones.
  std::vector<v1::EventMessage> events = {first};
  for (int n = 1; n <= 3; ++n) {
    v1::EventMessage e = first;
    e.set_event_id(domain::NewRandomId());
    e.set_params(absl::StrCat(R"({"n":)", n, "}"));
    events.push_back(e);
  }
  auto tasks = PublishAsOneMessage(codec::EncodeEvents(events), probe, 4);
  ASSERT_EQ(tasks.size(), 4u);
  std::set<std::string> params;
  for (const auto& d : tasks) params.insert(codec::DecodeTask(d)->params());
  EXPECT_EQ(params, (std::set<std::string>{R"({"n":0})", R"({"n":1})",
                                           R"({"n":2})", R"({"n":3})"}));
  // The event sent again counts as a duplicate, the new ones do not.
  ASSERT_TRUE(WaitFor(
      [&] { return MetricValue("ebats_events_duplicate_total") == 1; }));
  // The batch is acked once its tasks are confirmed: nothing left to redo.
  EXPECT_FALSE(WaitFor(
      [&] {
        return probe.Matching([](const amqp::Delivery&) { return true; })
                   .size() > 4;
      },
      absl::Milliseconds(500)));
}

// A bound on tasks in flight smaller than one event's fan-out: each input is
// planned alone, after the previous one's tasks are recorded, and every task
// still goes out.
class SchedulerWithSmallDispatchBoundTest : public SchedulerTest {
 protected:
  DispatcherOptions Options() const override {
    DispatcherOptions options;
    options.max_in_flight_tasks = 4;
    return options;
  }
};

TEST_F(SchedulerWithSmallDispatchBoundTest, EveryTaskGoesOutOneInputAtATime) {
  constexpr int kFanOut = 10;
  constexpr int kEvents = 6;
  for (int t = 0; t < kFanOut; ++t)
    ASSERT_TRUE(Register("order_bulk", "bounded", absl::StrCat("t", t)).ok());
  QueueProbe probe({domain::TaskQueueName("bounded")},
                   amqp::TopicTopology(kQuorum, "bounded"));
  ASSERT_TRUE(probe.WaitUp());
  // All at once, so that without the bound they would meet in one batch.
  std::vector<v1::EventMessage> events(kEvents);
  auto confirmed = std::make_shared<std::atomic<int>>(0);
  for (int n = 0; n < kEvents; ++n) {
    events[n].set_event_id(domain::NewRandomId());
    events[n].set_event("order_bulk");
    events[n].set_params(absl::StrCat(R"({"n":)", n, "}"));
    events[n].set_publish_time_ms(absl::ToUnixMillis(absl::Now()));
    session_->Publish(codec::EncodeEvent(events[n]),
                      [confirmed](absl::Status s) {
                        EXPECT_TRUE(s.ok()) << s;
                        ++*confirmed;
                      });
  }
  ASSERT_TRUE(WaitFor([&] { return *confirmed == kEvents; }));
  auto tasks = probe.WaitMatching(
      [](const amqp::Delivery& d) { return codec::DecodeTask(d).ok(); },
      kFanOut * kEvents);
  ASSERT_EQ(tasks.size(), size_t{kFanOut * kEvents});
  std::set<std::string> ids;
  for (const auto& d : tasks) ids.insert(codec::DecodeTask(d)->task_id());
  EXPECT_EQ(ids.size(), size_t{kFanOut * kEvents});
  for (const auto& event : events) {
    for (int t = 0; t < kFanOut; ++t) {
      EXPECT_TRUE(WaitDispatched(domain::TaskIdFor(event.event_id(), "bounded",
                                                   absl::StrCat("t", t))));
    }
  }
  // One store batch per input: the room left never admits a second one.
  EXPECT_EQ(MetricValue("ebats_store_batch_seconds", "insert_tasks"), kEvents);
  EXPECT_TRUE(WaitFor(
      [&] { return MetricValue("ebats_dispatch_in_flight_tasks") == 0; }));
}

// A dispatcher whose publishes the broker never confirms (a memory alarm
// blocks its connection) fills its room, then still stops at once when asked;
// the event it held goes back to its queue and, once the alarm lifts, every
// task goes out: nothing is lost.
TEST_F(SchedulerWithSmallDispatchBoundTest, StopsWhileTheBrokerNeverConfirms) {
  constexpr int kFanOut = 10;
  for (int t = 0; t < kFanOut; ++t)
    ASSERT_TRUE(Register("order_alarm", "alarm", absl::StrCat("t", t)).ok());
  // The fixture's dispatcher takes no more input: this test runs its own.
  session_->StopConsuming();
  v1::EventMessage event = PublishEvent("order_alarm", "{}");
  std::vector<std::string> ids;
  for (int t = 0; t < kFanOut; ++t)
    ids.push_back(
        domain::TaskIdFor(event.event_id(), "alarm", absl::StrCat("t", t)));

  // A second scheduler input path, as a restarted scheduler would have.
  struct Path {
    prometheus::Registry registry;
    SchedulerMetrics metrics{registry};
    amqp::Session session{TestSessionOptions(amqp::SchedulerTopology(kQuorum))};
    std::unique_ptr<Dispatcher> dispatcher;
  };
  auto start_path = [&](DispatcherOptions options) {
    auto path = std::make_unique<Path>();
    path->dispatcher =
        std::make_unique<Dispatcher>(path->session, *store_, *registrations_,
                                     path->metrics, Clock::Real(), options);
    Dispatcher* dispatcher = path->dispatcher.get();
    path->session.AddConsumer(domain::kSchedulerQueue,
                              [dispatcher](amqp::Delivery d) {
                                dispatcher->OnDelivery(std::move(d));
                              });
    dispatcher->Start();
    path->session.Start();
    return path;
  };
  auto in_flight = [](Path& path) {
    for (const auto& family : path.registry.Collect()) {
      if (family.name == "ebats_dispatch_in_flight_tasks")
        return family.metric[0].gauge.value;
    }
    return -1.0;
  };
  {
    testing::ScopedMemoryAlarm alarm;
    auto blocked = start_path(Options());
    ASSERT_TRUE(
        WaitFor([&] { return !blocked->session.BlockedReason().empty(); }));
    // Its room (4) is used up and nothing is confirmed.
    ASSERT_TRUE(WaitFor([&] { return in_flight(*blocked) >= 4; }));
    const absl::Time start = absl::Now();
    blocked->session.StopConsuming();
    blocked->dispatcher->Shutdown();
    blocked->session.Shutdown();
    EXPECT_LT(absl::Now() - start, absl::Seconds(5));
  }
  QueueProbe probe({domain::TaskQueueName("alarm")},
                   amqp::TopicTopology(kQuorum, "alarm"));
  ASSERT_TRUE(probe.WaitUp());
  auto after = start_path(DispatcherOptions());
  for (const auto& id : ids) EXPECT_TRUE(WaitDispatched(id)) << id;
  auto tasks = probe.WaitMatching(
      [](const amqp::Delivery& d) { return codec::DecodeTask(d).ok(); },
      kFanOut);
  std::set<std::string> seen;
  for (const auto& d : tasks) seen.insert(codec::DecodeTask(d)->task_id());
  EXPECT_EQ(seen, std::set<std::string>(ids.begin(), ids.end()));
  after->session.StopConsuming();
  after->dispatcher->Shutdown();
  after->session.Shutdown();
}

// While the broker blocks the scheduler's connection, a registration for a
// new topic is stored at once (its queue's declaration, which the broker
// would not answer, is refused without a wait or a reconnect) and its tasks
// run once the alarm lifts (the queue is declared before the first one).
TEST_F(SchedulerTest, RegistrationWhileTheBrokerBlocksWorksAfterwards) {
  const uint64_t connects = session_->connects();
  {
    testing::ScopedMemoryAlarm alarm;
    // An event nobody registered: publishing it gets the connection blocked.
    v1::EventMessage unmatched;
    unmatched.set_event_id(domain::NewRandomId());
    unmatched.set_event("nobody_listens");
    unmatched.set_publish_time_ms(absl::ToUnixMillis(absl::Now()));
    session_->Publish(codec::EncodeEvent(unmatched), [](absl::Status) {});
    ASSERT_TRUE(WaitFor([&] { return !session_->BlockedReason().empty(); }));
    const absl::Time start = absl::Now();
    grpc::Status registered = Register("order_held", "blocked_topic", "ship");
    EXPECT_TRUE(registered.ok()) << registered.error_message();
    EXPECT_LT(absl::Now() - start, absl::Seconds(5));
  }
  ASSERT_TRUE(WaitFor([&] { return session_->BlockedReason().empty(); }));
  v1::EventMessage event = PublishEvent("order_held", "{}");
  EXPECT_TRUE(WaitDispatched(
      domain::TaskIdFor(event.event_id(), "blocked_topic", "ship")));
  EXPECT_EQ(session_->connects(), connects);
}

// The worker's heartbeater against the scheduler's gRPC API: it registers,
// leaves the list when stopped, and stops just as promptly when the
// scheduler is gone (its unregister call fails after the 3 s deadline at
// most; the worker then shows as lost until forgotten).
TEST_F(SchedulerTest, HeartbeaterRegistersLeavesAndStopsWithoutTheScheduler) {
  auto start = [&](const std::string& id) {
    worker::HeartbeaterOptions options;
    options.scheduler_address = absl::StrCat("127.0.0.1:", server_->port());
    options.worker.set_id(id);
    options.worker.set_concurrency(2);
    auto heartbeater = std::make_unique<worker::Heartbeater>(std::move(options),
                                                             [] { return 1; });
    heartbeater->Start();
    return heartbeater;
  };
  auto listed = [&] {
    std::set<std::string> ids;
    auto workers = store_->ListWorkers();
    EXPECT_TRUE(workers.ok()) << workers.status();
    for (const auto& w : *workers) ids.insert(w.id());
    return ids;
  };
  auto leaves = start("hb-leaves");
  auto stays = start("hb-stays");
  ASSERT_TRUE(WaitFor([&] { return leaves->registered(); }));
  ASSERT_TRUE(WaitFor([&] { return stays->registered(); }));
  EXPECT_EQ(listed(), (std::set<std::string>{"hb-leaves", "hb-stays"}));
  leaves->Shutdown();
  EXPECT_EQ(listed(), (std::set<std::string>{"hb-stays"}));

  server_->Shutdown(absl::Seconds(1));
  const absl::Time stop = absl::Now();
  stays->Shutdown();
  EXPECT_LT(absl::Now() - stop, absl::Seconds(5));
  EXPECT_EQ(listed(), (std::set<std::string>{"hb-stays"}));
}

TEST_F(SchedulerTest, TaskRequestBatchCreatesEveryTask) {
  QueueProbe probe({domain::TaskQueueName("requested")},
                   amqp::TopicTopology(kQuorum, "requested"));
  ASSERT_TRUE(probe.WaitUp());
  std::vector<v1::TaskRequest> requests(3);
  for (int n = 0; n < 3; ++n) {
    requests[n].set_task_id(domain::NewRandomId());
    requests[n].set_topic("requested");
    requests[n].set_task("orderAsync");
    requests[n].set_params(absl::StrCat(R"({"n":)", n, "}"));
    requests[n].set_publish_time_ms(absl::ToUnixMillis(absl::Now()));
  }
  auto tasks =
      PublishAsOneMessage(codec::EncodeTaskRequests(requests), probe, 3);
  ASSERT_EQ(tasks.size(), 3u);
  std::set<std::string> ids;
  for (const auto& d : tasks) ids.insert(codec::DecodeTask(d)->task_id());
  for (const auto& r : requests) {
    EXPECT_EQ(ids.count(r.task_id()), 1u) << r.task_id();
    EXPECT_TRUE(WaitFor([&] { return store_->GetTask(r.task_id()).ok(); }));
  }
}

// CreateTask answers once the broker holds the request; the scheduler
// records the task when it takes the request from its input. A GetTask or
// CancelTask that comes first waits for the record (here the request is
// published 300 ms after the calls).
TEST_F(SchedulerTest, JustCreatedTaskIsFoundAndCanceledBeforeItIsRecorded) {
  const int64_t now_ms = absl::ToUnixMillis(absl::Now());
  std::vector<v1::TaskRequest> requests(2);
  for (auto& r : requests) {
    r.set_task_id(domain::NewTimeOrderedId(now_ms));
    r.set_topic("requested");
    r.set_task("orderAsync");
    r.set_publish_time_ms(now_ms);
  }
  requests[1].set_due_time_ms(now_ms + 60'000);
  std::thread gateway([&] {
    absl::SleepFor(absl::Milliseconds(300));
    for (const auto& part : codec::EncodeTaskRequests(requests))
      EXPECT_TRUE(session_->PublishAndWait(part.message).ok());
  });
  v1::GetTaskRequest get;
  get.set_task_id(requests[0].task_id());
  v1::GetTaskResponse got;
  grpc::Status got_status;
  std::thread getter([&] {
    grpc::ClientContext context;
    got_status = stub_->GetTask(&context, get, &got);
  });
  v1::CancelTaskRequest cancel;
  cancel.set_task_id(requests[1].task_id());
  v1::CancelTaskResponse canceled;
  grpc::ClientContext context;
  grpc::Status cancel_status = stub_->CancelTask(&context, cancel, &canceled);
  getter.join();
  gateway.join();
  ASSERT_TRUE(got_status.ok()) << got_status.error_message();
  EXPECT_EQ(got.task().id(), requests[0].task_id());
  ASSERT_TRUE(cancel_status.ok()) << cancel_status.error_message();
  EXPECT_EQ(canceled.task().state(), v1::TASK_STATE_CANCELED);
  EXPECT_EQ(store_->GetTask(requests[1].task_id())->state(),
            v1::TASK_STATE_CANCELED);
}

// An unknown id made just now may name a task whose request is still
// queued: UNAVAILABLE (retry) after the wait. An old one is NOT_FOUND.
TEST_F(SchedulerTest, UnknownRecentTaskIdIsUnavailableAndAnOldOneNotFound) {
  const int64_t now_ms = absl::ToUnixMillis(absl::Now());
  v1::GetTaskRequest get;
  get.set_task_id(domain::NewTimeOrderedId(now_ms));
  v1::GetTaskResponse got;
  {
    const absl::Time start = absl::Now();
    grpc::ClientContext context;
    grpc::Status status = stub_->GetTask(&context, get, &got);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAVAILABLE);
    EXPECT_NE(status.error_message().find("not recorded yet"),
              std::string::npos)
        << status.error_message();
    // It waited (the bound leaves room for a timer that fires a bit early).
    EXPECT_GE(absl::Now() - start, SchedulerService::kRecordWait / 2);
  }
  v1::CancelTaskRequest cancel;
  cancel.set_task_id(domain::NewTimeOrderedId(now_ms - 3600'000));
  v1::CancelTaskResponse canceled;
  grpc::ClientContext context;
  EXPECT_EQ(stub_->CancelTask(&context, cancel, &canceled).error_code(),
            grpc::StatusCode::NOT_FOUND);
}

TEST_F(SchedulerTest, WorkerReportsAreRecorded) {
  ASSERT_TRUE(Register("order_paid", "record", "virtualShipping").ok());
  v1::EventMessage event = PublishEvent("order_paid", "{}");
  const std::string id =
      domain::TaskIdFor(event.event_id(), "record", "virtualShipping");
  ASSERT_TRUE(WaitFor([&] { return store_->GetTask(id).ok(); }));
  v1::TaskResult result;
  result.set_task_id(id);
  result.set_topic("record");
  result.set_task("virtualShipping");
  result.set_outcome(v1::OUTCOME_SUCCEEDED);
  result.set_attempt(1);
  result.set_worker_id("w-test");
  result.set_start_time_ms(event.publish_time_ms() + 3);
  result.set_finish_time_ms(event.publish_time_ms() + 5);
  result.set_time_used_us(1500);
  result.set_message("shipped");
  ASSERT_TRUE(session_->PublishAndWait(codec::EncodeResult(result)).ok());
  ASSERT_TRUE(WaitFor([&] {
    auto t = store_->GetTask(id);
    return t.ok() && t->state() == v1::TASK_STATE_SUCCEEDED;
  }));
  auto t = *store_->GetTask(id);
  EXPECT_EQ(t.worker_id(), "w-test");
  EXPECT_EQ(t.message(), "shipped");
  EXPECT_EQ(t.time_used_us(), 1500);
  EXPECT_EQ(t.lateness_ms(), 3);
}

TEST_F(SchedulerTest, UndecodableInputGoesToPoisonAndTheSchedulerKeepsWorking) {
  QueueProbe poison({domain::kPoisonQueue}, amqp::SchedulerTopology(kQuorum));
  ASSERT_TRUE(poison.WaitUp());
  amqp::Message garbage;
  garbage.exchange = domain::kEventsExchange;
  garbage.routing_key = "order_paid";
  garbage.body = "\xff\xff not a protobuf";
  garbage.message_id = "garbage-1";
  ASSERT_TRUE(session_->PublishAndWait(garbage).ok());
  amqp::Message bad_result = garbage;
  bad_result.exchange = "";
  bad_result.routing_key = domain::kResultsQueue;
  bad_result.message_id = "garbage-2";
  ASSERT_TRUE(session_->PublishAndWait(bad_result).ok());
  auto got = poison.WaitMatching(
      [](const amqp::Delivery& d) {
        return d.body == "\xff\xff not a protobuf";
      },
      2);
  ASSERT_EQ(got.size(), 2u);
  EXPECT_FALSE(got[0].StringHeader(domain::kHeaderPoisonReason).empty());

  ASSERT_TRUE(Register("order_paid", "afterpoison", "virtualShipping").ok());
  v1::EventMessage event = PublishEvent("order_paid", "{}");
  EXPECT_TRUE(WaitFor([&] {
    return store_
        ->GetTask(domain::TaskIdFor(event.event_id(), "afterpoison",
                                    "virtualShipping"))
        .ok();
  }));
}

TEST_F(SchedulerTest, WorkersRegisterAndHeartbeat) {
  v1::RegisterWorkerRequest request;
  request.mutable_worker()->add_topics("demo");
  v1::RegisterWorkerResponse registered;
  {
    grpc::ClientContext context;
    ASSERT_TRUE(stub_->RegisterWorker(&context, request, &registered).ok());
  }
  EXPECT_FALSE(registered.worker_id().empty());
  EXPECT_GT(registered.heartbeat_interval_ms(), 0);
  v1::HeartbeatRequest beat;
  beat.set_worker_id(registered.worker_id());
  v1::HeartbeatResponse beat_response;
  {
    grpc::ClientContext context;
    EXPECT_TRUE(stub_->Heartbeat(&context, beat, &beat_response).ok());
  }
  beat.set_worker_id("unknown");
  grpc::ClientContext context;
  EXPECT_EQ(stub_->Heartbeat(&context, beat, &beat_response).error_code(),
            grpc::StatusCode::NOT_FOUND);
}

// The service's handlers called directly, on a clock the test moves.
TEST_F(SchedulerTest, SilentWorkersAreLostThenForgottenAndLeavingOnesGo) {
  ManualClock clock(1'000'000'000'000);
  SchedulerService service(*store_, *registrations_, *session_, clock);
  auto register_worker = [&](const std::string& id) {
    v1::RegisterWorkerRequest request;
    request.mutable_worker()->set_id(id);
    request.mutable_worker()->set_concurrency(4);
    v1::RegisterWorkerResponse response;
    grpc::ServerContext context;
    EXPECT_TRUE(service.RegisterWorker(&context, &request, &response).ok());
  };
  auto heartbeat = [&](const std::string& id, int in_flight) {
    v1::HeartbeatRequest request;
    request.set_worker_id(id);
    request.set_in_flight(in_flight);
    v1::HeartbeatResponse response;
    grpc::ServerContext context;
    return service.Heartbeat(&context, &request, &response);
  };
  auto list = [&](bool include_lost) {
    v1::ListWorkersRequest request;
    request.set_include_lost(include_lost);
    v1::ListWorkersResponse response;
    grpc::ServerContext context;
    EXPECT_TRUE(service.ListWorkers(&context, &request, &response).ok());
    std::vector<std::string> listed;
    for (const auto& w : response.workers())
      listed.push_back(w.id() + (w.lost() ? ":lost" : ""));
    return listed;
  };
  register_worker("crashes");
  register_worker("beats");
  register_worker("leaves");
  ASSERT_TRUE(heartbeat("beats", 2).ok());
  {
    v1::ListWorkersRequest request;
    v1::ListWorkersResponse response;
    grpc::ServerContext context;
    ASSERT_TRUE(service.ListWorkers(&context, &request, &response).ok());
    ASSERT_EQ(response.workers_size(), 3);
    EXPECT_EQ(response.workers(0).id(), "beats");
    EXPECT_EQ(response.workers(0).in_flight(), 2);
    EXPECT_EQ(response.workers(0).concurrency(), 4);
  }
  {
    v1::UnregisterWorkerRequest request;
    request.set_worker_id("leaves");
    v1::UnregisterWorkerResponse response;
    grpc::ServerContext context;
    EXPECT_TRUE(service.UnregisterWorker(&context, &request, &response).ok());
  }
  // "crashes" stops heartbeating; three intervals of 5 s later it is lost.
  for (int i = 0; i < 3; ++i) {
    clock.AdvanceMs(5'000);
    ASSERT_TRUE(heartbeat("beats", 0).ok());
  }
  EXPECT_EQ(list(false), (std::vector<std::string>{"beats", "crashes"}));
  clock.AdvanceMs(1);
  ASSERT_TRUE(heartbeat("beats", 0).ok());
  EXPECT_EQ(list(false), (std::vector<std::string>{"beats"}));
  EXPECT_EQ(list(true), (std::vector<std::string>{"beats", "crashes:lost"}));
  // A day after its last heartbeat it is no longer listed, and the next
  // registration deletes it.
  clock.AdvanceMs(24 * 3600 * 1000);
  ASSERT_TRUE(heartbeat("beats", 0).ok());
  EXPECT_EQ(list(true), (std::vector<std::string>{"beats"}));
  register_worker("new");
  EXPECT_EQ(list(true), (std::vector<std::string>{"beats", "new"}));
  // A heartbeat from a forgotten worker asks it to register again.
  EXPECT_EQ(heartbeat("crashes", 0).error_code(), grpc::StatusCode::NOT_FOUND);
}

}  // namespace
}  // namespace ebats::scheduler
