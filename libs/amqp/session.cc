#include "libs/amqp/session.h"

#include <amqp.h>
#include <amqp_framing.h>
#include <amqp_ssl_socket.h>
#include <amqp_tcp_socket.h>
#include <fcntl.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <iterator>
#include <map>
#include <optional>
#include <utility>

#include "absl/container/btree_set.h"
#include "absl/random/random.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "libs/amqp/wire.h"
#include "libs/common/status_macros.h"
#include "spdlog/spdlog.h"

namespace ebats::amqp {
namespace {

constexpr amqp_channel_t kPublishChannel = 1;
constexpr amqp_channel_t kAdminChannel = 2;
// Our own sequence number on every publish, so a basic.return (which carries
// no delivery tag) can be matched with the publish it refers to.
constexpr char kSeqHeader[] = "x-ebats-seq";
// How long an idle owner thread sleeps in poll(); heartbeats need far less.
constexpr int kIdlePollMs = 100;
// Frames handled before queued commands get a turn again.
constexpr int kFramesPerTurn = 256;
// On Shutdown, how long to wait for outstanding confirms.
constexpr absl::Duration kShutdownConfirmWait = absl::Seconds(3);

const absl::Status& StoppingStatus() {
  static const auto* s =
      new absl::Status(absl::CancelledError("session stopping"));
  return *s;
}

}  // namespace

std::string Delivery::StringHeader(absl::string_view key) const {
  for (const auto& [k, v] : headers) {
    if (k != key) continue;
    if (const auto* s = std::get_if<std::string>(&v)) return *s;
    return absl::StrCat(std::get<int64_t>(v));
  }
  return "";
}

int64_t Delivery::IntHeader(absl::string_view key, int64_t fallback) const {
  for (const auto& [k, v] : headers) {
    if (k != key) continue;
    if (const auto* i = std::get_if<int64_t>(&v)) return *i;
    int64_t parsed;
    return absl::SimpleAtoi(std::get<std::string>(v), &parsed) ? parsed
                                                               : fallback;
  }
  return fallback;
}

// The state of one connection attempt; lives on the owner thread only.
class Session::Connection {
 public:
  Connection(Session& session, const BrokerUrl& url, uint64_t generation)
      : s_(session),
        url_(url),
        generation_(generation),
        conn_(amqp_new_connection()) {}

  ~Connection() {
    FailHeld(absl::UnavailableError(
        absl::StrCat("amqp.Publish: not sent: the broker blocked publishing (",
                     blocked_reason_, ") until the connection ended")));
    if (blocked_) s_.NotifyBlocked(false, "");
    FailPending(
        absl::UnavailableError("amqp.Publish: connection to broker lost before "
                               "the publish was confirmed"));
    s_.SetLiveSocket(-1);
    amqp_destroy_connection(conn_);
  }

  absl::Status Open() {
    const std::string op = absl::StrCat("amqp.Connect ", url_.Redacted());
    amqp_socket_t* socket =
        url_.tls ? amqp_ssl_socket_new(conn_) : amqp_tcp_socket_new(conn_);
    if (socket == nullptr)
      return absl::InternalError(absl::StrCat(op, ": no socket"));
    if (url_.tls) EBATS_RETURN_IF_ERROR(ConfigureTls(socket, op));
    timeval tv = absl::ToTimeval(s_.options_.io_timeout);
    int rc =
        amqp_socket_open_noblock(socket, url_.host.c_str(), url_.port, &tv);
    if (rc != AMQP_STATUS_OK) return wire::LibraryError(rc, op);
    s_.SetLiveSocket(amqp_get_sockfd(conn_));
    amqp_set_handshake_timeout(conn_, &tv);
    amqp_set_rpc_timeout(conn_, &tv);

    wire::Table named({{"connection_name", s_.options_.connection_name},
                       {"product", std::string("ebats")}});
    // Asks for connection.blocked/unblocked (see HandleFrame); rabbitmq-c
    // merges its own capabilities into this table.
    amqp_table_entry_t blocked_capability{};
    blocked_capability.key = amqp_cstring_bytes("connection.blocked");
    blocked_capability.value.kind = AMQP_FIELD_KIND_BOOLEAN;
    blocked_capability.value.value.boolean = 1;
    std::vector<amqp_table_entry_t> entries(
        named.get().entries, named.get().entries + named.get().num_entries);
    amqp_table_entry_t capabilities{};
    capabilities.key = amqp_cstring_bytes("capabilities");
    capabilities.value.kind = AMQP_FIELD_KIND_TABLE;
    capabilities.value.value.table = amqp_table_t{1, &blocked_capability};
    entries.push_back(capabilities);
    amqp_table_t properties{static_cast<int>(entries.size()), entries.data()};
    EBATS_RETURN_IF_ERROR(Check(
        amqp_login_with_properties(conn_, url_.vhost.c_str(), 0, 131072,
                                   s_.options_.heartbeat_seconds, &properties,
                                   AMQP_SASL_METHOD_PLAIN, url_.user.c_str(),
                                   url_.password.c_str()),
        op));
    amqp_channel_open(conn_, kPublishChannel);
    EBATS_RETURN_IF_ERROR(Check(amqp_get_rpc_reply(conn_), op));
    amqp_confirm_select(conn_, kPublishChannel);
    EBATS_RETURN_IF_ERROR(Check(amqp_get_rpc_reply(conn_), op));
    amqp_channel_open(conn_, kAdminChannel);
    return Check(amqp_get_rpc_reply(conn_), op);
  }

