#include "libs/worker/heartbeater.h"

#include "spdlog/spdlog.h"

namespace ebats::worker {

namespace {
client::ClientOptions ClientFor(const HeartbeaterOptions& heartbeater) {
  client::ClientOptions options;
  options.scheduler_address = heartbeater.scheduler_address;
  options.tls = heartbeater.tls;
  options.token = heartbeater.token;
  options.timeout = absl::Seconds(3);
  return options;
}
}  // namespace

Heartbeater::Heartbeater(HeartbeaterOptions options,
                         std::function<int()> in_flight)
    : options_(std::move(options)),
      in_flight_(std::move(in_flight)),
      client_(ClientFor(options_)) {}

Heartbeater::~Heartbeater() { Shutdown(); }

void Heartbeater::Start() {
  thread_ = std::thread([this] { Run(); });
}

void Heartbeater::Shutdown() {
  {
    absl::MutexLock lock(&mu_);
    if (stopping_) return;
    stopping_ = true;
  }
  if (thread_.joinable()) thread_.join();
  if (!registered()) return;
  // Leave the scheduler's list now rather than be listed as lost later.
  if (absl::Status s = client_.UnregisterWorker(options_.worker.id());
      !s.ok()) {
    spdlog::warn("worker {}: cannot unregister from scheduler {}: {}",
                 options_.worker.id(), options_.scheduler_address,
                 s.ToString());
  }
}

bool Heartbeater::registered() const {
  absl::MutexLock lock(&mu_);
  return registered_;
}

void Heartbeater::Run() {
  absl::Duration interval = options_.interval;
  bool warned = false;
  for (;;) {
    bool registered;
    {
      absl::MutexLock lock(&mu_);
      registered = registered_;
    }
    absl::Status status;
    if (!registered) {
      v1::RegisterWorkerRequest request;
      *request.mutable_worker() = options_.worker;
      auto response = client_.RegisterWorker(request);
      status = response.status();
      if (response.ok()) {
        if (response->heartbeat_interval_ms() > 0) {
          interval = absl::Milliseconds(response->heartbeat_interval_ms());
        }
        absl::MutexLock lock(&mu_);
        registered_ = true;
        spdlog::info("worker {} registered with scheduler {}",
                     options_.worker.id(), options_.scheduler_address);
      }
    } else {
      v1::HeartbeatRequest request;
      request.set_worker_id(options_.worker.id());
      request.set_in_flight(in_flight_());
      status = client_.Heartbeat(request);
      if (absl::IsNotFound(status)) {
        absl::MutexLock lock(&mu_);
        registered_ = false;  // The scheduler forgot us; register again.
      }
    }
    if (!status.ok() && !warned) {
      spdlog::warn(
          "worker {}: scheduler {} not reachable ({}); tasks keep running",
          options_.worker.id(), options_.scheduler_address, status.ToString());
    }
    warned = !status.ok();
    absl::MutexLock lock(&mu_);
    if (mu_.AwaitWithTimeout(
            absl::Condition(&stopping_),
            status.ok() ? interval : std::min(interval, absl::Seconds(1)))) {
      return;
    }
  }
}

}  // namespace ebats::worker
