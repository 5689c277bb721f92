// One AMQP connection and the thread that owns it.
//
// rabbitmq-c allows a connection and its channels to be used from one thread
// only, so a Session owns a thread that does all I/O; other threads talk to it
// by posting commands (Publish, Ack, Reject, Declare, StopConsuming), which
// are thread-safe and never block on the network.
//
// Channel 1 carries publishes (confirm mode, every publish persistent and
// mandatory) and consumers (manual acks, bounded prefetch). Channel 2 carries
// declarations, so a refused declaration does not close the publish channel.
//
// The Session connects to the first broker URL that answers, declares its
// topology, starts its consumers and reports "up". When the connection is
// lost it fails every unconfirmed publish with UNAVAILABLE (the caller must
// not assume it was accepted), reports "down", and reconnects with capped,
// jittered backoff, trying the URLs in turn. It keeps doing so until
// Shutdown().
//
// In a memory or disk alarm the broker stops reading a connection at its
// first publish and says so (connection.blocked). Later publishes are then
// held in the Session rather than written to a socket nobody reads (which
// could stall the owner thread), and go out in order at
// connection.unblocked. A held publish counts as unconfirmed: a lost
// connection or Shutdown() fails it with UNAVAILABLE. Declarations fail at
// once with UNAVAILABLE while blocked; StopConsuming() and Shutdown() do not
// wait for replies that cannot come. BlockedReason() and the blocked handler
// tell callers that want to refuse work early.
#ifndef EBATS_LIBS_AMQP_SESSION_H_
#define EBATS_LIBS_AMQP_SESSION_H_

#include <atomic>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "libs/amqp/broker_url.h"
#include "libs/amqp/topology.h"

namespace ebats::amqp {

// A message to publish. Always persistent and mandatory.
struct Message {
  std::string exchange;  // "" is the default exchange (routing key = queue)
  std::string routing_key;
  std::string body;
  std::string type;  // AMQP `type` property; tells message kinds apart
  std::string message_id;
  FieldTable headers;
};

// Identifies a delivery for Ack/Reject: its tag on the connection that
// delivered it. Small and copyable, unlike the Delivery with its body.
struct DeliveryTag {
  uint64_t tag = 0;
  // An ack for an older connection is dropped: the broker has already
  // requeued that delivery.
  uint64_t connection_generation = 0;
};

// A message received by a consumer. Ack or Reject it exactly once.
struct Delivery {
  std::string queue;
  std::string exchange;
  std::string routing_key;
  std::string body;
  std::string type;
  std::string message_id;
  FieldTable headers;
  bool redelivered = false;
  uint64_t delivery_tag = 0;
  // Which connection delivered it; an ack for an older one is dropped (the
  // broker has already requeued the message).
  uint64_t connection_generation = 0;

  DeliveryTag tag() const { return {delivery_tag, connection_generation}; }