  // Verification on, with the configured CA (or the system's) and client
  // certificate. Errors name the file.
  absl::Status ConfigureTls(amqp_socket_t* socket, const std::string& op) {
    const AmqpTls& tls = s_.options_.tls;
    amqp_ssl_socket_set_verify_peer(socket, 1);
    amqp_ssl_socket_set_verify_hostname(socket, 1);
    auto* context = static_cast<SSL_CTX*>(amqp_ssl_socket_get_context(socket));
    if (context == nullptr)
      return absl::InternalError(absl::StrCat(op, ": no TLS context"));
    // rabbitmq-c connects and runs the whole TLS handshake inside
    // amqp_socket_open, and hands the socket out only after it. The
    // handshake's start names the socket, so that Shutdown() can cut a
    // handshake the broker never answers (the context is this connection's
    // own).
    SSL_CTX_set_app_data(context, &s_);
    SSL_CTX_set_info_callback(context, &Connection::OnTlsEvent);
    if (tls.ca_file.empty()) {
      if (SSL_CTX_set_default_verify_paths(context) != 1) {
        return absl::InternalError(
            absl::StrCat(op, ": cannot load the system's CA certificates"));
      }
    } else if (int rc = amqp_ssl_socket_set_cacert(socket, tls.ca_file.c_str());
               rc != AMQP_STATUS_OK) {
      return absl::InvalidArgumentError(
          absl::StrCat(op, ": cannot load CA file ", tls.ca_file, ": ",
                       amqp_error_string2(rc)));
    }
    if (!tls.cert_file.empty()) {
      if (int rc = amqp_ssl_socket_set_key(socket, tls.cert_file.c_str(),
                                           tls.key_file.c_str());
          rc != AMQP_STATUS_OK) {
        return absl::InvalidArgumentError(absl::StrCat(
            op, ": cannot load client certificate ", tls.cert_file, " / key ",
            tls.key_file, ": ", amqp_error_string2(rc)));
      }
    }
    return absl::OkStatus();
  }

  static void OnTlsEvent(const SSL* ssl, int where, int /*ret*/) {
    if ((where & SSL_CB_HANDSHAKE_START) == 0) return;
    auto* session =
        static_cast<Session*>(SSL_CTX_get_app_data(SSL_get_SSL_CTX(ssl)));
    if (session != nullptr) session->SetLiveSocket(SSL_get_fd(ssl));
  }

  // Declares `topology` on the admin channel. A refused declaration reopens
  // that channel and returns the broker's reason (FAILED_PRECONDITION for
  // different arguments); a connection error is returned as UNAVAILABLE and
  // also marks the connection broken.
  absl::Status DeclareTopology(const Topology& topology) {
    for (const auto& exchange : topology.exchanges) {
      amqp_exchange_declare(conn_, kAdminChannel, wire::Bytes(exchange.name),
                            wire::Bytes(exchange.type), 0, 1, 0, 0,
                            amqp_empty_table);
      EBATS_RETURN_IF_ERROR(
          CheckAdmin(absl::StrCat("amqp.Declare exchange ", exchange.name)));
    }
    for (const auto& queue : topology.queues) {
      wire::Table arguments(queue.arguments);
      amqp_queue_declare(conn_, kAdminChannel, wire::Bytes(queue.name), 0, 1, 0,
                         0, arguments.get());
      absl::Status status =
          CheckAdmin(absl::StrCat("amqp.Declare queue ", queue.name));
      if (absl::IsFailedPrecondition(status) && queue.legacy_arguments) {
        wire::Table legacy(*queue.legacy_arguments);
        amqp_queue_declare(conn_, kAdminChannel, wire::Bytes(queue.name), 0, 1,
                           0, 0, legacy.get());
        if (CheckAdmin(absl::StrCat("amqp.Declare queue ", queue.name)).ok()) {
          spdlog::warn(
              "amqp: queue {} exists with the arguments of an earlier ebats "
              "version; using it as it is ({}). Drain and delete it to get "
              "the current ones.",
              queue.name, std::string(status.message()));
          status = absl::OkStatus();
        }
      }
      if (absl::IsFailedPrecondition(status)) {
        return absl::FailedPreconditionError(
            absl::StrCat(status.message(),
                         " (the queue exists with other arguments, e.g. "
                         "another EBATS_QUEUE_TYPE; "
                         "delete it or configure ebats to match)"));
      }
      EBATS_RETURN_IF_ERROR(status);
      for (const auto& binding : queue.bindings) {
        wire::Table arguments(binding.arguments);
        amqp_queue_bind(conn_, kAdminChannel, wire::Bytes(queue.name),
                        wire::Bytes(binding.exchange),
                        wire::Bytes(binding.routing_key), arguments.get());
        EBATS_RETURN_IF_ERROR(
            CheckAdmin(absl::StrCat("amqp.Bind ", queue.name)));
      }
    }
    for (const auto& binding : topology.exchange_bindings) {
      wire::Table arguments(binding.arguments);
      amqp_exchange_bind(conn_, kAdminChannel, wire::Bytes(binding.destination),
                         wire::Bytes(binding.source),
                         wire::Bytes(binding.routing_key), arguments.get());
      EBATS_RETURN_IF_ERROR(CheckAdmin(absl::StrCat(
          "amqp.Bind ", binding.source, " -> ", binding.destination)));
    }
    return absl::OkStatus();
  }

