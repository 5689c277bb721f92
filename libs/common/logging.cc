#include "libs/common/logging.h"

#include "spdlog/sinks/stdout_sinks.h"
#include "spdlog/spdlog.h"

namespace ebats {

void InitLogging(const std::string& program, const std::string& level) {
  auto logger = spdlog::stderr_logger_mt(program);
  logger->set_pattern("%Y-%m-%dT%H:%M:%S.%e %^%L%$ %n[%P] %v");
  logger->set_level(spdlog::level::from_str(level.empty() ? "info" : level));
  // from_str maps unknown names to "off"; a typo should not silence us.
  if (logger->level() == spdlog::level::off && level != "off") {
    logger->set_level(spdlog::level::info);
  }
  logger->flush_on(spdlog::level::warn);
  spdlog::set_default_logger(logger);
}

}  // namespace ebats
