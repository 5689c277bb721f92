#include "libs/worker/report_batcher.h"

#include <memory>

#include "libs/codec/message_codec.h"

namespace ebats::worker {

void ReportBatcher::Add(v1::TaskResult report, amqp::Session::Completion done) {
  Pending batch;
  {
    absl::MutexLock lock(&mu_);
    pending_.reports.push_back(std::move(report));
    pending_.done.push_back(std::move(done));
    if (!TakeLocked(&batch)) return;
  }
  Send(std::move(batch));
}

bool ReportBatcher::TakeLocked(Pending* out) {
  if (pending_.reports.empty()) return false;
  if (in_flight_ >= max_in_flight_ &&
      static_cast<int>(pending_.reports.size()) < max_batch_) {
    return false;
  }
  ++in_flight_;
  *out = std::move(pending_);
  pending_ = Pending();
  return true;
}

void ReportBatcher::Send(Pending batch) {
  auto done = std::make_shared<std::vector<amqp::Session::Completion>>(
      std::move(batch.done));
  session_.Publish(codec::EncodeResults(batch.reports),
                   [this, done](absl::Status status) {
                     for (auto& callback : *done) callback(status);
                     Pending next;
                     {
                       absl::MutexLock lock(&mu_);
                       --in_flight_;
                       if (!TakeLocked(&next)) return;
                     }
                     Send(std::move(next));
                   });
}

}  // namespace ebats::worker
