// Logging for every ebats binary: spdlog, one line per record, to stderr.
// Call sites use spdlog::info/warn/error directly; this only sets it up.
#ifndef EBATS_LIBS_COMMON_LOGGING_H_
#define EBATS_LIBS_COMMON_LOGGING_H_

#include <string>

namespace ebats {

// Sets the default logger's name and level ("trace".."off"; unknown = info).
// Call once at the start of main, before any thread starts.
void InitLogging(const std::string& program, const std::string& level);

}  // namespace ebats

#endif  // EBATS_LIBS_COMMON_LOGGING_H_
