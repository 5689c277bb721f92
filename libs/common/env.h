// Environment-variable defaults for flags.
#ifndef EBATS_LIBS_COMMON_ENV_H_
#define EBATS_LIBS_COMMON_ENV_H_

#include <string>

namespace ebats {

// The value of environment variable `name`, or `fallback` when it is unset
// or empty. Thread-safe as long as nobody calls setenv concurrently.
std::string EnvOr(const char* name, const std::string& fallback);

}  // namespace ebats

#endif  // EBATS_LIBS_COMMON_ENV_H_