  // Passive declarations of `queues`, their counts appended to `counts`.
  // Errors as DeclareTopology; a missing queue is not one.
  absl::Status InspectQueues(const std::vector<std::string>& queues,
                             std::vector<QueueCounts>* counts) {
    for (const auto& name : queues) {
      QueueCounts& entry = counts->emplace_back();
      entry.queue = name;
      auto* ok = amqp_queue_declare(conn_, kAdminChannel, wire::Bytes(name),
                                    /*passive=*/1, 0, 0, 0, amqp_empty_table);
      absl::Status status =
          CheckAdmin(absl::StrCat("amqp.InspectQueues ", name));
      if (absl::IsNotFound(status)) continue;
      EBATS_RETURN_IF_ERROR(status);
      entry.exists = true;
      entry.ready_messages = ok->message_count;
      entry.consumers = ok->consumer_count;
    }
    return absl::OkStatus();
  }

  // Runs an admin-channel call for `command` and completes it with the
  // outcome; while the broker blocks the connection the call's reply would
  // never come, so it fails at once with UNAVAILABLE. Only a lost
  // connection ends the session's use of this connection.
  template <typename Call>
  absl::Status RunAdmin(Command& command, absl::string_view op, Call call) {
    if (blocked_) {
      if (command.done) {
        command.done(absl::UnavailableError(absl::StrCat(
            op, ": the broker blocks this connection (", blocked_reason_,
            "); try again when the alarm lifts")));
      }
      return absl::OkStatus();
    }
    absl::Status status = call();
    if (command.done) command.done(status);
    return (status.ok() || !absl::IsUnavailable(status)) ? absl::OkStatus()
                                                         : status;
  }

  absl::Status StartConsumers() {
    for (size_t i = 0; i < s_.consumers_.size(); ++i) {
      const Consumer& consumer = s_.consumers_[i];
      const std::string& queue = consumer.queue;
      // Per consumer: basic.qos (not global) applies to consumers started
      // after it on the channel.
      amqp_basic_qos(
          conn_, kPublishChannel, 0,
          consumer.prefetch > 0 ? consumer.prefetch : s_.options_.prefetch, 0);
      EBATS_RETURN_IF_ERROR(Check(amqp_get_rpc_reply(conn_), "amqp.Qos"));
      auto* ok =
          amqp_basic_consume(conn_, kPublishChannel, wire::Bytes(queue),
                             amqp_empty_bytes, 0, 0, 0, amqp_empty_table);
      EBATS_RETURN_IF_ERROR(Check(amqp_get_rpc_reply(conn_),
                                  absl::StrCat("amqp.Consume ", queue)));
      consumer_index_[wire::String(ok->consumer_tag)] = i;
    }
    return absl::OkStatus();
  }

  // Runs commands and reads frames until the connection fails (its error is
  // returned) or the session stops (StoppingStatus()).
  absl::Status Serve() {
    for (;;) {
      bool stopping;
      size_t executed;
      EBATS_RETURN_IF_ERROR(RunQueuedCommands(&stopping, &executed));
      if (stopping) return Drain();

      int frames = 0;
      while (frames < kFramesPerTurn &&
             (amqp_frames_enqueued(conn_) || amqp_data_in_buffer(conn_))) {
        EBATS_RETURN_IF_ERROR(ReadFrame());
        ++frames;
      }
      if (frames == 0 && executed == 0) WaitForWork(kIdlePollMs);
      // Also sends a heartbeat when one is due and notices a dead peer.
      EBATS_RETURN_IF_ERROR(ReadFrame());
    }
  }

  void Close() {
    // A blocked connection is not read by the broker, so a close handshake
    // would only time out. Dropping the socket does the same (unacked
    // deliveries go back to their queues).
    if (blocked_) return;
    amqp_channel_close(conn_, kAdminChannel, AMQP_REPLY_SUCCESS);
    amqp_channel_close(conn_, kPublishChannel, AMQP_REPLY_SUCCESS);
    amqp_connection_close(conn_, AMQP_REPLY_SUCCESS);
  }

  void FailPending(const absl::Status& why) {
    auto pending = std::move(pending_);
    pending_.clear();
    for (auto& [tag, p] : pending) p.done(why);
  }

 private:
  struct Pending {
    Completion done;
    absl::Status returned;  // set when the broker returned the message
  };

  absl::Status Check(const amqp_rpc_reply_t& reply, absl::string_view op) {
    return wire::CheckReply(reply, op).status;
  }

  // Checks the last admin-channel RPC; reopens the channel after a refusal.
  absl::Status CheckAdmin(absl::string_view op) {
    wire::ReplyError error = wire::CheckReply(amqp_get_rpc_reply(conn_), op);
    if (error.severity == wire::Severity::kChannel) {
      amqp_channel_close_ok_t close_ok;
      amqp_send_method(conn_, kAdminChannel, AMQP_CHANNEL_CLOSE_OK_METHOD,
                       &close_ok);
      amqp_channel_open(conn_, kAdminChannel);
      absl::Status reopened =
          Check(amqp_get_rpc_reply(conn_), "amqp.ReopenChannel");
      if (!reopened.ok()) return reopened;
    }
    return error.status;
  }

