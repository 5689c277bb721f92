// Publishes items (events, worker reports) in batches: one AMQP message
// carries many items, so under load an item costs the broker a share of a
// message instead of a whole one. The broker's cost is per message, far
// more than per byte.
//
// No timer and no added latency when idle: an item goes out at once when
// fewer than `max_in_flight` batches wait for their confirms; otherwise
// items gather and leave together when a batch is confirmed (or when
// `max_batch` are waiting). Each item's `done` runs once with the confirm
// outcome of the message that carried it.
#ifndef EBATS_LIBS_AMQP_PUBLISH_BATCHER_H_
#define EBATS_LIBS_AMQP_PUBLISH_BATCHER_H_

#include <functional>
#include <memory>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "libs/amqp/confirm_join.h"
#include "libs/amqp/session.h"

namespace ebats::amqp {

// One message of a batch and the indices of the items it carries.
struct BatchPart {
  Message message;
  std::vector<int> items;
};

template <typename Item>
class PublishBatcher {
 public:
  // Turns a batch into messages; every item must be in exactly one part.
  using Encoder =
      std::function<std::vector<BatchPart>(const std::vector<Item>&)>;

  // `session` must outlive the batcher.
  PublishBatcher(Session& session, Encoder encode, int max_batch = 256,
                 int max_in_flight = 2)
      : session_(session),
        encode_(std::move(encode)),
        max_batch_(max_batch),
        max_in_flight_(max_in_flight) {}

  // Thread-safe. `done` may run on the session thread or, when not
  // connected, on the caller's.
  void Add(Item item, Session::Completion done) {
    Pending batch;
    {
      absl::MutexLock lock(&mu_);
      pending_.items.push_back(std::move(item));
      pending_.done.push_back(std::move(done));
      if (!TakeLocked(&batch)) return;
    }
    Send(std::move(batch));
  }

 private:
  struct Pending {
    std::vector<Item> items;
    std::vector<Session::Completion> done;
  };

  // Takes the pending items if a batch may leave now.
  bool TakeLocked(Pending* out) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (pending_.items.empty()) return false;
    if (in_flight_ >= max_in_flight_ &&
        static_cast<int>(pending_.items.size()) < max_batch_) {
      return false;
    }
    ++in_flight_;
    *out = std::move(pending_);
    pending_ = Pending();
    return true;
  }

  void Send(Pending batch) {
    std::vector<BatchPart> parts = encode_(batch.items);
    // Once every part is confirmed, this batch's slot frees up for the
    // items that gathered meanwhile.
    auto all_sent = JoinConfirms(static_cast<int>(parts.size()),
                                 [this](const absl::Status&) {
                                   Pending next;
                                   {
                                     absl::MutexLock lock(&mu_);
                                     --in_flight_;
                                     if (!TakeLocked(&next)) return;
                                   }
                                   Send(std::move(next));
                                 });
    auto done = std::make_shared<std::vector<Session::Completion>>(
        std::move(batch.done));
    for (BatchPart& part : parts) {
      session_.Publish(
          std::move(part.message),
          [done, all_sent, items = std::move(part.items)](absl::Status status) {
            for (int i : items) (*done)[i](status);
            all_sent(std::move(status));
          });
    }
  }

  Session& session_;
  const Encoder encode_;
  const int max_batch_;
  const int max_in_flight_;
  absl::Mutex mu_;
  Pending pending_ ABSL_GUARDED_BY(mu_);
  int in_flight_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace ebats::amqp

#endif  // EBATS_LIBS_AMQP_PUBLISH_BATCHER_H_
