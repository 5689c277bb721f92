#include "libs/domain/names.h"

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"

namespace ebats::domain {
namespace {

absl::Status CheckName(absl::string_view name, absl::string_view what,
                       size_t max_len, absl::string_view extra_chars) {
  if (name.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(what, " is empty"));
  }
  if (name.size() > max_len) {
    return absl::InvalidArgumentError(absl::StrCat(
        what, " is ", name.size(), " characters long; the limit is ", max_len));
  }
  for (char c : name) {
    if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) &&
        extra_chars.find(c) == absl::string_view::npos) {
      return absl::InvalidArgumentError(absl::StrCat(
          what, " \"", absl::CEscape(name),
          "\" has a character outside [A-Za-z0-9", extra_chars, "]"));
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status ValidateEventName(absl::string_view name) {
  return CheckName(name, "event name", 128, "_.:-");
}

absl::Status ValidateTopicName(absl::string_view name) {
  return CheckName(name, "topic name", 64, "_-");
}

absl::Status ValidateTaskName(absl::string_view name) {
  return CheckName(name, "task name", 64, "_-");
}

absl::Status ValidateId(absl::string_view id, absl::string_view what) {
  if (id.empty())
    return absl::InvalidArgumentError(absl::StrCat(what, " is empty"));
  if (id.size() > 64) {
    return absl::InvalidArgumentError(absl::StrCat(
        what, " is ", id.size(), " characters long; the limit is 64"));
  }
  for (char c : id) {
    if (!absl::ascii_isprint(static_cast<unsigned char>(c))) {
      return absl::InvalidArgumentError(
          absl::StrCat(what, " has a non-printable character"));
    }
  }
  return absl::OkStatus();
}

}  // namespace ebats::domain