  // Sends the acks of a batch of commands. Acks below every still unsettled
  // delivery go as one multiple-ack: on a quorum queue each basic.ack is a
  // log entry, so this saves the broker work per task. The rest go one by
  // one, or wait for the older deliveries (ack_in_delivery_order).
  absl::Status FlushAcks() {
    if (acked_.empty()) return absl::OkStatus();
    const uint64_t lowest_unsettled =
        unsettled_.empty() ? UINT64_MAX : *unsettled_.begin();
    auto end = acked_.lower_bound(lowest_unsettled);
    if (end != acked_.begin()) {
      const bool several = std::next(acked_.begin()) != end;
      EBATS_RETURN_IF_ERROR(SendAck(*std::prev(end), several));
      acked_.erase(acked_.begin(), end);
    }
    if (s_.options_.ack_in_delivery_order) return absl::OkStatus();
    return SendAcksOneByOne();
  }

  absl::Status SendAcksOneByOne() {
    for (uint64_t tag : acked_) EBATS_RETURN_IF_ERROR(SendAck(tag, false));
    acked_.clear();
    return absl::OkStatus();
  }

  absl::Status SendAck(uint64_t tag, bool multiple) {
    int rc = amqp_basic_ack(conn_, kPublishChannel, tag, multiple ? 1 : 0);
    if (rc != AMQP_STATUS_OK) return wire::LibraryError(rc, "amqp.Ack");
    return absl::OkStatus();
  }

  // Sleeps until the socket has data, a command is posted (the eventfd) or
  // `timeout_ms` passes.
  void WaitForWork(int timeout_ms) {
    pollfd fds[2] = {{amqp_get_sockfd(conn_), POLLIN, 0},
                     {s_.wake_fd_, POLLIN, 0}};
    if (poll(fds, 2, timeout_ms) > 0 && (fds[1].revents & POLLIN)) {
      uint64_t count;
      [[maybe_unused]] ssize_t n = read(s_.wake_fd_, &count, sizeof(count));
    }
  }

  // Runs every queued command; an error means the connection is unusable
  // (the commands not yet run are failed with it; the one that failed has
  // completed itself).
  absl::Status RunQueuedCommands(bool* stopping, size_t* executed) {
    std::deque<Command> batch;
    // Re-arm the wake-up before taking the queue: a command posted after the
    // swap then always writes the eventfd (the other order can lose it).
    s_.wake_pending_.store(false, std::memory_order_release);
    {
      absl::MutexLock lock(&s_.mu_);
      *stopping = s_.stopping_;
      batch.swap(s_.commands_);
    }
    *executed = batch.size();
    while (!batch.empty()) {
      absl::Status status = Execute(batch.front());
      batch.pop_front();
      if (!status.ok()) {
        FailCommands(batch, status);
        return status;
      }
    }
    return FlushAcks();
  }

  // OK unless the connection is unusable. Completes `command` (or hands its
  // completion on, e.g. to the confirm it waits for) whatever the outcome.
  absl::Status Execute(Command& command) {
    switch (command.kind) {
      case Command::Kind::kPublish:
        return PublishNow(command);
      case Command::Kind::kAck:
        if (command.generation == generation_) {
          unsettled_.erase(command.delivery_tag);
          acked_.insert(command.delivery_tag);
        }
        return absl::OkStatus();
      case Command::Kind::kReject: {
        if (command.generation != generation_) return absl::OkStatus();
        unsettled_.erase(command.delivery_tag);
        int rc = amqp_basic_reject(conn_, kPublishChannel, command.delivery_tag,
                                   command.requeue ? 1 : 0);

        return rc == AMQP_STATUS_OK ? absl::OkStatus()
                                    : wire::LibraryError(rc, "amqp.Reject");
      }
      case Command::Kind::kDeclare:
        // While blocked it is declared at the next connect anyway
        // (extra_topology_).
        return RunAdmin(command, "amqp.Declare",
                        [&] { return DeclareTopology(command.topology); });
      case Command::Kind::kInspect:
        return RunAdmin(command, "amqp.InspectQueues", [&] {
          return InspectQueues(command.queues, command.counts.get());
        });
      case Command::Kind::kStopConsuming:
        // A blocked connection is not read, so basic.cancel would only time
        // out. Forgetting the consumers is enough: what still arrives for
        // them is left unacked and returns to its queue when we disconnect.
        if (blocked_) {
          consumer_index_.clear();
          return absl::OkStatus();
        }
        for (const auto& [tag, index] : consumer_index_) {
          amqp_basic_cancel(conn_, kPublishChannel, wire::Bytes(tag));
          EBATS_RETURN_IF_ERROR(
              Check(amqp_get_rpc_reply(conn_), "amqp.Cancel"));
        }
        consumer_index_.clear();
        return absl::OkStatus();
    }
    return absl::OkStatus();
  }

