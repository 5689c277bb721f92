// ebatsctl: the command-line client of ebats (gateway and scheduler APIs).
// Output is for people by default and JSON with --json; errors go to stderr
// with the gRPC code and message, and the exit code is non-zero.
#include <algorithm>
#include <iostream>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "CLI/CLI.hpp"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "google/protobuf/util/json_util.h"
#include "libs/client/client.h"
#include "libs/common/env.h"
#include "libs/common/openssl_init.h"
#include "libs/domain/broker_names.h"
#include "libs/domain/delay_ladder.h"
#include "libs/domain/registration.h"
#include "libs/domain/task_state.h"
#include "libs/rpc/health_client.h"

namespace ebats::ctl {
namespace {

struct Globals {
  std::string gateway = EnvOr("EBATS_GATEWAY_ADDR", "127.0.0.1:7401");
  std::string scheduler = EnvOr("EBATS_SCHEDULER_ADDR", "127.0.0.1:7402");
  std::string timeout = "10s";
  bool json = false;
  std::string tls_ca = EnvOr("EBATS_TLS_CA", "");
  std::string tls_cert = EnvOr("EBATS_TLS_CLIENT_CERT", "");
  std::string tls_key = EnvOr("EBATS_TLS_CLIENT_KEY", "");
  std::string token_file = EnvOr("EBATS_TOKEN_FILE", "");
};

// Exit codes: 0 ok, 1 the server said no, 2 bad usage.
constexpr int kServerError = 1;
constexpr int kUsageError = 2;

int Fail(const absl::Status& status) {
  std::cerr << "error: " << absl::StatusCodeToString(status.code()) << ": "
            << status.message() << "\n";
  // The client names the address; say which flags set it.
  if (status.code() == absl::StatusCode::kUnavailable &&
      (absl::StrContains(status.message(), "failed to connect") ||
       absl::StrContains(status.message(), "DNS resolution failed"))) {
    std::cerr << "hint: --gateway and --scheduler (or EBATS_GATEWAY_ADDR, "
                 "EBATS_SCHEDULER_ADDR) say where ebatsctl looks for them\n";
  }
  return kServerError;
}

int UsageError(const std::string& message) {
  std::cerr << "error: " << message << "\n";
  return kUsageError;
}

std::string Json(const google::protobuf::Message& message) {
  std::string out;
  google::protobuf::util::JsonPrintOptions options;
  options.preserve_proto_field_names = true;
  // Zeros and empty strings too: a script reading "ready_messages" should
  // not find it missing when it is 0.
  options.always_print_primitive_fields = true;
  (void)google::protobuf::util::MessageToJsonString(message, &out, options);
  return out;
}

std::string Time(int64_t unix_ms) {
  if (unix_ms <= 0) return "-";
  return absl::FormatTime("%Y-%m-%dT%H:%M:%E3SZ", absl::FromUnixMillis(unix_ms),
                          absl::UTCTimeZone());
}

std::string Ms(int64_t ms) {
  return absl::FormatDuration(absl::Milliseconds(ms));
}

// Durations as absl parses them ("1h30m", "500ms"), plus a leading whole
// number of days ("2d", "1d12h"): delays of days are common for a queue.
absl::StatusOr<absl::Duration> ParseDurationFlag(const std::string& name,
                                                 const std::string& text) {
  auto bad = [&](absl::string_view why) {
    return absl::InvalidArgumentError(
        absl::StrCat("--", name, " \"", text, "\" ", why));
  };
  absl::string_view rest = text;
  absl::Duration days;
  if (size_t d = rest.find('d'); d != absl::string_view::npos) {
    int64_t n = 0;
    if (!absl::SimpleAtoi(rest.substr(0, d), &n) || n < 0)
      return bad("is not a duration like 500ms, 10s, 5m, 2h, 1d");
    days = absl::Hours(24) * n;
    rest.remove_prefix(d + 1);
    if (rest.empty()) return days;
  }
  absl::Duration d;
  if (!absl::ParseDuration(rest, &d))
    return bad("is not a duration like 500ms, 10s, 5m, 2h, 1d");
  if (d < absl::ZeroDuration()) return bad("is negative");
  return days + d;
}

// "397d16h22m18.367s": Ms() with the days counted, as --delay takes them.
std::string Days(int64_t ms) {
  absl::Duration rest;
  const int64_t days =
      absl::IDivDuration(absl::Milliseconds(ms), absl::Hours(24), &rest);
  if (days == 0) return Ms(ms);
  return absl::StrCat(days, "d", absl::FormatDuration(rest));
}

// A delay or retry wait: a duration no longer than the delay path reaches,
// refused here rather than by the server in milliseconds.
absl::StatusOr<absl::Duration> ParseDelayFlag(const std::string& name,
                                              const std::string& text) {
  auto delay = ParseDurationFlag(name, text);
  if (delay.ok() && *delay > absl::Milliseconds(domain::kMaxDelayMs)) {
    return absl::InvalidArgumentError(
        absl::StrCat("--", name, " \"", text, "\" is longer than the longest ",
                     "delay, ", Days(domain::kMaxDelayMs)));
  }
  return delay;
}

// The retry policy flags that `register` and `create-task` share.
struct RetryFlags {
  std::string intervals;
  std::string backoff;
  std::string backoff_max;
  double backoff_factor = 0;
  double jitter = 0;
  int max_attempts = 0;
  std::string task_timeout = "0s";
};

void AddRetryOptions(CLI::App* command, RetryFlags& flags) {
  command->add_option("--retry-intervals", flags.intervals,
                      "comma-separated waits between attempts, e.g. "
                      "5s,5m,10m (the last repeats; default 5s,5m,10m,1h,2h)");
  command->add_option("--retry-backoff", flags.backoff,
                      "exponential waits instead: the first one, e.g. 1s "
                      "(doubling each attempt)");
  command->add_option("--retry-backoff-max", flags.backoff_max,
                      "cap of one exponential wait, e.g. 1h");
  command->add_option("--retry-backoff-factor", flags.backoff_factor,
                      "growth of the exponential wait per attempt (default 2)");
  command->add_option("--retry-jitter", flags.jitter,
                      "random spread of each exponential wait, 0..1 (0.2 = "
                      "+/-20%)");
  command->add_option("--max-attempts", flags.max_attempts,
                      "runs in total; 0 = intervals + 1 (6 with the default "
                      "intervals or --retry-backoff)");
  command->add_option("--task-timeout", flags.task_timeout,
                      "longest run, e.g. 30s; 0 = the worker's --task_timeout");
}

absl::StatusOr<v1::RetryPolicy> RetryPolicyFromFlags(const RetryFlags& flags) {
  v1::RetryPolicy policy;
  for (absl::string_view part :
       absl::StrSplit(flags.intervals, ',', absl::SkipWhitespace())) {
    auto interval = ParseDelayFlag("retry-intervals", std::string(part));
    if (!interval.ok()) return interval.status();
    policy.add_intervals_ms(absl::ToInt64Milliseconds(*interval));
  }
  if (flags.backoff.empty()) {
    if (!flags.backoff_max.empty() || flags.backoff_factor != 0 ||
        flags.jitter != 0) {
      return absl::InvalidArgumentError(
          "--retry-backoff-max, --retry-backoff-factor and --retry-jitter "
          "shape --retry-backoff: give it too");
    }
  } else {
    if (policy.intervals_ms_size() > 0) {
      return absl::InvalidArgumentError(
          "give --retry-intervals or --retry-backoff, not both");
    }
    auto initial = ParseDelayFlag("retry-backoff", flags.backoff);
    if (!initial.ok()) return initial.status();
    if (*initial < absl::Milliseconds(1))
      return absl::InvalidArgumentError("--retry-backoff must be 1ms or more");
    v1::ExponentialBackoff* exponential = policy.mutable_exponential();
    exponential->set_initial_ms(absl::ToInt64Milliseconds(*initial));
    if (!flags.backoff_max.empty()) {
      auto max = ParseDelayFlag("retry-backoff-max", flags.backoff_max);
      if (!max.ok()) return max.status();
      exponential->set_max_ms(absl::ToInt64Milliseconds(*max));
    }
    exponential->set_multiplier(flags.backoff_factor);
    exponential->set_jitter(flags.jitter);
  }
  auto timeout = ParseDurationFlag("task-timeout", flags.task_timeout);
  if (!timeout.ok()) return timeout.status();
  policy.set_max_attempts(flags.max_attempts);
  policy.set_timeout_ms(absl::ToInt64Milliseconds(*timeout));
  return policy;
}

// "5s,5m", "backoff 1s x2 max 1h +/-20%" or "5s,5m,10m,1h,2h (default)",
// then the attempts and the timeout when set.
std::string DescribeRetry(const v1::RetryPolicy& policy) {
  std::string out;
  if (policy.has_exponential()) {
    const v1::ExponentialBackoff& e = policy.exponential();
    absl::StrAppend(&out, "backoff ", Ms(e.initial_ms()), " x",
                    e.multiplier() > 0 ? e.multiplier() : 2.0);
    if (e.max_ms() > 0) absl::StrAppend(&out, " max ", Ms(e.max_ms()));
    if (e.jitter() > 0) absl::StrAppend(&out, " +/-", e.jitter() * 100, "%");
  } else if (policy.intervals_ms_size() > 0) {
    std::vector<std::string> parts;
    for (int64_t ms : policy.intervals_ms()) parts.push_back(Ms(ms));
    out = absl::StrJoin(parts, ",");
  } else {
    out = "5s,5m,10m,1h,2h (default)";
  }
  if (policy.max_attempts() > 0)
    absl::StrAppend(&out, "  max-attempts=", policy.max_attempts());
  if (policy.timeout_ms() > 0)
    absl::StrAppend(&out, "  timeout=", Ms(policy.timeout_ms()));
  return out;
}

void PrintTask(const v1::Task& t) {
  std::cout << "task       " << t.id() << "\n"
            << "state      " << domain::TaskStateName(t.state())
            << (t.dead_reason().empty() ? "" : " (" + t.dead_reason() + ")")
            << "\n"
            << "topic      " << t.topic() << "\n"
            << "task name  " << t.task() << "\n"
            << "event      "
            << (t.event().empty() ? "-" : t.event() + " " + t.event_id())
            << "\n"
            << "params     " << t.params() << "\n"
            << "attempts   " << t.attempts() << " of " << t.max_attempts()
            << (t.runs() > t.attempts()
                    ? absl::StrCat(" (", t.runs(), " runs: some ran again)")
                    : "")
            << "\n"
            << "retry      " << DescribeRetry(t.retry()) << "\n"
            << "published  " << Time(t.publish_time_ms()) << "\n"
            << "due        " << Time(t.due_time_ms()) << "\n"
            << "started    " << Time(t.start_time_ms())
            << (t.start_time_ms() > 0
                    ? " (lateness " + Ms(t.lateness_ms()) + ")"
                    : "")
            << "\n"
            << "finished   " << Time(t.finish_time_ms()) << "\n"
            << "time used  "
            << (t.time_used_us() > 0
                    ? absl::FormatDuration(absl::Microseconds(t.time_used_us()))
                    : "-")
            << "\n"
            << "worker     " << (t.worker_id().empty() ? "-" : t.worker_id())
            << "\n"
            << "message    " << t.message() << "\n";
}

void PrintTaskLine(const v1::Task& t) {
  std::cout << t.id() << "  " << domain::TaskStateName(t.state()) << "  "
            << t.topic() << "/" << t.task() << "  attempts=" << t.attempts()
            << "  due=" << Time(t.due_time_ms());
  if (t.time_used_us() > 0) {
    std::cout << "  used="
              << absl::FormatDuration(absl::Microseconds(t.time_used_us()));
  }
  if (!t.message().empty()) std::cout << "  \"" << t.message() << "\"";
  std::cout << "\n";
}

// Says on stderr when no live worker (of those that register with the
// scheduler) would run `task` of `topic`: a misspelt task name would
// otherwise show only as retries, hours later as dead tasks.
void NoteWorkersWithout(client::Client& client, const std::string& topic,
                        const std::string& task) {
  auto workers = client.ListWorkers();
  if (!workers.ok()) return;
  bool consumed = false;
  for (const v1::Worker& w : workers->workers()) {
    if (std::find(w.topics().begin(), w.topics().end(), topic) ==
        w.topics().end()) {
      continue;
    }
    consumed = true;
    if (std::find(w.tasks().begin(), w.tasks().end(), task) != w.tasks().end())
      return;
  }
  if (consumed) {
    std::cerr << "warning: no live worker of topic " << topic
              << " has a handler for " << task
              << "; its tasks are retried until one has (ebatsctl workers)\n";
  } else {
    std::cerr << "note: no live worker consumes topic " << topic
              << " yet; its tasks wait in its queue until one does\n";
  }
}

// `queues` for people: one row per queue, the ladder's levels summed in one
// row, and a note for each topic whose tasks wait with no consumer.
void PrintQueueTable(const v1::ListQueuesResponse& response) {
  // The ladder's levels as one row, where the first of them comes: their
  // sum is what a user asks, how many delayed tasks wait (--json has each).
  std::set<std::string> levels;
  for (int level = 0; level < domain::kLadderLevels; ++level)
    levels.insert(domain::LadderLevelQueue(level));
  const std::string ladder = absl::StrCat(domain::LadderLevelQueue(0), "..l",
                                          domain::kLadderLevels - 1);
  struct Row {
    std::string queue;
    int64_t ready = 0;
    int64_t consumers = 0;
  };
  std::vector<Row> rows;
  std::optional<size_t> ladder_row;
  std::vector<std::string> unattended;
  for (const auto& q : response.queues()) {
    if (levels.count(q.queue()) > 0) {
      if (!ladder_row) {
        ladder_row = rows.size();
        rows.push_back({ladder});
      }
      rows[*ladder_row].ready += q.ready_messages();
      rows[*ladder_row].consumers += q.consumers();
      continue;
    }
    rows.push_back({q.queue(), q.ready_messages(), q.consumers()});
    if (q.queue() == domain::TaskQueueName(q.topic()) &&
        q.ready_messages() > 0 && q.consumers() == 0) {
      unattended.push_back(q.topic());
    }
  }
  size_t width = 5;
  for (const Row& row : rows) width = std::max(width, row.queue.size());
  std::cout << absl::StrFormat("%-*s  %9s  %9s\n", width, "queue", "ready",
                               "consumers");
  for (const Row& row : rows) {
    std::cout << absl::StrFormat("%-*s  %9d  %9d\n", width, row.queue,
                                 row.ready, row.consumers);
  }
  for (const auto& lonely : unattended) {
    std::cerr << "note: no worker consumes topic " << lonely
              << "; its tasks wait until one does\n";
  }
}

// Follows the tasks of `event_id` until the registrations' tasks are all
// final or `timeout` passes. Returns the exit code.
int WaitForEvent(client::Client& client, const Globals& g,
                 const std::string& event, const std::string& event_id,
                 absl::Duration timeout) {
  v1::ListRegistrationsRequest regs_request;
  regs_request.set_event(event);
  auto regs = client.ListRegistrations(regs_request);
  if (!regs.ok()) return Fail(regs.status());
  const int expected = regs->registrations_size();
  if (expected == 0) {
    if (!g.json)
      std::cout << "no registration matches " << event
                << "; nothing to wait for\n";
    return 0;
  }
  absl::Time deadline = absl::Now() + timeout;
  std::map<std::string, v1::TaskState> shown;
  for (;;) {
    v1::ListTasksRequest request;
    request.set_event_id(event_id);
    request.set_page_size(1000);
    auto tasks = client.ListTasks(request);
    if (!tasks.ok()) return Fail(tasks.status());
    int finished = 0;
    for (const auto& t : tasks->tasks()) {
      if (!domain::IsFinal(t.state())) continue;
      ++finished;
      if (shown.count(t.id()) == 0) {
        shown[t.id()] = t.state();
        if (g.json) {
          std::cout << Json(t) << "\n";
        } else {
          PrintTaskLine(t);
        }
      }
    }
    if (finished >= expected) {
      bool all_ok = true;
      for (const auto& [id, state] : shown)
        all_ok = all_ok && state == v1::TASK_STATE_SUCCEEDED;
      return all_ok ? 0 : kServerError;
    }
    if (absl::Now() >= deadline) {
      std::cerr << "error: DEADLINE_EXCEEDED: " << finished << " of "
                << expected << " task(s) finished within "
                << absl::FormatDuration(timeout) << "\n";
      return kServerError;
    }
    absl::SleepFor(absl::Milliseconds(100));
  }
}

}  // namespace

int Main(int argc, char** argv) {
  InitOpenSslWithoutExitCleanup();
  CLI::App app{
      "ebatsctl: publish events, register tasks, inspect tasks and workers of "
      "ebats"};
  app.require_subcommand(1);
  // Global options after the subcommand too (`ebatsctl tasks --json`), as
  // users type them; subcommands added below inherit this.
  app.fallthrough();
  Globals g;
  app.add_option("--gateway", g.gateway,
                 "gateway address [EBATS_GATEWAY_ADDR]");
  app.add_option("--scheduler", g.scheduler,
                 "scheduler address [EBATS_SCHEDULER_ADDR]");
  app.add_option("--timeout", g.timeout, "deadline of each call, e.g. 10s");
  app.add_option("--tls-ca", g.tls_ca,
                 "PEM CA of the services' certificates: use TLS "
                 "[EBATS_TLS_CA]");
  app.add_option("--tls-cert", g.tls_cert,
                 "PEM client certificate, when the services require one "
                 "[EBATS_TLS_CLIENT_CERT]");
  app.add_option("--tls-key", g.tls_key,
                 "PEM key of --tls-cert [EBATS_TLS_CLIENT_KEY]");
  app.add_option("--token-file", g.token_file,
                 "file holding the bearer token; EBATS_TOKEN gives it "
                 "directly [EBATS_TOKEN_FILE]");
  app.add_flag("--json", g.json, "print JSON, one object per line");

  std::string event, task, topic, delay = "0s", params, key, id, state,
                                  page_token;
  std::string wait_timeout = "60s";
  RetryFlags retry_flags;
  int limit = 50;
  bool wait = false;

  auto* reg =
      app.add_subcommand("register", "register TASK under EVENT on a topic");
  reg->add_option("EVENT", event)->required();
  reg->add_option("TASK", task)->required();
  reg->add_option("--topic", topic, "topic whose workers run it")->required();
  reg->add_option("--delay", delay, "delay after the event, e.g. 10s");
  AddRetryOptions(reg, retry_flags);

  auto* unreg = app.add_subcommand("unregister", "remove a registration");
  unreg->add_option("EVENT", event)->required();
  unreg->add_option("TASK", task)->required();
  unreg->add_option("--topic", topic)->required();

  auto* regs = app.add_subcommand("registrations", "list registrations");
  regs->add_option("--event", event, "only under this event");

  auto* pub = app.add_subcommand("publish", "publish an event");
  pub->add_option("EVENT", event)->required();
  pub->add_option("--params", params,
                  "JSON object, e.g. '{\"order_id\": \"42\"}'");
  pub->add_option("--key", key,
                  "idempotency key: the same key gives the same event id");
  pub->add_flag("--wait", wait, "follow the event's tasks until they finish");
  pub->add_option("--wait-timeout", wait_timeout, "how long --wait waits");

  auto* create =
      app.add_subcommand("create-task", "create one task without an event");
  create->add_option("TOPIC", topic)->required();
  create->add_option("TASK", task)->required();
  create->add_option("--params", params, "JSON object");
  create->add_option("--delay", delay, "run after this long, e.g. 10s");
  std::string at;
  create->add_option("--at", at,
                     "run at this time, RFC 3339, e.g. 2026-12-01T09:00:00Z");
  AddRetryOptions(create, retry_flags);

  auto* cancel =
      app.add_subcommand("cancel", "cancel a scheduled or retrying task");
  cancel->add_option("ID", id)->required();

  auto* replay =
      app.add_subcommand("replay", "run dead tasks again (attempts reset)");
  replay->add_option("ID", id, "one dead task");
  replay->add_option("--topic", topic, "every dead task of this topic");

  auto* get = app.add_subcommand("task", "show one task");
  get->add_option("ID", id)->required();

  auto* list = app.add_subcommand("tasks", "list tasks, newest first");
  list->add_option("--event", id, "event id");
  list->add_option("--topic", topic);
  list->add_option(
      "--state", state,
      "scheduled, pending, running, retrying, succeeded, dead, canceled");
  list->add_option("--limit", limit, "at most this many (1-1000)");
  list->add_option("--page-token", page_token, "continue a previous listing");

  auto* workers = app.add_subcommand(
      "workers", "list live workers (heartbeat within the last 15 s)");
  bool all_workers = false;
  workers->add_flag("--all", all_workers,
                    "also workers that stopped heartbeating (marked LOST)");
  auto* queues = app.add_subcommand(
      "queues",
      "messages waiting in each queue and its consumers, from the broker");
  queues->add_option("--topic", topic,
                     "only this topic's task and dead queues");
  auto* health = app.add_subcommand(
      "health", "check that the gateway and scheduler are SERVING");

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : kUsageError;
  }

