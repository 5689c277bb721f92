// Status propagation helpers; Abseil 20220623 ships none.
#ifndef EBATS_LIBS_COMMON_STATUS_MACROS_H_
#define EBATS_LIBS_COMMON_STATUS_MACROS_H_

#include "absl/status/status.h"
#include "absl/status/statusor.h"

// Returns from the enclosing function if `expr` (an absl::Status) is not OK.
#define EBATS_RETURN_IF_ERROR(expr)                \
  do {                                             \
    ::absl::Status ebats_status_ = (expr);         \
    if (!ebats_status_.ok()) return ebats_status_; \
  } while (0)

#define EBATS_CONCAT_INNER_(a, b) a##b
#define EBATS_CONCAT_(a, b) EBATS_CONCAT_INNER_(a, b)

// `EBATS_ASSIGN_OR_RETURN(auto x, F());` declares x from an OK StatusOr or
// returns its status from the enclosing function.
#define EBATS_ASSIGN_OR_RETURN(lhs, expr)                                     \
  EBATS_ASSIGN_OR_RETURN_IMPL_(EBATS_CONCAT_(ebats_statusor_, __LINE__), lhs, \
                               expr)
#define EBATS_ASSIGN_OR_RETURN_IMPL_(statusor, lhs, expr) \
  auto statusor = (expr);                                 \
  if (!statusor.ok()) return statusor.status();           \
  lhs = std::move(statusor).value()

#endif  // EBATS_LIBS_COMMON_STATUS_MACROS_H_
