// The report of a whole benchmark set (bench/run-all.sh): every figure of the
// set's per-scenario reports (bench/run.sh's JSON files) in one table, each
// rate also as a share of the broker limit measured in the same set, and the
// targets of issue 5 (and the lateness target of issue 3) marked met or not
// met by the median. Pure: JSON text in, Markdown and JSON text out.
#ifndef EBATS_BENCH_SET_REPORT_H_
#define EBATS_BENCH_SET_REPORT_H_

#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"

namespace ebats::bench {

struct SetReport {
  std::string markdown;
  std::string json;
};

// `reports`: (file name, contents) of the set's JSON reports, in run order.
// INVALID_ARGUMENT names a file that is not such a report.
absl::StatusOr<SetReport> BuildSetReport(
    const std::vector<std::pair<std::string, std::string>>& reports);

}  // namespace ebats::bench

#endif  // EBATS_BENCH_SET_REPORT_H_
