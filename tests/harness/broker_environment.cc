#include "tests/harness/broker_environment.h"

namespace ebats::testing {

std::unique_ptr<RabbitMqNode> BrokerEnvironment::node_;
std::vector<std::string> BrokerEnvironment::tls_;

void BrokerEnvironment::EnableTls(std::string ca_file, std::string cert_file,
                                  std::string key_file) {
  tls_ = {std::move(ca_file), std::move(cert_file), std::move(key_file)};
}

void BrokerEnvironment::SetUp() {
  node_ = std::make_unique<RabbitMqNode>();
  if (!tls_.empty()) node_->EnableTls(tls_[0], tls_[1], tls_[2]);
  absl::Status status = node_->Start();
  ASSERT_TRUE(status.ok()) << status;
}

void BrokerEnvironment::TearDown() { node_.reset(); }

RabbitMqNode& BrokerEnvironment::Node() { return *node_; }

}  // namespace ebats::testing
