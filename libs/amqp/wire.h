// Conversions between ebats types and rabbitmq-c structures. Internal to
// libs/amqp; used only on a Session's owner thread.
#ifndef EBATS_LIBS_AMQP_WIRE_H_
#define EBATS_LIBS_AMQP_WIRE_H_

#include <amqp.h>

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "libs/amqp/topology.h"

namespace ebats::amqp::wire {

inline amqp_bytes_t Bytes(absl::string_view s) {
  return amqp_bytes_t{s.size(), const_cast<char*>(s.data())};
}
inline std::string String(amqp_bytes_t b) {
  return std::string(static_cast<const char*>(b.bytes), b.len);
}

// An amqp_table_t over fields it owns; valid while the Table lives.
class Table {
 public:
  explicit Table(FieldTable fields);
  Table(const Table&) = delete;
  Table& operator=(const Table&) = delete;
  const amqp_table_t& get() const { return table_; }

 private:
  FieldTable fields_;
  std::vector<amqp_table_entry_t> entries_;
  amqp_table_t table_;
};

// Reads string and integer entries of `table`; other kinds are skipped.
FieldTable ReadTable(const amqp_table_t& table);

// What went wrong in a reply, and how bad it is.
enum class Severity { kOk, kChannel, kConnection };
struct ReplyError {
  Severity severity = Severity::kOk;
  // Reply code of a channel or connection close (e.g. 404, 406), else 0.
  int code = 0;
  absl::Status status;
};

// Classifies an RPC reply: a channel.close means reopen the channel, anything
// else that failed means the connection is gone. `op` starts the message.
ReplyError CheckReply(const amqp_rpc_reply_t& reply, absl::string_view op);

// Status for a library error code (AMQP_STATUS_*) from a non-RPC call.
absl::Status LibraryError(int code, absl::string_view op);

}  // namespace ebats::amqp::wire

#endif  // EBATS_LIBS_AMQP_WIRE_H_