  absl::Status PublishNow(Command& command) {
    if (blocked_) {
      // The broker reads nothing more from this connection until the alarm
      // lifts; held here, publishes cannot fill the socket's buffer and
      // stall this thread (and Shutdown) in a write.
      held_.push_back(std::move(command));
      return absl::OkStatus();
    }
    Message& m = command.message;
    const uint64_t tag = next_tag_++;
    m.headers.emplace_back(kSeqHeader, static_cast<int64_t>(tag));
    wire::Table headers(std::move(m.headers));
    amqp_basic_properties_t props{};
    props._flags = AMQP_BASIC_CONTENT_TYPE_FLAG |
                   AMQP_BASIC_DELIVERY_MODE_FLAG | AMQP_BASIC_HEADERS_FLAG;
    props.content_type = amqp_cstring_bytes("application/x-protobuf");
    props.delivery_mode = AMQP_DELIVERY_PERSISTENT;
    props.headers = headers.get();
    if (!m.type.empty()) {
      props._flags |= AMQP_BASIC_TYPE_FLAG;
      props.type = wire::Bytes(m.type);
    }
    if (!m.message_id.empty()) {
      props._flags |= AMQP_BASIC_MESSAGE_ID_FLAG;
      props.message_id = wire::Bytes(m.message_id);
    }
    int rc = amqp_basic_publish(conn_, kPublishChannel, wire::Bytes(m.exchange),
                                wire::Bytes(m.routing_key), /*mandatory=*/1,
                                /*immediate=*/0, &props, wire::Bytes(m.body));
    if (rc != AMQP_STATUS_OK) {
      absl::Status status = wire::LibraryError(rc, "amqp.Publish");
      command.done(status);
      return status;
    }
    pending_.emplace(tag, Pending{std::move(command.done), absl::OkStatus()});
    return absl::OkStatus();
  }

  // Reads at most one frame without waiting.
  absl::Status ReadFrame() {
    timeval zero{0, 0};
    amqp_frame_t frame;
    int rc = amqp_simple_wait_frame_noblock(conn_, &frame, &zero);
    if (rc == AMQP_STATUS_TIMEOUT) return absl::OkStatus();
    if (rc != AMQP_STATUS_OK) return wire::LibraryError(rc, "amqp.Read");
    absl::Status status = HandleFrame(frame);
    amqp_maybe_release_buffers(conn_);
    return status;
  }

  absl::Status HandleFrame(const amqp_frame_t& frame) {
    if (frame.frame_type != AMQP_FRAME_METHOD) return absl::OkStatus();
    const amqp_method_t& method = frame.payload.method;
    switch (method.id) {
      case AMQP_BASIC_DELIVER_METHOD:
        return OnDeliver(
            frame.channel,
            *static_cast<const amqp_basic_deliver_t*>(method.decoded));
      case AMQP_BASIC_ACK_METHOD: {
        const auto* ack = static_cast<const amqp_basic_ack_t*>(method.decoded);
        Settle(ack->delivery_tag, ack->multiple, absl::OkStatus());
        return absl::OkStatus();
      }
      case AMQP_BASIC_NACK_METHOD: {
        const auto* nack =
            static_cast<const amqp_basic_nack_t*>(method.decoded);
        Settle(
            nack->delivery_tag, nack->multiple,
            absl::InternalError("amqp.Publish: the broker nacked the message"));
        // ebats sets no queue length limits, so a nack means a queue could
        // not take the message (a quorum queue without a leader). A channel
        // that met a leaderless queue can keep nacking after a new leader is
        // elected (seen with RabbitMQ 3.10 when a cluster node dies), so
        // start afresh: the reconnect backoff keeps this from spinning.
        return absl::UnavailableError(
            "amqp.Publish: the broker nacked a publish (a queue without a "
            "leader?); reconnecting");
      }
      case AMQP_CONNECTION_BLOCKED_METHOD: {
        const auto* blocked =
            static_cast<const amqp_connection_blocked_t*>(method.decoded);
        blocked_ = true;
        blocked_reason_ = wire::String(blocked->reason);
        spdlog::warn(
            "amqp: the broker blocks publishing ({}; {}): a resource alarm. "
            "Publishes wait until it lifts",
            blocked_reason_, s_.options_.connection_name);
        s_.NotifyBlocked(true, blocked_reason_);
        return absl::OkStatus();
      }
      case AMQP_CONNECTION_UNBLOCKED_METHOD:
        return OnUnblocked();
      case AMQP_BASIC_RETURN_METHOD:
        return OnReturn(frame.channel, *static_cast<const amqp_basic_return_t*>(
                                           method.decoded));
      case AMQP_BASIC_CANCEL_METHOD:
        return absl::UnavailableError(
            "amqp.Consume: the broker canceled a consumer "
            "(queue deleted?); reconnecting");
      case AMQP_CHANNEL_CLOSE_METHOD: {
        const auto* close =
            static_cast<const amqp_channel_close_t*>(method.decoded);
        std::string why = absl::StrCat(
            "amqp: channel ", frame.channel,
            " closed by broker: ", wire::String(close->reply_text));
        amqp_channel_close_ok_t close_ok;
        amqp_send_method(conn_, frame.channel, AMQP_CHANNEL_CLOSE_OK_METHOD,
                         &close_ok);
        FailPending(close->reply_code == 404 ? absl::NotFoundError(why)
                                             : absl::UnavailableError(why));
        return absl::UnavailableError(why);
      }
      case AMQP_CONNECTION_CLOSE_METHOD: {
        const auto* close =
            static_cast<const amqp_connection_close_t*>(method.decoded);
        amqp_connection_close_ok_t close_ok;
        amqp_send_method(conn_, 0, AMQP_CONNECTION_CLOSE_OK_METHOD, &close_ok);
        return absl::UnavailableError(
            absl::StrCat("amqp: connection closed by broker: ",
                         wire::String(close->reply_text)));
      }
      default:
        return absl::OkStatus();
    }
  }

