#include "tests/harness/rabbitmq_node.h"

#include <signal.h>
#include <sys/stat.h>

#include <fstream>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "tests/harness/wait.h"

namespace ebats::testing {
namespace {

constexpr char kRabbitBin[] = "/usr/lib/rabbitmq/bin";

}  // namespace

RabbitMqNode::RabbitMqNode() : RabbitMqNode(ClusterSettings{}) {}

RabbitMqNode::RabbitMqNode(const ClusterSettings& cluster) {
  amqp_port_ = FreePort();
  dist_port_ = FreePort();
  epmd_port_ = cluster.epmd_port > 0 ? cluster.epmd_port : FreePort();
  if (!cluster.cookie.empty()) {
    const std::string cookie_file = dir_.path() + "/.erlang.cookie";
    std::ofstream(cookie_file) << cluster.cookie;
    chmod(cookie_file.c_str(), 0400);
  }
  node_name_ = absl::StrCat("ebats-test-", amqp_port_, "@localhost");
  std::ofstream(dir_.path() + "/rabbitmq.conf")
      << "listeners.tcp.1 = 127.0.0.1:" << amqp_port_ << "\n"
      << "loopback_users.guest = true\n"
      << "log.console = false\n"
      << "log.file.level = warning\n";
  std::ofstream(dir_.path() + "/enabled_plugins") << "[].\n";
}

RabbitMqNode::~RabbitMqNode() {
  if (server_.running()) {
    Stop().IgnoreError();
    server_.Kill();
  }
  RunCommand({"epmd", "-port", absl::StrCat(epmd_port_), "-kill"}, Env(),
             dir_.path() + "/epmd.log", absl::Seconds(5))
      .IgnoreError();
}

std::map<std::string, std::string> RabbitMqNode::Env() const {
  return {
      {"HOME", dir_.path()},
      {"RABBITMQ_NODENAME", node_name_},
      {"RABBITMQ_NODE_IP_ADDRESS", "127.0.0.1"},
      {"RABBITMQ_NODE_PORT", absl::StrCat(amqp_port_)},
      {"RABBITMQ_DIST_PORT", absl::StrCat(dist_port_)},
      {"ERL_EPMD_ADDRESS", "127.0.0.1"},
      {"ERL_EPMD_PORT", absl::StrCat(epmd_port_)},
      {"RABBITMQ_MNESIA_BASE", dir_.path() + "/mnesia"},
      {"RABBITMQ_LOG_BASE", dir_.path() + "/log"},
      {"RABBITMQ_CONFIG_FILE", dir_.path() + "/rabbitmq.conf"},
      {"RABBITMQ_ENABLED_PLUGINS_FILE", dir_.path() + "/enabled_plugins"},
      {"RABBITMQ_PID_FILE", dir_.path() + "/rabbitmq.pid"},
      {"ERL_CRASH_DUMP", dir_.path() + "/erl_crash.dump"},
      {"RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS",
       "-kernel inet_dist_use_interface {127,0,0,1}"},
  };
}

std::string RabbitMqNode::url() const {
  return absl::StrCat("amqp://guest:guest@127.0.0.1:", amqp_port_, "/");
}

void RabbitMqNode::EnableTls(const std::string& ca_file,
                             const std::string& cert_file,
                             const std::string& key_file) {
  tls_port_ = FreePort();
  std::ofstream(dir_.path() + "/rabbitmq.conf", std::ios::app)
      << "listeners.ssl.1 = 127.0.0.1:" << tls_port_ << "\n"
      << "ssl_options.cacertfile = " << ca_file << "\n"
      << "ssl_options.certfile = " << cert_file << "\n"
      << "ssl_options.keyfile = " << key_file << "\n"
      << "ssl_options.verify = verify_peer\n"
      << "ssl_options.fail_if_no_peer_cert = false\n";
}

std::string RabbitMqNode::tls_url() const {
  return absl::StrCat("amqps://guest:guest@localhost:", tls_port_, "/");
}

absl::Status RabbitMqNode::Start() {
  // Our own epmd in the foreground, a child like the node: the one the node
  // would start is a daemon that outlives a test killed before its
  // destructor runs. (A node of a cluster finds the first node's running.)
  if (!PortOpen(epmd_port_)) {
    auto epmd = ChildProcess::Start({"epmd", "-port", absl::StrCat(epmd_port_)},
                                    Env(), dir_.path() + "/epmd.log");
    if (!epmd.ok()) return epmd.status();
    epmd_ = *std::move(epmd);
    WaitFor([&] { return PortOpen(epmd_port_); }, absl::Seconds(2));
  }
  // With RABBITMQ_ALLOW_INPUT the script execs the VM instead of waiting
  // for it in a shell of its own, so the VM is our child and dies with us
  // even on SIGKILL (PR_SET_PDEATHSIG); -noinput keeps its shell off stdin.
  std::map<std::string, std::string> env = Env();
  env["RABBITMQ_ALLOW_INPUT"] = "1";
  env["RABBITMQ_SERVER_START_ARGS"] = "-noinput";
  auto server =
      ChildProcess::Start({absl::StrCat(kRabbitBin, "/rabbitmq-server")}, env,
                          dir_.path() + "/server.log");
  if (!server.ok()) return server.status();
  server_ = *std::move(server);
  absl::Time deadline = absl::Now() + absl::Seconds(60);
  while (absl::Now() < deadline) {
    if (PortOpen(amqp_port_) && (tls_port_ == 0 || PortOpen(tls_port_)))
      return absl::OkStatus();
    if (auto exited = server_.Wait(absl::ZeroDuration()); exited.ok()) {
      return absl::InternalError(absl::StrCat(
          "rabbitmq-server exited with ", *exited, "; ", dir_.path(),
          "/server.log ends:\n", LogTail(dir_.path() + "/server.log")));
    }
    absl::SleepFor(absl::Milliseconds(100));
  }
  return absl::DeadlineExceededError(absl::StrCat(
      "rabbitmq-server did not open port ", amqp_port_, " within 60 s"));
}

absl::Status RabbitMqNode::Stop() {
  if (!server_.running()) return absl::OkStatus();
  auto code = RunCommand(
      {absl::StrCat(kRabbitBin, "/rabbitmqctl"), "-n", node_name_, "stop"},
      Env(), dir_.path() + "/ctl.log", absl::Seconds(60));
  auto exited = server_.Wait(absl::Seconds(30));
  if (!exited.ok()) server_.Kill();
  if (!code.ok() || *code != 0) {
    return absl::InternalError(
        absl::StrCat("rabbitmqctl stop failed; ctl.log ends:\n",
                     LogTail(dir_.path() + "/ctl.log")));
  }
  return absl::OkStatus();
}

void RabbitMqNode::Kill() { server_.Kill(); }

void RabbitMqNode::Freeze() { server_.Signal(SIGSTOP); }

void RabbitMqNode::Thaw() { server_.Signal(SIGCONT); }

absl::Status RabbitMqNode::JoinCluster(const RabbitMqNode& other) {
  for (const std::vector<std::string>& args :
       {std::vector<std::string>{"stop_app"},
        std::vector<std::string>{"join_cluster", other.node_name_},
        std::vector<std::string>{"start_app"}}) {
    if (absl::Status s = Ctl(args); !s.ok()) return s;
  }
  return absl::OkStatus();
}

absl::Status RabbitMqNode::Ctl(const std::vector<std::string>& args,
                               absl::Duration timeout) {
  std::vector<std::string> argv = {absl::StrCat(kRabbitBin, "/rabbitmqctl"),
                                   "-n", node_name_};
  argv.insert(argv.end(), args.begin(), args.end());
  auto code = RunCommand(argv, Env(), dir_.path() + "/ctl.log", timeout);
  if (!code.ok() || *code != 0) {
    return absl::InternalError(absl::StrCat("rabbitmqctl ", args.front(),
                                            " failed; ctl.log ends:\n",
                                            LogTail(dir_.path() + "/ctl.log")));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> RabbitMqNode::AddVhost(const std::string& vhost) {
  // Both commands may be repeated. Once, under the sanitizer run with other
  // nodes booting, add_vhost hung for its whole 60 s (nothing in ctl.log):
  // a test should not fail on that, so a stuck call is tried again.
  absl::Status s;
  for (int attempt = 0; attempt < 3; ++attempt) {
    s = Ctl({"add_vhost", vhost}, absl::Seconds(30));
    if (s.ok()) {
      s = Ctl({"set_permissions", "-p", vhost, "guest", ".*", ".*", ".*"},
              absl::Seconds(30));
    }
    if (s.ok()) return absl::StrCat(url(), vhost);
  }
  return s;
}

}  // namespace ebats::testing
