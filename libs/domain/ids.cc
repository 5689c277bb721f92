#include "libs/domain/ids.h"

#include <openssl/sha.h>

#include <algorithm>
#include <cstdint>

#include "absl/random/random.h"
#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace ebats::domain {
namespace {

// 128 bits of SHA-256 as hex: collision-free for any realistic id count.
std::string Digest(absl::string_view text) {
  unsigned char hash[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(text.data()), text.size(),
         hash);
  return absl::BytesToHexString(
      absl::string_view(reinterpret_cast<const char*>(hash), 16));
}

constexpr size_t kTimePrefix = 13;  // 12 hex digits and '-'

bool IsTimeOrdered(absl::string_view id) {
  return id.size() == kTimePrefix + 20 && id[kTimePrefix - 1] == '-';
}

bool IsLowerHex(absl::string_view text) {
  return std::all_of(text.begin(), text.end(), [](char c) {
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
  });
}

}  // namespace

std::string NewRandomId() {
  thread_local absl::BitGen gen;
  return absl::StrCat(
      absl::Hex(absl::Uniform<uint64_t>(gen), absl::kZeroPad16),
      absl::Hex(absl::Uniform<uint64_t>(gen), absl::kZeroPad16));
}

std::string NewTimeOrderedId(int64_t now_ms) {
  thread_local absl::BitGen gen;
  return absl::StrCat(
      absl::Hex(static_cast<uint64_t>(std::max<int64_t>(now_ms, 0)) &
                    0xffffffffffffULL,
                absl::kZeroPad12),
      "-", absl::Hex(absl::Uniform<uint64_t>(gen), absl::kZeroPad16),
      absl::Hex(absl::Uniform<uint32_t>(gen) & 0xffffU, absl::kZeroPad4));
}

std::optional<int64_t> TimeOfId(absl::string_view id) {
  if (!IsTimeOrdered(id)) return std::nullopt;
  const absl::string_view time = id.substr(0, kTimePrefix - 1);
  if (!IsLowerHex(time) || !IsLowerHex(id.substr(kTimePrefix)))
    return std::nullopt;
  int64_t ms = 0;
  if (!absl::SimpleHexAtoi(time, &ms)) return std::nullopt;
  return ms;
}

std::string EventIdFromKey(absl::string_view idempotency_key) {
  return Digest(absl::StrCat("event\n", idempotency_key));
}

std::string TaskIdFor(absl::string_view event_id, absl::string_view topic,
                      absl::string_view task, int key_generation) {
  // Newlines cannot appear in any of the parts, so the join is unambiguous.
  // Generation 0 keeps the form ids had before generations existed.
  std::string digest =
      key_generation == 0
          ? Digest(absl::StrCat("task\n", event_id, "\n", topic, "\n", task))
          : Digest(absl::StrCat("task\n", event_id, "\n", topic, "\n", task,
                                "\n", key_generation));
  if (!IsTimeOrdered(event_id)) return digest;
  return absl::StrCat(event_id.substr(0, kTimePrefix),
                      absl::string_view(digest).substr(0, 20));
}

}  // namespace ebats::domain
