// Task params: a JSON object carried as the text the producer sent.
#ifndef EBATS_LIBS_DOMAIN_PARAMS_H_
#define EBATS_LIBS_DOMAIN_PARAMS_H_

#include <cstddef>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace ebats::domain {

// Default upper bound of a params text, in bytes.
inline constexpr size_t kDefaultMaxParamsBytes = 256 * 1024;

// Checks that `params` is one JSON object (UTF-8, at most `max_bytes`) and
// returns the text to carry: `params` unchanged, or "{}" when it is empty.
// The text is never re-serialized, so key order and big integers survive.
// INVALID_ARGUMENT says what is wrong and where.
absl::StatusOr<std::string> NormalizeParams(
    absl::string_view params, size_t max_bytes = kDefaultMaxParamsBytes);

}  // namespace ebats::domain

#endif  // EBATS_LIBS_DOMAIN_PARAMS_H_
