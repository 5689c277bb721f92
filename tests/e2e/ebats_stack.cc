#include "tests/e2e/ebats_stack.h"

#include <signal.h>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "libs/rpc/health_client.h"

namespace ebats::testing {

namespace {

bool WaitHealth(const std::string& address, absl::Duration timeout,
                bool need_serving, const rpc::ClientTls& tls) {
  absl::Time deadline = absl::Now() + timeout;
  while (absl::Now() < deadline) {
    auto serving = rpc::CheckServing(address, absl::Seconds(1), tls);
    if (serving.ok() && (*serving || !need_serving)) return true;
    absl::SleepFor(absl::Milliseconds(50));
  }
  return false;
}

}  // namespace

bool WaitServing(const std::string& address, absl::Duration timeout,
                 const rpc::ClientTls& tls) {
  return WaitHealth(address, timeout, /*need_serving=*/true, tls);
}

bool WaitAnswering(const std::string& address, absl::Duration timeout,
                   const rpc::ClientTls& tls) {
  return WaitHealth(address, timeout, /*need_serving=*/false, tls);
}

EbatsStack::EbatsStack(std::string amqp_url, std::string queue_type)
    : amqp_url_(std::move(amqp_url)),
      queue_type_(std::move(queue_type)),
      dir_("ebats-stack-"),
      gateway_port_(FreePort()),
      scheduler_port_(FreePort()) {
  NewClient();
}

void EbatsStack::NewClient() {
  client::ClientOptions options;
  options.gateway_address = gateway_address();
  options.scheduler_address = scheduler_address();
  options.timeout = absl::Seconds(10);
  options.tls = client_tls_;
  options.token = token_;
  client_ = std::make_unique<client::Client>(options);
}

EbatsStack::~EbatsStack() = default;

std::string EbatsStack::gateway_address() const {
  return absl::StrCat("127.0.0.1:", gateway_port_);
}
std::string EbatsStack::scheduler_address() const {
  return absl::StrCat("127.0.0.1:", scheduler_port_);
}

absl::Status EbatsStack::StartService(const std::string& name,
                                      const std::string& binary,
                                      std::vector<std::string> flags,
                                      int grpc_port) {
  std::vector<std::string> argv = {
      binary, absl::StrCat("--listen=127.0.0.1:", grpc_port),
      "--metrics_addr=127.0.0.1:0", absl::StrCat("--amqp_url=", amqp_url_),
      absl::StrCat("--queue_type=", queue_type_)};
  argv.insert(argv.end(), common_flags_.begin(), common_flags_.end());
  argv.insert(argv.end(), flags.begin(), flags.end());
  auto child = ChildProcess::Start(
      argv, {}, absl::StrCat(dir_.path(), "/", name, ".log"));
  if (!child.ok()) return child.status();
  services_[name] = *std::move(child);
  const absl::Time deadline = absl::Now() + absl::Seconds(30);
  const std::string log = absl::StrCat(dir_.path(), "/", name, ".log");
  while (!WaitHealth(absl::StrCat("127.0.0.1:", grpc_port),
                     absl::Milliseconds(200), wait_serving_, client_tls_)) {
    // The log goes with the temp dir: its end goes into the error.
    if (!Running(name)) {
      return absl::AbortedError(
          absl::StrCat(name, " exited; ", log, " ends:\n", LogTail(log)));
    }
    if (absl::Now() >= deadline) {
      return absl::DeadlineExceededError(
          absl::StrCat(name, wait_serving_ ? " not SERVING" : " not answering",
                       " within 30 s; ", log, " ends:\n", LogTail(log)));
    }
  }
  return absl::OkStatus();
}

absl::Status EbatsStack::StartScheduler(
    const std::vector<std::string>& extra_flags) {
  std::vector<std::string> flags = {absl::StrCat("--data_dir=", dir_.path())};
  flags.insert(flags.end(), extra_flags.begin(), extra_flags.end());
  return StartService("scheduler", EBATS_SCHEDULER_BIN, flags, scheduler_port_);
}

absl::Status EbatsStack::StartGateway() {
  return StartService("gateway", EBATS_GATEWAY_BIN, {}, gateway_port_);
}

absl::StatusOr<std::string> EbatsStack::StartGatewayReplica() {
  const int port = FreePort();
  if (absl::Status s = StartService(absl::StrCat("gateway-", port),
                                    EBATS_GATEWAY_BIN, {}, port);
      !s.ok()) {
    return s;
  }
  return absl::StrCat("127.0.0.1:", port);
}

absl::Status EbatsStack::StartWorker(
    const std::vector<std::string>& extra_flags) {
  std::vector<std::string> flags = {
      absl::StrCat("--scheduler=", scheduler_address()), "--topics=demo"};
  flags.insert(flags.end(), extra_flags.begin(), extra_flags.end());
  int port = FreePort();
  last_worker_ = absl::StrCat("worker-", port);
  return StartService(last_worker_, EBATS_WORKER_BIN, flags, port);
}

absl::Status EbatsStack::Start() {
  if (absl::Status s = StartScheduler(); !s.ok()) return s;
  if (absl::Status s = StartGateway(); !s.ok()) return s;
  return StartWorker();
}

absl::Status EbatsStack::NotStopped(const std::string& name,
                                    const absl::StatusOr<int>& code) const {
  // The log's end says why (e.g. a service that exited early: port taken).
  const std::string log = absl::StrCat(dir_.path(), "/", name, ".log");
  return absl::InternalError(absl::StrCat(
      name, " did not exit 0 on SIGTERM: ",
      code.ok() ? absl::StrCat("exit ", *code) : code.status().ToString(), "; ",
      log, " ends:\n", LogTail(log)));
}

absl::Status EbatsStack::Stop(const std::string& name) {
  auto it = services_.find(name);
  if (it == services_.end())
    return absl::NotFoundError(absl::StrCat("no service ", name));
  it->second.Signal(SIGTERM);
  auto code = it->second.Wait(absl::Seconds(30));
  services_.erase(it);
  if (!code.ok() || *code != 0) return NotStopped(name, code);
  return absl::OkStatus();
}

bool EbatsStack::Running(const std::string& name) {
  auto it = services_.find(name);
  if (it == services_.end()) return false;
  if (it->second.Wait(absl::ZeroDuration()).ok()) {
    services_.erase(it);
    return false;
  }
  return true;
}

absl::Status EbatsStack::Kill(const std::string& name) {
  auto it = services_.find(name);
  if (it == services_.end())
    return absl::NotFoundError(absl::StrCat("no service ", name));
  it->second.Kill();
  services_.erase(it);
  return absl::OkStatus();
}

absl::Status EbatsStack::StopAll() {
  // An idle client connection is only polled every few seconds, which would
  // hold up the servers' graceful shutdown; drop it and start afresh.
  client_.reset();
  absl::Status result;
  for (auto& [name, child] : services_) child.Signal(SIGTERM);
  for (auto& [name, child] : services_) {
    auto code = child.Wait(absl::Seconds(30));
    if (!code.ok() || *code != 0) result.Update(NotStopped(name, code));
  }
  services_.clear();
  NewClient();
  return result;
}

}  // namespace ebats::testing