  // The string or integer header `key`, or the fallback.
  std::string StringHeader(absl::string_view key) const;
  int64_t IntHeader(absl::string_view key, int64_t fallback = 0) const;
};

// What a passive queue.declare says of a queue.
struct QueueCounts {
  std::string queue;
  // False when the queue does not exist (the counts are then 0).
  bool exists = false;
  // Messages ready for delivery; not those delivered and still unacked.
  uint32_t ready_messages = 0;
  uint32_t consumers = 0;
};

// PEM files for amqps:// URLs. The broker's certificate is always verified,
// host name included: against `ca_file`, or the system's trust store when it
// is empty.
struct AmqpTls {
  std::string ca_file;
  std::string cert_file;  // optional client certificate
  std::string key_file;
};

// The largest prefetch count (basic.qos takes 16 bits; 0 means no limit).
inline constexpr int kMaxPrefetch = 65535;

struct SessionOptions {
  std::vector<BrokerUrl> brokers;
  // Used for the amqps:// ones among `brokers`.
  AmqpTls tls;
  // Shown as the connection name in the broker's management tools.
  std::string connection_name = "ebats";
  int heartbeat_seconds = 10;
  // Unacked deliveries per consumer; 0 means unlimited.
  uint16_t prefetch = 64;
  // Declared at every connect, before consumers start.
  Topology topology;
  absl::Duration reconnect_min = absl::Milliseconds(100);
  absl::Duration reconnect_max = absl::Seconds(5);
  // Connect, login and each synchronous broker call.
  absl::Duration io_timeout = absl::Seconds(10);
  // How long Shutdown() lets an established connection settle, confirm and
  // close before it drops the socket (see Shutdown()).
  absl::Duration shutdown_grace = absl::Seconds(5);
  // Holds back the ack of a delivery while an older one is unsettled, and
  // sends the held ones as one multiple-ack once every older delivery is
  // settled. The broker finds a single ack by walking the channel's unacked
  // deliveries from the oldest (a classic queue walks its consumer's too), so
  // acking thousands of held deliveries out of order costs it O(held) per
  // ack: with the due stage's few thousand held tasks, classic queues fell a
  // second behind. Only for consumers that settle every delivery within a
  // bounded time (the due stage: its hold), since one old unsettled delivery
  // holds back every later ack (those deliveries stay unacked, count
  // against the prefetch and come back if the connection is lost). A
  // graceful Shutdown sends what is held.
  bool ack_in_delivery_order = false;
};

class Session {
 public:
  // Runs on the Session thread; must not block. Ack or Reject the delivery
  // later from any thread.
  using DeliveryHandler = std::function<void(Delivery)>;
  // Runs once with the publish's fate: OK once the broker confirmed it;
  // UNAVAILABLE when not connected or the connection was lost before the
  // confirm; INTERNAL when the broker nacked it (the session then
  // reconnects: see HandleFrame); NOT_FOUND when it was
  // returned as unroutable (or the exchange does not exist). Runs on the
  // Session thread, or at once on the caller's thread when not connected.
  using Completion = std::function<void(absl::Status)>;
  // Runs on the Session thread whenever the connection goes up or down;
  // `why` says why it is down (OK when up).
  using StateHandler = std::function<void(bool up, const absl::Status& why)>;
  // Runs on the Session thread when the broker blocks publishing on the
  // connection (`reason` is the broker's, e.g. "low on memory") and when it
  // lifts the block or the connection goes (blocked false, reason empty).
  using BlockedHandler =
      std::function<void(bool blocked, const std::string& reason)>;
  // Runs once with the counts of InspectQueues, or why there are none.
  using CountsHandler =
      std::function<void(absl::StatusOr<std::vector<QueueCounts>>)>;

  explicit Session(SessionOptions options);
  ~Session();  // Calls Shutdown().
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  // Before Start(): consume `queue` (declared by the topology) with
  // `handler`, holding at most `prefetch` unacked deliveries (0: the
  // session's default).
  void AddConsumer(std::string queue, DeliveryHandler handler,
                   uint16_t prefetch = 0);
  // Before Start().
  void SetStateHandler(StateHandler handler);
  // Before Start().
  void SetBlockedHandler(BlockedHandler handler);

  // Starts the owner thread. Returns at once; see IsUp().
  void Start();
  // Cancels consumers, fails queued and unconfirmed publishes with
  // UNAVAILABLE, closes the connection and joins the thread. Unacked
  // deliveries return to their queues. Idempotent. Bounded even when the
  // broker has stopped responding: a connection still being set up (TLS
  // handshake included) is dropped at once (nothing on it can be lost), and
  // one that has not closed within shutdown_grace (outstanding confirms get
  // at most 3 s of it) is dropped then. Only a TCP connect still in progress
  // runs out io_timeout.
  void Shutdown();

  // True while connected, with topology declared and consumers running.
  bool IsUp() const { return up_.load(std::memory_order_acquire); }
  // The broker's reason while it blocks publishing on the connection, else
  // empty. Thread-safe.
  std::string BlockedReason() const;
  // How many times a connection was established.
  uint64_t connects() const {
    return connects_.load(std::memory_order_relaxed);
  }

