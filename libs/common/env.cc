#include "libs/common/env.h"

#include <cstdlib>

namespace ebats {

std::string EnvOr(const char* name, const std::string& fallback) {
  const char* value = std::getenv(name);
  return (value == nullptr || *value == '\0') ? fallback : std::string(value);
}

}  // namespace ebats