  auto call_timeout = ParseDurationFlag("timeout", g.timeout);
  if (!call_timeout.ok())
    return UsageError(std::string(call_timeout.status().message()));
  client::ClientOptions options;
  options.gateway_address = g.gateway;
  options.scheduler_address = g.scheduler;
  options.timeout = *call_timeout;
  options.tls = {g.tls_ca, g.tls_cert, g.tls_key};
  auto token = rpc::LoadToken(g.token_file, EnvOr("EBATS_TOKEN", ""));
  if (!token.ok()) return UsageError(std::string(token.status().message()));
  options.token = *token;
  client::Client client(options);

  if (reg->parsed()) {
    auto delay_d = ParseDelayFlag("delay", delay);
    if (!delay_d.ok())
      return UsageError(std::string(delay_d.status().message()));
    v1::RegisterTaskRequest request;
    v1::Registration* r = request.mutable_registration();
    r->set_event(event);
    r->set_topic(topic);
    r->set_task(task);
    r->set_delay_ms(absl::ToInt64Milliseconds(*delay_d));
    auto retry = RetryPolicyFromFlags(retry_flags);
    if (!retry.ok()) return UsageError(std::string(retry.status().message()));
    *r->mutable_retry() = *retry;
    auto response = client.RegisterTask(request);
    if (!response.ok()) return Fail(response.status());
    if (g.json) {
      std::cout << Json(*response) << "\n";
    } else {
      std::cout << (response->created() ? "registered " : "already registered ")
                << event << " -> " << task << " on topic " << topic
                << (r->delay_ms() > 0 ? " after " + Ms(r->delay_ms()) : "")
                << "\n";
      NoteWorkersWithout(client, topic, task);
    }
    return 0;
  }
  if (unreg->parsed()) {
    v1::UnregisterTaskRequest request;
    request.set_event(event);
    request.set_topic(topic);
    request.set_task(task);
    if (absl::Status s = client.UnregisterTask(request); !s.ok())
      return Fail(s);
    if (!g.json)
      std::cout << "unregistered " << event << " -> " << task << " on " << topic
                << "\n";
    return 0;
  }
  if (regs->parsed()) {
    v1::ListRegistrationsRequest request;
    request.set_event(event);
    auto response = client.ListRegistrations(request);
    if (!response.ok()) return Fail(response.status());
    for (const auto& r : response->registrations()) {
      if (g.json) {
        std::cout << Json(r) << "\n";
        continue;
      }
      std::cout << r.event() << " -> " << r.task() << "  topic=" << r.topic();
      if (r.delay_ms() > 0) std::cout << "  delay=" << Ms(r.delay_ms());
      std::cout << "  retry=" << DescribeRetry(r.retry()) << "\n";
    }
    return 0;
  }
  if (pub->parsed()) {
    auto wait_d = ParseDurationFlag("wait-timeout", wait_timeout);
    if (!wait_d.ok()) return UsageError(std::string(wait_d.status().message()));
    v1::PublishEventRequest request;
    request.set_event(event);
    request.set_params(params);
    request.set_idempotency_key(key);
    auto response = client.PublishEvent(request);
    if (!response.ok()) return Fail(response.status());
    if (g.json) {
      std::cout << Json(*response) << "\n";
    } else {
      std::cout << "published " << event << " as event " << response->event_id()
                << "\n";
    }
    return wait ? WaitForEvent(client, g, event, response->event_id(), *wait_d)
                : 0;
  }
  if (create->parsed()) {
    auto delay_d = ParseDelayFlag("delay", delay);
    if (!delay_d.ok())
      return UsageError(std::string(delay_d.status().message()));
    auto retry = RetryPolicyFromFlags(retry_flags);
    if (!retry.ok()) return UsageError(std::string(retry.status().message()));
    v1::CreateTaskRequest request;
    request.set_topic(topic);
    request.set_task(task);
    request.set_params(params);
    request.set_delay_ms(absl::ToInt64Milliseconds(*delay_d));
    *request.mutable_retry() = *retry;
    if (!at.empty()) {
      absl::Time when;
      std::string error;
      if (!absl::ParseTime(absl::RFC3339_full, at, &when, &error)) {
        return UsageError("--at \"" + at +
                          "\" is not an RFC 3339 time: " + error);
      }
      if (request.delay_ms() > 0)
        return UsageError("give --delay or --at, not both");
      if (when - absl::Now() > absl::Milliseconds(domain::kMaxDelayMs)) {
        return UsageError(absl::StrCat("--at \"", at,
                                       "\" is further ahead than the longest "
                                       "delay, ",
                                       Days(domain::kMaxDelayMs)));
      }
      request.set_due_time_ms(absl::ToUnixMillis(when));
    }
    auto response = client.CreateTask(request);
    if (!response.ok()) return Fail(response.status());
    if (g.json) {
      std::cout << Json(*response) << "\n";
    } else {
      std::cout << "created task " << response->task_id() << "\n";
    }
    NoteWorkersWithout(client, topic, task);
    return 0;
  }
  if (cancel->parsed()) {
    v1::CancelTaskRequest request;
    request.set_task_id(id);
    auto response = client.CancelTask(request);
    if (!response.ok()) return Fail(response.status());
    if (g.json) {
      std::cout << Json(response->task()) << "\n";
    } else {
      std::cout << "canceled task " << id << "\n";
    }
    return 0;
  }
  if (replay->parsed()) {
    if (id.empty() == topic.empty())
      return UsageError("replay takes a task ID or --topic");
    v1::ReplayTasksRequest request;
    request.set_task_id(id);
    request.set_topic(topic);
    auto response = client.ReplayTasks(request);
    if (!response.ok()) {
      const int failed = Fail(response.status());
      if (response.status().code() == absl::StatusCode::kDeadlineExceeded &&
          !topic.empty()) {
        std::cerr << "the tasks replayed before the deadline run again; run "
                     "the same command to replay the rest, or give it a "
                     "longer --timeout\n";
      }
      return failed;
    }
    if (g.json) {
      std::cout << Json(*response) << "\n";
    } else {
      std::cout << "replayed " << response->replayed() << " task(s)";
      if (response->task_ids_size() < response->replayed())
        std::cout << ", the first " << response->task_ids_size() << ":";
      std::cout << "\n";
      for (const auto& replayed : response->task_ids())
        std::cout << "  " << replayed << "\n";
    }
    return 0;
  }
  if (get->parsed()) {
    auto t = client.GetTask(id);
    if (!t.ok()) return Fail(t.status());
    if (g.json) {
      std::cout << Json(*t) << "\n";
    } else {
      PrintTask(*t);
    }
    return 0;
  }
  if (list->parsed()) {
    v1::ListTasksRequest request;
    request.set_event_id(id);
    request.set_topic(topic);
    if (!state.empty()) {
      auto parsed = domain::ParseTaskState(state);
      if (!parsed.ok())
        return UsageError(std::string(parsed.status().message()));
      request.set_state(*parsed);
    }
    request.set_page_size(limit);
    request.set_page_token(page_token);
    auto response = client.ListTasks(request);
    if (!response.ok()) return Fail(response.status());
    for (const auto& t : response->tasks()) {
      if (g.json) {
        std::cout << Json(t) << "\n";
      } else {
        PrintTaskLine(t);
      }
    }
    if (!g.json && !response->next_page_token().empty()) {
      std::cout << "(more: --page-token " << response->next_page_token()
                << ")\n";
    }
    return 0;
  }
  if (health->parsed()) {
    bool all_serving = true;
    for (const auto& [name, address] :
         {std::pair<std::string, std::string>{"gateway", g.gateway},
          {"scheduler", g.scheduler}}) {
      auto serving = rpc::CheckServing(address, *call_timeout, options.tls);
      const bool ok = serving.ok() && *serving;
      all_serving = all_serving && ok;
      std::string state = !serving.ok() ? serving.status().ToString()
                          : *serving    ? "SERVING"
                                        : "NOT_SERVING";
      if (g.json) {
        std::cout << "{\"service\":\"" << name << "\",\"address\":\"" << address
                  << "\",\"serving\":" << (ok ? "true" : "false") << "}\n";
      } else {
        std::cout << name << "  " << address << "  " << state << "\n";
      }
    }
    return all_serving ? 0 : kServerError;
  }
  if (queues->parsed()) {
    auto response = client.ListQueues(topic);
    if (!response.ok()) return Fail(response.status());
    if (g.json) {
      for (const auto& q : response->queues()) std::cout << Json(q) << "\n";
      return 0;
    }
    PrintQueueTable(*response);
    return 0;
  }
  if (workers->parsed()) {
    auto response = client.ListWorkers(all_workers);
    if (!response.ok()) return Fail(response.status());
    const int64_t now = absl::ToUnixMillis(absl::Now());
    for (const auto& w : response->workers()) {
      if (g.json) {
        std::cout << Json(w) << "\n";
        continue;
      }
      std::cout << w.id() << "  host=" << w.host() << " pid=" << w.pid()
                << "  topics=" << absl::StrJoin(w.topics(), ",")
                << "  busy=" << w.in_flight() << "/" << w.concurrency()
                << "  last heartbeat " << Ms(now - w.last_heartbeat_ms())
                << " ago" << (w.lost() ? "  LOST" : "") << "\n";
    }
    return 0;
  }
  return kUsageError;
}

}  // namespace ebats::ctl

int main(int argc, char** argv) { return ebats::ctl::Main(argc, argv); }