  // Publishes `message`; `done` runs once with the outcome. Thread-safe.
  void Publish(Message message, Completion done);
  // Publishes and waits for the outcome (for tools and tests).
  absl::Status PublishAndWait(Message message,
                              absl::Duration timeout = absl::Seconds(10));
  // Acknowledges or rejects a delivery. Thread-safe.
  void Ack(const DeliveryTag& delivery);
  void Reject(const DeliveryTag& delivery, bool requeue);
  void Ack(const Delivery& delivery) { Ack(delivery.tag()); }
  void Reject(const Delivery& delivery, bool requeue) {
    Reject(delivery.tag(), requeue);
  }
  // Publishes `message` in place of a delivery: acks the delivery once the
  // message is confirmed, rejects it (requeue) otherwise, then calls
  // `done` (may be null) with the publish's outcome. Thread-safe.
  void Forward(Message message, const DeliveryTag& delivery,
               Completion done = nullptr);
  // Declares more topology now and at every later connect; `done` runs with
  // the outcome (UNAVAILABLE when not connected: it is still declared at the
  // next connect). FAILED_PRECONDITION when an existing queue has other
  // arguments. Thread-safe.
  void Declare(Topology topology, Completion done);
  // Reads the counts of `queues` with passive declarations on the
  // declaration channel: never creates a queue, and one that does not exist
  // has exists = false. `done` runs once, on the Session thread, with one
  // entry per queue in order, or UNAVAILABLE when not connected (at once, on
  // the caller's thread) or while the broker blocks the connection. Each
  // queue is a round-trip that the owner thread waits for, so use a session
  // of its own where publishes must not wait behind them. Thread-safe.
  void InspectQueues(std::vector<std::string> queues, CountsHandler done);
  // Cancels all consumers: no new deliveries arrive; unacked ones can still
  // be acked. Used to drain on shutdown. Thread-safe.
  void StopConsuming();

 private:
  struct Command {
    enum class Kind {
      kPublish,
      kAck,
      kReject,
      kDeclare,
      kInspect,
      kStopConsuming
    };
    Kind kind = Kind::kPublish;
    Message message;
    Completion done;
    Topology topology;
    // kInspect: the queues asked about and where their counts go before
    // `done` runs.
    std::vector<std::string> queues;
    std::shared_ptr<std::vector<QueueCounts>> counts;
    uint64_t delivery_tag = 0;
    uint64_t generation = 0;
    bool requeue = false;
  };
  class Connection;

  void Post(Command command);
  void Run();
  void Wake();
  // Waits up to `timeout` or until Wake(); false when stopping.
  bool Sleep(absl::Duration timeout);
  // Fails queued publishes and declarations (acks are dropped: the broker
  // requeues those deliveries when the connection goes).
  void FailQueued(const absl::Status& why);
  void Notify(bool up, const absl::Status& why);
  // The owner thread registers its connection's socket (-1: none), so that
  // CutConnection() can end a call blocked on a broker that stopped
  // responding; shutdown(2) wakes the blocked read with end-of-file. The
  // session keeps a duplicate descriptor until the next call, so the number
  // it cuts is never one that rabbitmq-c closed and someone else reused.
  void SetLiveSocket(int fd);
  // From now on, shuts down the live socket and every later one.
  void CutConnection();
  // Whether CutConnection() ran.
  bool Cut();
  void NotifyBlocked(bool blocked, const std::string& reason);

  const SessionOptions options_;
  struct Consumer {
    std::string queue;
    DeliveryHandler handler;
    uint16_t prefetch;
  };
  std::vector<Consumer> consumers_;
  StateHandler state_handler_;
  BlockedHandler blocked_handler_;

  mutable absl::Mutex mu_;
  std::deque<Command> commands_ ABSL_GUARDED_BY(mu_);
  Topology extra_topology_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  bool consuming_ ABSL_GUARDED_BY(mu_) = true;
  std::string blocked_reason_ ABSL_GUARDED_BY(mu_);
  // Lets BlockedReason() skip mu_ (taken by every Post) in the usual case.
  std::atomic<bool> blocked_{false};

  // Guards the socket against being closed (and its number reused) while
  // CutConnection() shuts it down.
  absl::Mutex socket_mu_;
  int live_socket_ ABSL_GUARDED_BY(socket_mu_) = -1;
  bool cut_ ABSL_GUARDED_BY(socket_mu_) = false;
  absl::Notification exited_;  // Run() returned

  int wake_fd_ = -1;
  std::atomic<bool> wake_pending_{false};
  std::atomic<bool> up_{false};
  std::atomic<uint64_t> connects_{0};
  std::atomic<uint64_t> generation_{0};
  std::thread thread_;
  bool started_ = false;
};

}  // namespace ebats::amqp

#endif  // EBATS_LIBS_AMQP_SESSION_H_
