#include "bench/set_report.h"

#include "gtest/gtest.h"
#include "nlohmann/json.hpp"

namespace ebats::bench {
namespace {

std::pair<std::string, std::string> Report(
    const std::string& file, const std::string& settings,
    const std::string& result, const std::string& release = "null") {
  return {
      file,
      R"({"machine":"2 cores, 23 GiB, 6.1","versions":"rabbitmq 3.10, abc1234","settings":")" +
          settings + R"(","result":)" + result + R"(,"due_stage_release":)" +
          release + "}"};
}

bool Has(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

const char kBroker[] =
    R"({"scenario":"broker","messages":200000,"messages_per_second":{"median":15000,"min":14000,"max":15100}})";
const char kBatch[] =
    R"({"scenario":"throughput","events":200000,"fanout":1,"batch":100,"clients":4,"tasks_recorded_per_second":{"median":9450,"min":8530,"max":10004}})";
const char kUnary[] =
    R"({"scenario":"throughput","events":200000,"fanout":1,"batch":0,"clients":256,"tasks_recorded_per_second":{"median":6100,"min":6000,"max":6200}})";
const char kLatency[] =
    R"({"scenario":"latency","rate":200,"duration_seconds":10,"p50_ms":{"median":3.19,"min":3.02,"max":3.3},"p99_ms":{"median":10.8,"min":9.45,"max":11.7}})";
const char kLateness[] =
    R"({"scenario":"lateness","tasks":10000,"pending":0,"lost":0,"early":0,"p99_ms":{"median":16.9,"min":16.6,"max":17.2},"max_ms":{"median":27.3,"min":24.9,"max":31.9}})";

TEST(SetReportTest, GivesEveryFigureItsShareOfTheLimitAndItsTarget) {
  auto report = BuildSetReport({
      Report("1-broker.json", "queue_type=quorum --events=200000", kBroker),
      Report("2-throughput.json", "queue_type=quorum --batch=100", kBatch),
      Report("3-throughput.json", "queue_type=quorum --clients=256", kUnary),
      Report("4-latency.json", "queue_type=quorum --rate=200", kLatency),
      Report(
          "5-lateness.json", "queue_type=quorum --tasks=10000", kLateness,
          R"({"released":30000,"within_1ms":0.9897,"within_5ms":0.9995,"within_10ms":0.9999})"),
      Report("6-throughput.json",
             "queue_type=classic --batch=100 --queue_type=classic", kBatch),
  });
  ASSERT_TRUE(report.ok()) << report.status();
  const std::string& md = report->markdown;
  EXPECT_TRUE(Has(md, "broker limit of this set: 15,000 msg/s")) << md;
  EXPECT_TRUE(Has(md,
                  "| throughput --batch=100 (quorum) (`2-throughput.json`) "
                  "| tasks_recorded_per_second | 9,450 | 8,530–10,004 | "
                  "0.63 | ≥ 10,000: **not met** |"))
      << md;
  EXPECT_TRUE(Has(md, "| 6,100 | 6,000–6,200 | 0.41 | ≥ 6,000: met |")) << md;
  EXPECT_TRUE(Has(md, "| p50_ms | 3.19 | 3.02–3.3 |  | ≤ 1.5: **not met** |"))
      << md;
  EXPECT_TRUE(Has(md, "| early | 0 |  |  | ≤ 0: met |")) << md;
  EXPECT_TRUE(Has(md, "| due stage: released within 1 ms of due | 98.97% |"))
      << md;
  // Classic mode is reported, without targets.
  EXPECT_TRUE(Has(md,
                  "| throughput --batch=100 (classic) (`6-throughput.json`) "
                  "| tasks_recorded_per_second | 9,450 | 8,530–10,004 | "
                  "0.63 |  |"))
      << md;
  // Met: unary, lateness early, lost and max. Not met: batch, latency p50
  // and p99, lateness p99.
  EXPECT_TRUE(Has(md, "targets met by the median: 4 of 8")) << md;

  auto json = nlohmann::json::parse(report->json);
  EXPECT_EQ(json["broker_limit_per_second"], 15000);
  EXPECT_EQ(json["targets_met"], 4);
  EXPECT_EQ(json["targets_not_met"], 4);
  const auto& batch = json["figures"][1];
  EXPECT_EQ(batch["report"], "2-throughput.json");
  EXPECT_EQ(batch["figure"], "tasks_recorded_per_second");
  EXPECT_NEAR(batch["ratio_to_broker_limit"].get<double>(), 0.63, 0.001);
  EXPECT_EQ(batch["met"], false);
}

TEST(SetReportTest, RefusesWhatIsNotAReport) {
  auto report = BuildSetReport({{"x.json", "{\"result\": 3}"}});
  ASSERT_FALSE(report.ok());
  EXPECT_NE(report.status().message().find("x.json"), std::string::npos);
  EXPECT_FALSE(BuildSetReport({{"y.json", "not json"}}).ok());
  EXPECT_FALSE(BuildSetReport({}).ok());
}

}  // namespace
}  // namespace ebats::bench
