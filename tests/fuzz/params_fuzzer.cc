// libFuzzer target: params validation and the name rules never crash on any
// bytes; accepted params are carried unchanged and stay accepted.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "absl/strings/string_view.h"
#include "libs/domain/names.h"
#include "libs/domain/params.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const absl::string_view input(reinterpret_cast<const char*>(data), size);
  auto params = ebats::domain::NormalizeParams(input, 64 * 1024);
  if (params.ok()) {
    const bool carried = input.empty() ? *params == "{}" : *params == input;
    auto again = ebats::domain::NormalizeParams(*params, 64 * 1024);
    if (!carried || !again.ok() || *again != *params) {
      std::fprintf(stderr, "accepted params not carried unchanged\n");
      std::abort();
    }
  }
  (void)ebats::domain::ValidateEventName(input);
  (void)ebats::domain::ValidateTopicName(input);
  (void)ebats::domain::ValidateTaskName(input);
  (void)ebats::domain::ValidateId(input, "id");
  return 0;
}
