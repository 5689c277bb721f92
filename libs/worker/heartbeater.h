// Registers a worker with the scheduler and keeps it alive with heartbeats.
// The scheduler being down never stops the worker: this retries quietly.
#ifndef EBATS_LIBS_WORKER_HEARTBEATER_H_
#define EBATS_LIBS_WORKER_HEARTBEATER_H_

#include <functional>
#include <string>
#include <thread>

#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "ebats/v1/types.pb.h"
#include "libs/client/client.h"

namespace ebats::worker {

struct HeartbeaterOptions {
  std::string scheduler_address;
  rpc::ClientTls tls;
  std::string token;
  v1::Worker worker;  // id set by the caller
  // Until the scheduler says otherwise.
  absl::Duration interval = absl::Seconds(5);
};

class Heartbeater {
 public:
  // `in_flight` is sampled for each heartbeat; called on the heartbeat thread.
  Heartbeater(HeartbeaterOptions options, std::function<int()> in_flight);
  ~Heartbeater();
  void Start();
  // Stops heartbeating and, if registered, unregisters (one call, bounded by
  // a 3 s deadline).
  void Shutdown();
  // True once the scheduler has accepted the registration.
  bool registered() const;

 private:
  void Run();

  HeartbeaterOptions options_;
  std::function<int()> in_flight_;
  client::Client client_;
  mutable absl::Mutex mu_;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  bool registered_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;
};

}  // namespace ebats::worker

#endif  // EBATS_LIBS_WORKER_HEARTBEATER_H_
