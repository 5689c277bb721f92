// A clustered broker: three RabbitMQ nodes on loopback form one cluster
// (distinct node names, AMQP and distribution ports, each with its own home
// and a copy of one cookie, one shared epmd). ebats runs with quorum queues
// and all three URLs; one node is killed under load; nothing confirmed is
// lost.
#include <iostream>
#include <memory>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "gtest/gtest.h"
#include "tests/e2e/drill.h"
#include "tests/e2e/ebats_stack.h"
#include "tests/harness/rabbitmq_node.h"

namespace ebats::testing {
namespace {

TEST(ClusterTest, KillingOneNodeOfThreeUnderLoadLosesNothing) {
  const ClusterSettings cluster{FreePort(), "ebats-test-cluster-cookie"};
  std::vector<std::unique_ptr<RabbitMqNode>> nodes;
  for (int i = 0; i < 3; ++i) {
    nodes.push_back(std::make_unique<RabbitMqNode>(cluster));
    absl::Status started = nodes.back()->Start();
    ASSERT_TRUE(started.ok()) << started;
  }
  for (int i = 1; i < 3; ++i) {
    absl::Status joined = nodes[i]->JoinCluster(*nodes[0]);
    ASSERT_TRUE(joined.ok()) << joined;
  }
  std::vector<std::string> urls;
  for (const auto& node : nodes) urls.push_back(node->url());

  // The first URL is the node every service starts on: the one killed.
  EbatsStack stack(absl::StrJoin(urls, ","), "quorum");
  ASSERT_TRUE(stack.StartScheduler().ok());
  ASSERT_TRUE(stack.StartGateway().ok());
  for (const char* id : {"w-1", "w-2"}) {
    ASSERT_TRUE(stack
                    .StartWorker({"--topics=cluster", "--drill_handlers",
                                  absl::StrCat("--worker_id=", id)})
                    .ok());
  }
  v1::RegisterTaskRequest registration;
  registration.mutable_registration()->set_event("cluster_drill");
  registration.mutable_registration()->set_topic("cluster");
  registration.mutable_registration()->set_task("flakyTask");
  registration.mutable_registration()->mutable_retry()->add_intervals_ms(200);
  ASSERT_TRUE(stack.client().RegisterTask(registration).ok());

  constexpr int kEvents = 1000;
  Publisher publisher(stack.client(), "cluster_drill", kEvents,
                      absl::Milliseconds(20));  // ~20 s
  absl::SleepFor(absl::Seconds(6));
  std::cout << "killing " << nodes[0]->node_name() << std::endl;
  nodes[0]->Kill();
  const DrillResult result =
      AwaitDrill(stack.client(), publisher, kEvents, "cluster", "flakyTask",
                 absl::Minutes(3));
  std::cout << result.Summary() << std::endl
            << "last refusal: " << result.last_refusal << std::endl;
  EXPECT_EQ(result.lost, 0);
  EXPECT_EQ(result.confirmed + result.refused, kEvents);
  EXPECT_GT(result.confirmed, kEvents / 5);  // a sanity bound; lost matters
  EXPECT_TRUE(stack.StopAll().ok());
}

}  // namespace
}  // namespace ebats::testing
