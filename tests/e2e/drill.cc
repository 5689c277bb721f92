#include "tests/e2e/drill.h"

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "libs/domain/ids.h"
#include "tests/harness/wait.h"

namespace ebats::testing {
namespace {

// Every task of `topic`, by id.
std::map<std::string, v1::Task> AllTasks(client::Client& client,
                                         const std::string& topic) {
  std::map<std::string, v1::Task> tasks;
  v1::ListTasksRequest request;
  request.set_topic(topic);
  request.set_page_size(1000);
  while (true) {
    auto page = client.ListTasks(request);
    if (!page.ok()) return {};
    for (const auto& t : page->tasks()) tasks[t.id()] = t;
    if (page->next_page_token().empty()) return tasks;
    request.set_page_token(page->next_page_token());
  }
}

}  // namespace

Publisher::Publisher(client::Client& client, std::string event, int count,
                     absl::Duration interval)
    : client_(client),
      event_(std::move(event)),
      count_(count),
      interval_(interval) {
  thread_ = std::thread([this] { Run(); });
}

void Publisher::Join() {
  if (thread_.joinable()) thread_.join();
}

std::vector<std::string> Publisher::confirmed() {
  absl::MutexLock lock(&mu_);
  return confirmed_;
}

int Publisher::refused() {
  absl::MutexLock lock(&mu_);
  int n = 0;
  for (const auto& [code, count] : codes_) n += count;
  return n;
}

std::map<absl::StatusCode, int> Publisher::refused_codes() {
  absl::MutexLock lock(&mu_);
  return codes_;
}

std::string Publisher::last_refusal() {
  absl::MutexLock lock(&mu_);
  return last_refusal_;
}

void Publisher::Run() {
  const absl::Time start = absl::Now();
  for (int i = 0; i < count_; ++i) {
    absl::SleepFor(start + i * interval_ - absl::Now());
    v1::PublishEventRequest request;
    request.set_event(event_);
    request.set_params(
        absl::StrCat(R"({"n": )", i, R"(, "retry_percent": 20})"));
    auto published = client_.PublishEvent(request);
    absl::MutexLock lock(&mu_);
    if (published.ok()) {
      confirmed_.push_back(published->event_id());
    } else {
      ++codes_[published.status().code()];
      last_refusal_ = published.status().ToString();
    }
  }
}

std::string DrillResult::Summary() const {
  return absl::StrCat(
      "published=", published, " confirmed=", confirmed,
      " unavailable=", refused, " tasks_succeeded=", succeeded,
      " retried=", retried, " duplicates=", duplicates, " lost=", lost,
      " refused_by_code=", refused_by_code.empty() ? "-" : refused_by_code);
}

DrillResult AwaitDrill(client::Client& client, Publisher& publisher,
                       int published, const std::string& topic,
                       const std::string& task, absl::Duration timeout) {
  publisher.Join();
  const std::vector<std::string> confirmed = publisher.confirmed();
  std::map<std::string, v1::Task> tasks;
  auto missing = [&] {
    int n = 0;
    for (const auto& event_id : confirmed) {
      auto it = tasks.find(domain::TaskIdFor(event_id, topic, task));
      if (it == tasks.end() || it->second.state() != v1::TASK_STATE_SUCCEEDED)
        ++n;
    }
    return n;
  };
  WaitFor(
      [&] {
        tasks = AllTasks(client, topic);
        return missing() == 0;
      },
      timeout);
  DrillResult result;
  result.published = published;
  result.confirmed = static_cast<int>(confirmed.size());
  result.refused = publisher.refused();
  result.lost = missing();
  result.succeeded = result.confirmed - result.lost;
  for (const auto& [id, t] : tasks) {
    result.duplicates += std::max(0, t.runs() - t.attempts());
    if (t.attempts() > 1) ++result.retried;
  }
  result.last_refusal = publisher.last_refusal();
  for (const auto& [code, n] : publisher.refused_codes()) {
    absl::StrAppend(&result.refused_by_code,
                    result.refused_by_code.empty() ? "" : ",",
                    absl::StatusCodeToString(code), ":", n);
  }
  return result;
}

}  // namespace ebats::testing
