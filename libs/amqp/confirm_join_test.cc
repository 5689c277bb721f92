#include "libs/amqp/confirm_join.h"

#include <thread>
#include <vector>

#include "gtest/gtest.h"

namespace ebats::amqp {
namespace {

TEST(JoinConfirmsTest, RunsOnceAfterTheLastConfirm) {
  int calls = 0;
  absl::Status seen = absl::UnknownError("not called");
  auto confirm = JoinConfirms(3, [&](absl::Status status) {
    ++calls;
    seen = status;
  });
  confirm(absl::OkStatus());
  confirm(absl::OkStatus());
  EXPECT_EQ(calls, 0);
  confirm(absl::OkStatus());
  EXPECT_EQ(calls, 1);
  EXPECT_TRUE(seen.ok()) << seen;
}

TEST(JoinConfirmsTest, ReportsTheFirstError) {
  absl::Status seen;
  auto confirm = JoinConfirms(3, [&](absl::Status status) { seen = status; });
  confirm(absl::OkStatus());
  confirm(absl::UnavailableError("first"));
  confirm(absl::InternalError("second"));
  EXPECT_EQ(seen, absl::UnavailableError("first"));
}

TEST(JoinConfirmsTest, NothingToWaitForCompletesAtOnce) {
  int calls = 0;
  auto confirm = JoinConfirms(0, [&](absl::Status status) {
    EXPECT_TRUE(status.ok());
    ++calls;
  });
  EXPECT_EQ(calls, 1);
  EXPECT_FALSE(confirm);
}

TEST(JoinConfirmsTest, ConfirmsFromManyThreadsCompleteOnce) {
  constexpr int kThreads = 8;
  constexpr int kPerThread = 1000;
  std::atomic<int> calls{0};
  absl::Status seen;
  auto confirm = JoinConfirms(kThreads * kPerThread, [&](absl::Status status) {
    seen = status;
    calls.fetch_add(1);
  });
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        confirm(t == 3 && i == 500 ? absl::DataLossError("lost")
                                   : absl::OkStatus());
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  EXPECT_EQ(calls.load(), 1);
  EXPECT_EQ(seen, absl::DataLossError("lost"));
}

}  // namespace
}  // namespace ebats::amqp
