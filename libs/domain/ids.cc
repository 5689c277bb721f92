#include "libs/domain/ids.h"

#include <openssl/sha.h>

#include <cstdint>

#include "absl/random/random.h"
#include "absl/strings/escaping.h"
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

}  // namespace

std::string NewRandomId() {
  thread_local absl::BitGen gen;
  return absl::StrCat(
      absl::Hex(absl::Uniform<uint64_t>(gen), absl::kZeroPad16),
      absl::Hex(absl::Uniform<uint64_t>(gen), absl::kZeroPad16));
}

std::string EventIdFromKey(absl::string_view idempotency_key) {
  return Digest(absl::StrCat("event\n", idempotency_key));
}

std::string TaskIdFor(absl::string_view event_id, absl::string_view topic,
                      absl::string_view task, int key_generation) {
  // Newlines cannot appear in any of the parts, so the join is unambiguous.
  // Generation 0 keeps the form ids had before generations existed.
  if (key_generation == 0) {
    return Digest(absl::StrCat("task\n", event_id, "\n", topic, "\n", task));
  }
  return Digest(absl::StrCat("task\n", event_id, "\n", topic, "\n", task, "\n",
                             key_generation));
}

}  // namespace ebats::domain
