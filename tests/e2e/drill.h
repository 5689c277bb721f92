// Shared by the fault drills: a steady event publisher that counts what the
// gateway confirmed and refused, and the reckoning afterwards (did every
// confirmed event's task succeed? how many repeats?).
#ifndef EBATS_TESTS_E2E_DRILL_H_
#define EBATS_TESTS_E2E_DRILL_H_

#include <map>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "libs/client/client.h"

namespace ebats::testing {

// Publishes `count` events named `event` at a steady pace on its own thread.
class Publisher {
 public:
  Publisher(client::Client& client, std::string event, int count,
            absl::Duration interval);
  ~Publisher() { Join(); }
  void Join();
  std::vector<std::string> confirmed();  // event ids, in order
  int refused();
  std::map<absl::StatusCode, int> refused_codes();
  // The last refusal's status, for the log.
  std::string last_refusal();

 private:
  void Run();

  client::Client& client_;
  const std::string event_;
  const int count_;
  const absl::Duration interval_;
  absl::Mutex mu_;
  std::vector<std::string> confirmed_ ABSL_GUARDED_BY(mu_);
  std::map<absl::StatusCode, int> codes_ ABSL_GUARDED_BY(mu_);
  std::string last_refusal_ ABSL_GUARDED_BY(mu_);
  std::thread thread_;
};

struct DrillResult {
  int published = 0;
  int confirmed = 0;
  int refused = 0;
  int succeeded = 0;   // confirmed events whose task succeeded
  int lost = 0;        // confirmed events whose task did not
  int retried = 0;     // tasks that needed more than one attempt
  int duplicates = 0;  // runs beyond one per attempt, over all tasks
  std::string refused_by_code;
  std::string last_refusal;
  // published=... confirmed=... unavailable=... tasks_succeeded=...
  // retried=... duplicates=... lost=...
  std::string Summary() const;
};

// Waits until the task (topic, task) of every event `publisher` got
// confirmed has SUCCEEDED, or `timeout` passes; then counts.
DrillResult AwaitDrill(client::Client& client, Publisher& publisher,
                       int published, const std::string& topic,
                       const std::string& task, absl::Duration timeout);

}  // namespace ebats::testing

#endif  // EBATS_TESTS_E2E_DRILL_H_
