// A private RabbitMQ node for tests: Debian's rabbitmq-server on free
// loopback ports (AMQP, Erlang distribution, epmd), with its data in a temp
// dir. Never touches a developer's own broker.
#ifndef EBATS_TESTS_HARNESS_RABBITMQ_NODE_H_
#define EBATS_TESTS_HARNESS_RABBITMQ_NODE_H_

#include <map>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "tests/harness/process.h"

namespace ebats::testing {

// What nodes of one cluster share: the epmd port (nodes find each other
// through it) and the Erlang cookie (written into each node's own home).
struct ClusterSettings {
  int epmd_port = 0;
  std::string cookie;
};

class RabbitMqNode {
 public:
  // A stand-alone node with its own epmd.
  RabbitMqNode();
  // A node that can join others made with the same settings.
  explicit RabbitMqNode(const ClusterSettings& cluster);
  // Stops the node and its epmd.
  ~RabbitMqNode();

  // Starts the node and waits until it accepts AMQP connections.
  absl::Status Start();
  // Graceful stop (rabbitmqctl stop); data is kept for Start().
  absl::Status Stop();
  // SIGKILL of the whole node.
  void Kill();
  // SIGSTOP of the whole node (not its epmd): it hangs, its connections stay
  // open and nothing answers, as a wedged broker. Thaw() resumes it.
  void Freeze();
  void Thaw();
  // Makes this (started) node join `other`'s cluster, resetting its data.
  absl::Status JoinCluster(const RabbitMqNode& other);
  const std::string& node_name() const { return node_name_; }
  // Runs rabbitmqctl against the node; an error when it fails or runs past
  // `timeout`.
  absl::Status Ctl(const std::vector<std::string>& args,
                   absl::Duration timeout = absl::Seconds(60));
  // Adds a virtual host guest may use; returns its URL. Lets one node hold
  // several independent ebats topologies (e.g. quorum and classic).
  absl::StatusOr<std::string> AddVhost(const std::string& vhost);

  int amqp_port() const { return amqp_port_; }
  // amqp://guest:guest@127.0.0.1:<port>/ (guest works on loopback).
  std::string url() const;
  // Before Start(): also listen for AMQP over TLS on a port of its own with
  // this server certificate; clients may present one signed by `ca_file`.
  void EnableTls(const std::string& ca_file, const std::string& cert_file,
                 const std::string& key_file);
  // amqps://guest:guest@localhost:<tls port>/ (the test server certificate
  // names localhost).
  std::string tls_url() const;
  int tls_port() const { return tls_port_; }
  const std::string& dir() const { return dir_.path(); }

 private:
  std::map<std::string, std::string> Env() const;

  // First, so that it goes last: after the node is stopped.
  TempDir dir_{"ebats-rabbitmq-"};
  std::string node_name_;
  int amqp_port_ = 0;
  int dist_port_ = 0;
  int epmd_port_ = 0;
  int tls_port_ = 0;
  ChildProcess epmd_;  // before server_, so that it goes after it
  ChildProcess server_;
};

}  // namespace ebats::testing

#endif  // EBATS_TESTS_HARNESS_RABBITMQ_NODE_H_
