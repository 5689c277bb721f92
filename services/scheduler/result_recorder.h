// Consumes ebats.results and records worker reports in the store, one
// transaction per batch; reports are acked only after the commit.
#ifndef EBATS_SERVICES_SCHEDULER_RESULT_RECORDER_H_
#define EBATS_SERVICES_SCHEDULER_RESULT_RECORDER_H_

#include <thread>
#include <vector>

#include "libs/amqp/session.h"
#include "libs/store/store.h"
#include "services/scheduler/batch_queue.h"
#include "services/scheduler/scheduler_metrics.h"

namespace ebats::scheduler {

class ResultRecorder {
 public:
  // All arguments must outlive the recorder.
  ResultRecorder(amqp::Session& session, store::Store& store,
                 SchedulerMetrics& metrics);
  ~ResultRecorder();

  // The session's delivery handler for ebats.results; never blocks.
  void OnDelivery(amqp::Delivery delivery) { queue_.Push(std::move(delivery)); }
  void Start();
  // Records what was already taken, then stops.
  void Shutdown();

 private:
  void Run();
  void RecordBatch(std::vector<amqp::Delivery> batch);

  amqp::Session& session_;
  store::Store& store_;
  SchedulerMetrics& metrics_;
  BatchQueue<amqp::Delivery> queue_;
  std::thread thread_;
};

}  // namespace ebats::scheduler

#endif  // EBATS_SERVICES_SCHEDULER_RESULT_RECORDER_H_
