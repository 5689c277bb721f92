#include "services/scheduler/result_recorder.h"

#include "libs/codec/message_codec.h"
#include "services/scheduler/poison.h"
#include "spdlog/spdlog.h"

namespace ebats::scheduler {
namespace {

// Reports per store transaction: large enough to make per-report cost small,
// small enough to keep acks flowing.
constexpr size_t kBatchSize = 512;

}  // namespace

ResultRecorder::ResultRecorder(amqp::Session& session, store::Store& store,
                               SchedulerMetrics& metrics)
    : session_(session), store_(store), metrics_(metrics) {}

ResultRecorder::~ResultRecorder() { Shutdown(); }

void ResultRecorder::Start() {
  thread_ = std::thread([this] { Run(); });
}

void ResultRecorder::Shutdown() {
  queue_.Close();
  if (thread_.joinable()) thread_.join();
}

void ResultRecorder::Run() {
  bool done = false;
  while (!done) {
    std::vector<amqp::Delivery> batch =
        queue_.PopBatch(kBatchSize, absl::Seconds(1), &done);
    if (!batch.empty()) RecordBatch(std::move(batch));
  }
}

void ResultRecorder::RecordBatch(std::vector<amqp::Delivery> batch) {
  std::vector<v1::TaskResult> results;
  std::vector<const amqp::Delivery*> decoded;
  results.reserve(batch.size());
  for (const auto& delivery : batch) {
    auto reports = codec::DecodeResults(delivery);
    if (!reports.ok()) {
      SendToPoison(session_, delivery, reports.status(), metrics_);
      continue;
    }
    for (auto& r : *reports) results.push_back(std::move(r));
    decoded.push_back(&delivery);
  }
  if (results.empty()) return;
  int unknown = 0;
  absl::Time started = absl::Now();
  absl::Status status = store_.ApplyResults(results, &unknown);
  metrics_.store_apply_seconds.Observe(
      absl::ToDoubleSeconds(absl::Now() - started));
  if (!status.ok()) {
    spdlog::error("scheduler: cannot record {} results: {}", results.size(),
                  status.ToString());
    for (const auto* delivery : decoded)
      session_.Reject(*delivery, /*requeue=*/true);
    absl::SleepFor(absl::Seconds(1));
    return;
  }
  if (unknown > 0) {
    spdlog::warn("scheduler: {} result(s) for tasks the store does not know",
                 unknown);
  }
  for (const auto& r : results) {
    if (r.outcome() != v1::OUTCOME_STARTED)
      metrics_.Outcome(r.topic(), r.task(), r.outcome());
  }
  for (const auto* delivery : decoded) session_.Ack(*delivery);
}

}  // namespace ebats::scheduler
