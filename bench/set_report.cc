#include "bench/set_report.h"

#include <algorithm>
#include <cmath>
#include <optional>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "nlohmann/json.hpp"

namespace ebats::bench {
namespace {

// Ordered: the figures keep the order the benchmark wrote them in.
using Json = nlohmann::ordered_json;

struct Target {
  bool at_least;  // else at most
  double bound;
  std::string Text() const;
  bool MetBy(double median) const {
    return at_least ? median >= bound : median <= bound;
  }
};

// "12,127" from 100 up, "2.04" below.
std::string Number(double v) {
  if (std::fabs(v) < 100) return absl::StrFormat("%.3g", v);
  const std::string digits = absl::StrFormat("%.0f", std::fabs(v));
  std::string out = v < 0 ? "-" : "";
  for (size_t i = 0; i < digits.size(); ++i) {
    out += digits[i];
    const size_t left = digits.size() - i - 1;
    if (left > 0 && left % 3 == 0) out += ',';
  }
  return out;
}

std::string Target::Text() const {
  return absl::StrCat(at_least ? "≥ " : "≤ ", Number(bound));
}

// The scenario's parameters, shown in its title (from the settings) rather
// than as figures.
bool IsParameter(const std::string& key) {
  for (const char* p :
       {"scenario", "events", "fanout", "topics", "batch", "clients", "rate",
        "duration_seconds", "tasks", "pending", "messages"}) {
    if (key == p) return true;
  }
  return false;
}

// Issue 5's targets, and issue 3's for lateness: default (quorum) mode only.
std::optional<Target> TargetFor(const Json& result, const std::string& field) {
  const std::string scenario = result.value("scenario", "");
  if ((scenario == "throughput" || scenario == "fanout") &&
      field == "tasks_recorded_per_second") {
    const double fanout = result.value("fanout", 1.0);
    if (fanout == 10) return Target{true, 15000};
    if (fanout == 1)
      return Target{true, result.value("batch", 0.0) > 0 ? 10000.0 : 6000.0};
  }
  if (scenario == "latency" && result.value("rate", 0.0) == 200) {
    if (field == "p50_ms") return Target{false, 1.5};
    if (field == "p99_ms") return Target{false, 3};
  }
  if (scenario == "lateness") {
    if (field == "p99_ms") return Target{false, 5};
    if (field == "max_ms") return Target{false, 100};
    if (field == "early" || field == "lost") return Target{false, 0};
  }
  return std::nullopt;
}

struct Row {
  std::string figure;
  double median;
  std::optional<std::pair<double, double>> range;
  std::optional<double> ratio;
  std::optional<Target> target;
  bool percent = false;
};

std::string Cell(double v, bool percent) {
  // Shares near 100% differ in the second decimal (99.95 against 99.99).
  return percent ? absl::StrFormat("%.2f%%", v * 100) : Number(v);
}

}  // namespace

absl::StatusOr<SetReport> BuildSetReport(
    const std::vector<std::pair<std::string, std::string>>& reports) {
  struct Parsed {
    std::string file;
    Json report;
  };
  std::vector<Parsed> parsed;
  double broker_limit = 0;
  for (const auto& [file, text] : reports) {
    Json report = Json::parse(text, nullptr, /*allow_exceptions=*/false);
    if (report.is_discarded() || !report.is_object() ||
        !report.contains("result") || !report["result"].is_object() ||
        !report["result"].contains("scenario") ||
        !report["result"]["scenario"].is_string()) {
      return absl::InvalidArgumentError(
          absl::StrCat(file, " is not a bench/run.sh report"));
    }
    const Json& result = report["result"];
    if (result["scenario"] == "broker" && broker_limit == 0 &&
        result.contains("messages_per_second")) {
      broker_limit = result["messages_per_second"].value("median", 0.0);
    }
    parsed.push_back({file, std::move(report)});
  }
  if (parsed.empty()) return absl::InvalidArgumentError("no reports");

  std::vector<std::string> versions;
  for (const Parsed& p : parsed) {
    const std::string v = p.report.value("versions", "");
    if (std::find(versions.begin(), versions.end(), v) == versions.end())
      versions.push_back(v);
  }
  const std::string machine = parsed[0].report.value("machine", "");

  Json out_json;
  out_json["machine"] = machine;
  out_json["versions"] = versions;
  out_json["broker_limit_per_second"] = broker_limit;
  out_json["figures"] = Json::array();

  std::string table =
      "| report | figure | median | min–max | ÷ broker limit | target (by "
      "the median) |\n| --- | --- | --- | --- | --- | --- |\n";
  int met = 0, not_met = 0;
  for (const Parsed& p : parsed) {
    const Json& result = p.report["result"];
    const std::string scenario = result["scenario"];
    std::string settings = p.report.value("settings", "");
    const bool quorum = !absl::StrContains(settings, "queue_type=classic");
    // "queue_type=quorum --batch=100" -> "--batch=100 (quorum)".
    std::vector<std::string> flags;
    for (absl::string_view part :
         absl::StrSplit(settings, ' ', absl::SkipEmpty())) {
      if (!absl::StartsWith(part, "queue_type=") &&
          !absl::StartsWith(part, "--queue_type=")) {
        flags.emplace_back(part);
      }
    }
    const std::string title =
        absl::StrCat(scenario, " ", absl::StrJoin(flags, " "),
                     quorum ? " (quorum)" : " (classic)");

    std::vector<Row> rows;
    for (const auto& [key, value] : result.items()) {
      if (IsParameter(key)) continue;
      Row row;
      row.figure = key;
      if (value.is_object() && value.contains("median")) {
        row.median = value.value("median", 0.0);
        row.range = {value.value("min", 0.0), value.value("max", 0.0)};
      } else if (value.is_number()) {
        row.median = value.get<double>();
      } else {
        continue;
      }
      // The rates ebats moves tasks and events at (not, say, the machine's
      // late wake-ups per second).
      const bool ebats_rate = scenario == "throughput" ||
                              scenario == "fanout" || scenario == "replay";
      if (ebats_rate && absl::EndsWith(key, "_per_second") &&
          broker_limit > 0) {
        row.ratio = row.median / broker_limit;
      }
      if (quorum) row.target = TargetFor(result, key);
      rows.push_back(std::move(row));
    }
    const Json& release = p.report.contains("due_stage_release")
                              ? p.report["due_stage_release"]
                              : Json();
    if (release.is_object()) {
      for (int ms : {1, 5, 10}) {
        const std::string key = absl::StrCat("within_", ms, "ms");
        if (!release.contains(key)) continue;
        Row row;
        row.figure =
            absl::StrCat("due stage: released within ", ms, " ms of due");
        row.median = release.value(key, 0.0);
        row.percent = true;
        rows.push_back(std::move(row));
      }
    }

    bool first = true;
    for (const Row& row : rows) {
      std::string target_cell = "";
      Json figure;
      figure["report"] = p.file;
      figure["scenario"] = scenario;
      figure["settings"] = settings;
      figure["figure"] = row.figure;
      figure["median"] = row.median;
      if (row.range) {
        figure["min"] = row.range->first;
        figure["max"] = row.range->second;
      }
      if (row.ratio) figure["ratio_to_broker_limit"] = *row.ratio;
      if (row.target) {
        const bool ok = row.target->MetBy(row.median);
        (ok ? met : not_met)++;
        target_cell =
            absl::StrCat(row.target->Text(), ": ", ok ? "met" : "**not met**");
        figure["target"] = row.target->Text();
        figure["met"] = ok;
      }
      out_json["figures"].push_back(std::move(figure));
      absl::StrAppend(
          &table, "| ", first ? absl::StrCat(title, " (`", p.file, "`)") : "",
          " | ", row.figure, " | ", Cell(row.median, row.percent), " | ",
          row.range ? absl::StrCat(Cell(row.range->first, row.percent), "–",
                                   Cell(row.range->second, row.percent))
                    : "",
          " | ", row.ratio ? absl::StrFormat("%.2f", *row.ratio) : "", " | ",
          target_cell, " |\n");
      first = false;
    }
  }
  out_json["targets_met"] = met;
  out_json["targets_not_met"] = not_met;

  std::string markdown = absl::StrCat(
      "# Benchmark set (bench/run-all.sh)\n\n", "- machine: ", machine, "\n",
      "- versions: ", absl::StrJoin(versions, "; "), "\n",
      "- reports: ", parsed.size(), ", from `", parsed.front().file, "` to `",
      parsed.back().file, "`\n", "- broker limit of this set: ",
      broker_limit > 0 ? absl::StrCat(Number(broker_limit), " msg/s")
                       : "not measured",
      "\n", "- targets met by the median: ", met, " of ", met + not_met, "\n\n",
      "Each figure is the median of its report's runs, with their min–max. "
      "Rates are also given as a share of the broker limit measured in this "
      "set. Targets apply to the default (quorum) mode.\n\n",
      table);
  return SetReport{std::move(markdown), out_json.dump()};
}

}  // namespace ebats::bench
