#include "libs/amqp/wire.h"

#include <amqp_framing.h>

#include "absl/strings/str_cat.h"

namespace ebats::amqp::wire {

Table::Table(FieldTable fields) : fields_(std::move(fields)) {
  entries_.reserve(fields_.size());
  for (const auto& [key, value] : fields_) {
    amqp_table_entry_t entry{};
    entry.key = Bytes(key);
    if (const auto* s = std::get_if<std::string>(&value)) {
      entry.value.kind = AMQP_FIELD_KIND_UTF8;
      entry.value.value.bytes = Bytes(*s);
    } else {
      entry.value.kind = AMQP_FIELD_KIND_I64;
      entry.value.value.i64 = std::get<int64_t>(value);
    }
    entries_.push_back(entry);
  }
  table_.num_entries = static_cast<int>(entries_.size());
  table_.entries = entries_.empty() ? nullptr : entries_.data();
}

FieldTable ReadTable(const amqp_table_t& table) {
  FieldTable fields;
  for (int i = 0; i < table.num_entries; ++i) {
    const amqp_table_entry_t& e = table.entries[i];
    std::string key = String(e.key);
    const amqp_field_value_t& v = e.value;
    switch (v.kind) {
      case AMQP_FIELD_KIND_UTF8:
      case AMQP_FIELD_KIND_BYTES:
        fields.emplace_back(std::move(key), String(v.value.bytes));
        break;
      case AMQP_FIELD_KIND_I8:
        fields.emplace_back(std::move(key), int64_t{v.value.i8});
        break;
      case AMQP_FIELD_KIND_U8:
        fields.emplace_back(std::move(key), int64_t{v.value.u8});
        break;
      case AMQP_FIELD_KIND_I16:
        fields.emplace_back(std::move(key), int64_t{v.value.i16});
        break;
      case AMQP_FIELD_KIND_U16:
        fields.emplace_back(std::move(key), int64_t{v.value.u16});
        break;
      case AMQP_FIELD_KIND_I32:
        fields.emplace_back(std::move(key), int64_t{v.value.i32});
        break;
      case AMQP_FIELD_KIND_U32:
        fields.emplace_back(std::move(key), int64_t{v.value.u32});
        break;
      case AMQP_FIELD_KIND_I64:
      case AMQP_FIELD_KIND_TIMESTAMP:
        fields.emplace_back(std::move(key), static_cast<int64_t>(v.value.i64));
        break;
      case AMQP_FIELD_KIND_U64:
        fields.emplace_back(std::move(key), static_cast<int64_t>(v.value.u64));
        break;
      default:
        break;
    }
  }
  return fields;
}

ReplyError CheckReply(const amqp_rpc_reply_t& reply, absl::string_view op) {
  ReplyError error;
  switch (reply.reply_type) {
    case AMQP_RESPONSE_NORMAL:
      return error;
    case AMQP_RESPONSE_NONE:
      error.severity = Severity::kConnection;
      error.status =
          absl::UnavailableError(absl::StrCat(op, ": no reply from broker"));
      return error;
    case AMQP_RESPONSE_LIBRARY_EXCEPTION:
      error.severity = Severity::kConnection;
      error.status = LibraryError(reply.library_error, op);
      return error;
    case AMQP_RESPONSE_SERVER_EXCEPTION:
      break;
  }
  if (reply.reply.id == AMQP_CHANNEL_CLOSE_METHOD) {
    const auto* close =
        static_cast<const amqp_channel_close_t*>(reply.reply.decoded);
    error.severity = Severity::kChannel;
    error.code = close->reply_code;
    std::string text = absl::StrCat(
        op, ": channel closed by broker: ", String(close->reply_text));
    // 404 and 406 are about what we asked for, not about the broker's health.
    if (close->reply_code == 404) {
      error.status = absl::NotFoundError(text);
    } else if (close->reply_code == 406) {
      error.status = absl::FailedPreconditionError(text);
    } else if (close->reply_code == 403) {
      error.status = absl::PermissionDeniedError(text);
    } else {
      error.status = absl::UnavailableError(text);
    }
    return error;
  }
  error.severity = Severity::kConnection;
  if (reply.reply.id == AMQP_CONNECTION_CLOSE_METHOD) {
    const auto* close =
        static_cast<const amqp_connection_close_t*>(reply.reply.decoded);
    error.code = close->reply_code;
    std::string text = absl::StrCat(
        op, ": connection closed by broker: ", String(close->reply_text));
    error.status = close->reply_code == 403 ? absl::PermissionDeniedError(text)
                                            : absl::UnavailableError(text);
  } else {
    error.status = absl::UnavailableError(absl::StrCat(
        op, ": unexpected method ", amqp_method_name(reply.reply.id)));
  }
  return error;
}

absl::Status LibraryError(int code, absl::string_view op) {
  return absl::UnavailableError(
      absl::StrCat(op, ": ", amqp_error_string2(code)));
}

}  // namespace ebats::amqp::wire