  absl::Status OnDeliver(amqp_channel_t channel,
                         const amqp_basic_deliver_t& deliver) {
    Delivery delivery;
    delivery.delivery_tag = deliver.delivery_tag;
    delivery.redelivered = deliver.redelivered != 0;
    delivery.exchange = wire::String(deliver.exchange);
    delivery.routing_key = wire::String(deliver.routing_key);
    delivery.connection_generation = generation_;
    auto it = consumer_index_.find(wire::String(deliver.consumer_tag));
    amqp_message_t message;
    absl::Status read =
        Check(amqp_read_message(conn_, channel, &message, 0), "amqp.Deliver");
    if (!read.ok()) return read;
    const amqp_basic_properties_t& p = message.properties;
    if (p._flags & AMQP_BASIC_TYPE_FLAG) delivery.type = wire::String(p.type);
    if (p._flags & AMQP_BASIC_MESSAGE_ID_FLAG)
      delivery.message_id = wire::String(p.message_id);
    if (p._flags & AMQP_BASIC_HEADERS_FLAG)
      delivery.headers = wire::ReadTable(p.headers);
    delivery.body = wire::String(message.body);
    amqp_destroy_message(&message);
    // Until acked or rejected, no multiple-ack may cover it (see FlushAcks).
    unsettled_.insert(delivery.delivery_tag);
    if (it == consumer_index_.end()) {
      // A delivery for a consumer we canceled; it will be redelivered.
      return absl::OkStatus();
    }
    const Consumer& consumer = s_.consumers_[it->second];
    delivery.queue = consumer.queue;
    consumer.handler(std::move(delivery));
    return absl::OkStatus();
  }

  absl::Status OnReturn(amqp_channel_t channel,
                        const amqp_basic_return_t& ret) {
    std::string why = absl::StrCat(
        "amqp.Publish: message returned as unroutable (exchange \"",
        wire::String(ret.exchange), "\", routing key \"",
        wire::String(ret.routing_key), "\"): ", wire::String(ret.reply_text));
    amqp_message_t message;
    absl::Status read =
        Check(amqp_read_message(conn_, channel, &message, 0), "amqp.Return");
    if (!read.ok()) return read;
    int64_t seq = -1;
    if (message.properties._flags & AMQP_BASIC_HEADERS_FLAG) {
      for (const auto& [key, value] :
           wire::ReadTable(message.properties.headers)) {
        if (key == kSeqHeader && std::holds_alternative<int64_t>(value)) {
          seq = std::get<int64_t>(value);
        }
      }
    }
    amqp_destroy_message(&message);
    auto it = pending_.find(static_cast<uint64_t>(seq));
    if (it != pending_.end()) it->second.returned = absl::NotFoundError(why);
    return absl::OkStatus();
  }

  // Sends the publishes held while blocked, in order.
  absl::Status OnUnblocked() {
    if (!blocked_) return absl::OkStatus();
    blocked_ = false;
    spdlog::info("amqp: publishing no longer blocked ({}); sending {} held",
                 s_.options_.connection_name, held_.size());
    s_.NotifyBlocked(false, "");
    std::deque<Command> held = std::move(held_);
    held_.clear();
    while (!held.empty()) {
      absl::Status status = PublishNow(held.front());
      held.pop_front();
      if (!status.ok()) {
        FailCommands(held, status);
        return status;
      }
    }
    return absl::OkStatus();
  }

  void FailHeld(const absl::Status& why) {
    std::deque<Command> held = std::move(held_);
    held_.clear();
    FailCommands(held, why);
  }

  void Settle(uint64_t tag, bool multiple, const absl::Status& status) {
    auto end = multiple ? pending_.upper_bound(tag) : pending_.find(tag);
    auto begin = multiple ? pending_.begin() : end;
    if (!multiple) {
      if (end == pending_.end()) return;
      ++end;
    }
    for (auto it = begin; it != end;) {
      it->second.done(it->second.returned.ok() ? status : it->second.returned);
      it = pending_.erase(it);
    }
  }

  // On Shutdown: keeps running acks (and any command already queued) and
  // reading confirms until nothing is outstanding or a bounded wait is over,
  // so a clean shutdown neither loses a confirm nor drops an ack. Not while
  // the broker blocks the connection: it reads nothing until the alarm lifts.
  absl::Status Drain() {
    absl::Time deadline = absl::Now() + kShutdownConfirmWait;
    for (;;) {
      bool stopping;
      size_t executed;
      EBATS_RETURN_IF_ERROR(RunQueuedCommands(&stopping, &executed));
      if ((pending_.empty() && executed == 0) || blocked_ ||
          absl::Now() >= deadline) {
        break;
      }
      if (!amqp_frames_enqueued(conn_) && !amqp_data_in_buffer(conn_))
        WaitForWork(20);
      EBATS_RETURN_IF_ERROR(ReadFrame());
    }
    // What finished must not come back: acks held behind a delivery that
    // stays unsettled go now, one by one.
    if (!blocked_) EBATS_RETURN_IF_ERROR(SendAcksOneByOne());
    return StoppingStatus();
  }

  void FailCommands(std::deque<Command>& batch, const absl::Status& why) {
    for (auto& command : batch) {
      if (command.done) command.done(why);
    }
  }

  Session& s_;
  const BrokerUrl url_;
  const uint64_t generation_;
  amqp_connection_state_t conn_;
  uint64_t next_tag_ = 1;

