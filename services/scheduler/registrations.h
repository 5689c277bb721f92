// Registrations: the store is the truth, an in-memory index answers "which
// tasks does this event create" without a query per event. Registering also
// declares the topic's queues so tasks are never unroutable.
#ifndef EBATS_SERVICES_SCHEDULER_REGISTRATIONS_H_
#define EBATS_SERVICES_SCHEDULER_REGISTRATIONS_H_

#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "ebats/v1/types.pb.h"
#include "libs/amqp/ebats_topology.h"
#include "libs/amqp/session.h"
#include "libs/amqp/topology.h"
#include "libs/store/store.h"

namespace ebats::scheduler {

// Thread-safe. `store` and `session` must outlive it.
class Registrations {
 public:
  Registrations(store::Store& store, amqp::Session& session,
                amqp::QueueType queue_type,
                int delivery_limit = amqp::kDefaultDeliveryLimit);

  // Loads the index from the store. Call once before use.
  absl::Status Load();
  // The topology of every topic registered so far, for the session to
  // declare at connect.
  amqp::Topology TopicsTopology() const;

  // As Store::PutRegistration, after validation (INVALID_ARGUMENT).
  absl::StatusOr<bool> Put(const v1::Registration& registration);
  absl::Status Delete(const std::string& event, const std::string& topic,
                      const std::string& task);
  // The registrations `event` matches (never null; empty when none). A
  // snapshot: shared, not copied, so matching costs no allocation per event;
  // later changes make a new one.
  using Matches = std::shared_ptr<const std::vector<v1::Registration>>;
  Matches Match(const std::string& event) const;

  // Every registered topic, every topic a task was ever published to and
  // every topic a worker took (remembered in the store), sorted.
  std::vector<std::string> Topics() const;
  // Adds `topic` to Topics() and the store's list, if new there. A store
  // error is logged, not returned: the list serves only the queue counts.
  void RememberTopic(const std::string& topic);

  // Makes sure `topic`'s queues exist before a task is published to it;
  // waits for the broker (bounded). OK when already declared.
  absl::Status EnsureTopic(const std::string& topic);

 private:
  // Replaces `event`'s list with an edited copy (readers keep the list they
  // hold); drops it when the edit leaves it empty.
  void EditLocked(
      const std::string& event,
      const std::function<void(std::vector<v1::Registration>&)>& edit)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  store::Store& store_;
  amqp::Session& session_;
  const amqp::QueueType queue_type_;
  const int delivery_limit_;
  mutable absl::Mutex mu_;
  std::map<std::string, Matches> by_event_ ABSL_GUARDED_BY(mu_);
  std::set<std::string> topics_ ABSL_GUARDED_BY(mu_);
  // Declared on the current connection (cleared on reconnect is not needed:
  // the session re-declares everything it was asked to, at every connect).
  std::set<std::string> declared_ ABSL_GUARDED_BY(mu_);
  // Topics in the store's list (Store::AddTopic).
  std::set<std::string> used_ ABSL_GUARDED_BY(mu_);
};

}  // namespace ebats::scheduler

#endif  // EBATS_SERVICES_SCHEDULER_REGISTRATIONS_H_