  // Deliveries on this connection neither acked nor rejected yet. B-trees:
  // two inserts and two erases per delivery, without a node allocation each.
  absl::btree_set<uint64_t> unsettled_;
  // Acked and not yet sent: by the current batch of commands, or held
  // behind an older delivery (see FlushAcks).
  absl::btree_set<uint64_t> acked_;
  std::map<uint64_t, Pending> pending_;
  std::map<std::string, size_t> consumer_index_;
  // While the broker blocks publishing: its reason and the publishes held.
  bool blocked_ = false;
  std::string blocked_reason_;
  std::deque<Command> held_;
};

Session::Session(SessionOptions options) : options_(std::move(options)) {
  wake_fd_ = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
}

Session::~Session() {
  Shutdown();
  if (wake_fd_ >= 0) close(wake_fd_);
}

void Session::AddConsumer(std::string queue, DeliveryHandler handler,
                          uint16_t prefetch) {
  consumers_.push_back(
      Consumer{std::move(queue), std::move(handler), prefetch});
}

void Session::SetStateHandler(StateHandler handler) {
  state_handler_ = std::move(handler);
}

void Session::SetBlockedHandler(BlockedHandler handler) {
  blocked_handler_ = std::move(handler);
}

std::string Session::BlockedReason() const {
  if (!blocked_.load(std::memory_order_acquire)) return "";
  absl::MutexLock lock(&mu_);
  return blocked_reason_;
}

void Session::Start() {
  if (started_) return;
  started_ = true;
  thread_ = std::thread([this] { Run(); });
}

void Session::Shutdown() {
  {
    absl::MutexLock lock(&mu_);
    if (stopping_) return;
    stopping_ = true;
  }
  Wake();
  // Still connecting (or waiting to): nothing was received or accepted on
  // this connection, so there is nothing to settle or confirm.
  if (!up_.load(std::memory_order_acquire)) CutConnection();
  if (started_ &&
      !exited_.WaitForNotificationWithTimeout(options_.shutdown_grace)) {
    CutConnection();
  }
  if (thread_.joinable()) thread_.join();
  FailQueued(absl::UnavailableError("amqp: session shut down"));
}

void Session::SetLiveSocket(int fd) {
  absl::MutexLock lock(&socket_mu_);
  if (live_socket_ >= 0) close(live_socket_);
  // A copy of our own: rabbitmq-c closes its descriptor on some errors
  // before the connection ends, and the number may then be reused by anyone.
  live_socket_ = fd >= 0 ? fcntl(fd, F_DUPFD_CLOEXEC, 0) : -1;
  if (live_socket_ >= 0 && cut_) shutdown(live_socket_, SHUT_RDWR);
}

void Session::CutConnection() {
  absl::MutexLock lock(&socket_mu_);
  cut_ = true;
  if (live_socket_ >= 0) shutdown(live_socket_, SHUT_RDWR);
}

void Session::Wake() {
  if (!wake_pending_.exchange(true, std::memory_order_acq_rel)) {
    uint64_t one = 1;
    [[maybe_unused]] ssize_t n = write(wake_fd_, &one, sizeof(one));
  }
}

void Session::Post(Command command) {
  // While shutting down, only acks and rejects of work already received are
  // taken, so that draining consumers can settle what they finished.
  const bool settles = command.kind == Command::Kind::kAck ||
                       command.kind == Command::Kind::kReject;
  {
    absl::MutexLock lock(&mu_);
    if ((!stopping_ || settles) && up_.load(std::memory_order_acquire)) {
      commands_.push_back(std::move(command));
      command.done = nullptr;
    }
  }
  if (command.done) {
    command.done(absl::UnavailableError("amqp: not connected to any broker"));
    return;
  }
  Wake();
}

void Session::Publish(Message message, Completion done) {
  Command command;
  command.kind = Command::Kind::kPublish;
  command.message = std::move(message);
  command.done = std::move(done);
  Post(std::move(command));
}

absl::Status Session::PublishAndWait(Message message, absl::Duration timeout) {
  struct Outcome {
    absl::Notification done;
    absl::Status status;
  };
  auto outcome = std::make_shared<Outcome>();
  Publish(std::move(message), [outcome](absl::Status status) {
    outcome->status = std::move(status);
    outcome->done.Notify();
  });
  if (!outcome->done.WaitForNotificationWithTimeout(timeout)) {
    return absl::DeadlineExceededError("amqp.Publish: no confirm in time");
  }
  return outcome->status;
}

void Session::Ack(const DeliveryTag& delivery) {
  Command command;
  command.kind = Command::Kind::kAck;
  command.delivery_tag = delivery.tag;
  command.generation = delivery.connection_generation;
  Post(std::move(command));
}

void Session::Forward(Message message, const DeliveryTag& delivery,
                      Completion done) {
  Publish(std::move(message),
          [this, delivery, done = std::move(done)](absl::Status status) {
            if (status.ok()) {
              Ack(delivery);
            } else {
              Reject(delivery, /*requeue=*/true);
            }
            if (done) done(status);
          });
}

void Session::Reject(const DeliveryTag& delivery, bool requeue) {
  Command command;
  command.kind = Command::Kind::kReject;
  command.delivery_tag = delivery.tag;
  command.generation = delivery.connection_generation;
  command.requeue = requeue;
  Post(std::move(command));
}

void Session::Declare(Topology topology, Completion done) {
  {
    absl::MutexLock lock(&mu_);
    extra_topology_.Merge(topology);
  }
  Command command;
  command.kind = Command::Kind::kDeclare;
  command.topology = std::move(topology);
  command.done = std::move(done);
  Post(std::move(command));
}

void Session::InspectQueues(std::vector<std::string> queues,
                            CountsHandler done) {
  auto counts = std::make_shared<std::vector<QueueCounts>>();
  Command command;
  command.kind = Command::Kind::kInspect;
  command.queues = std::move(queues);
  command.counts = counts;
  command.done = [counts, done = std::move(done)](absl::Status status) {
    if (status.ok()) {
      done(std::move(*counts));
    } else {
      done(std::move(status));
    }
  };
  Post(std::move(command));
}

void Session::StopConsuming() {
  {
    absl::MutexLock lock(&mu_);
    consuming_ = false;
  }
  Command command;
  command.kind = Command::Kind::kStopConsuming;
  Post(std::move(command));
}

bool Session::Sleep(absl::Duration timeout) {
  // Re-armed before stopping_ is read: a Shutdown() before this point is
  // seen below, and any later one writes the eventfd. (A wake-up read by a
  // connection that failed before it ran its commands left the flag set, and
  // a Shutdown() then slept out the whole wait.)
  wake_pending_.store(false, std::memory_order_release);
  {
    absl::MutexLock lock(&mu_);
    if (stopping_) return false;
  }
  pollfd fd{wake_fd_, POLLIN, 0};
  poll(&fd, 1, static_cast<int>(absl::ToInt64Milliseconds(timeout)));
  uint64_t count;
  [[maybe_unused]] ssize_t n = read(wake_fd_, &count, sizeof(count));
  wake_pending_.store(false, std::memory_order_release);
  absl::MutexLock lock(&mu_);
  return !stopping_;
}

void Session::FailQueued(const absl::Status& why) {
  std::deque<Command> queued;
  {
    absl::MutexLock lock(&mu_);
    queued.swap(commands_);
  }
  for (auto& command : queued) {
    if (command.done) command.done(why);
  }
}

void Session::Notify(bool up, const absl::Status& why) {
  up_.store(up, std::memory_order_release);
  if (state_handler_) state_handler_(up, why);
}

void Session::NotifyBlocked(bool blocked, const std::string& reason) {
  {
    absl::MutexLock lock(&mu_);
    // A reason is not always given; "blocked" still says it is.
    blocked_reason_ = blocked ? (reason.empty() ? "blocked" : reason) : "";
    blocked_.store(blocked, std::memory_order_release);
  }
  if (blocked_handler_) blocked_handler_(blocked, reason);
}

void Session::Run() {
  absl::BitGen gen;
  absl::Duration backoff = options_.reconnect_min;
  size_t broker = 0;
  bool was_up = false;
  for (;;) {
    Topology topology = options_.topology;
    bool consuming;
    {
      absl::MutexLock lock(&mu_);
      if (stopping_) break;
      topology.Merge(extra_topology_);
      consuming = consuming_;
    }
    const BrokerUrl& url = options_.brokers[broker];
    // Ends before the wait for the next attempt: its unconfirmed publishes
    // fail and its socket closes when it is lost, not after the wait.
    std::optional<Connection> current;
    Connection& connection = current.emplace(*this, url, ++generation_);
    absl::Status status = connection.Open();
    if (status.ok()) status = connection.DeclareTopology(topology);
    if (status.ok() && consuming) status = connection.StartConsumers();
    if (status.ok()) {
      connects_.fetch_add(1, std::memory_order_relaxed);
      backoff = options_.reconnect_min;
      spdlog::info("amqp: connected to {} ({})", url.Redacted(),
                   options_.connection_name);
      was_up = true;
      Notify(true, absl::OkStatus());
      status = connection.Serve();
      {
        // No command may slip in between here and the next connect.
        absl::MutexLock lock(&mu_);
        up_.store(false, std::memory_order_release);
      }
      if (status == StoppingStatus()) {
        connection.Close();
        Notify(false, status);
        break;
      }
      if (Cut()) {
        spdlog::warn(
            "amqp: connection to {} did not close within {} of shutdown and "
            "was dropped: {}",
            url.Redacted(), absl::FormatDuration(options_.shutdown_grace),
            status.ToString());
        Notify(false, status);
        break;
      }
      spdlog::warn("amqp: connection to {} lost: {}", url.Redacted(),
                   status.ToString());
    } else if (Cut()) {
      break;  // by Shutdown() while connecting
    } else if (absl::IsFailedPrecondition(status) ||
               absl::IsPermissionDenied(status)) {
      spdlog::error("amqp: cannot use broker {}: {}", url.Redacted(),
                    status.ToString());
    } else {
      spdlog::warn("amqp: cannot connect to {}: {}", url.Redacted(),
                   status.ToString());
    }
    current.reset();
    if (was_up || !status.ok()) Notify(false, status);
    was_up = false;
    FailQueued(
        absl::UnavailableError(absl::StrCat("amqp: ", status.message())));
    broker = (broker + 1) % options_.brokers.size();
    // Full jitter keeps many services from reconnecting in lockstep.
    absl::Duration wait =
        backoff * absl::Uniform(gen, 0.0, 1.0) + options_.reconnect_min / 2;
    backoff = std::min(backoff * 2, options_.reconnect_max);
    if (!Sleep(wait)) break;
  }
  up_.store(false, std::memory_order_release);
  exited_.Notify();
}

bool Session::Cut() {
  absl::MutexLock lock(&socket_mu_);
  return cut_;
}

}  // namespace ebats::amqp
