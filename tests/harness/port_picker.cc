#include "tests/harness/port_picker.h"

#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "tests/harness/loopback.h"

namespace ebats::testing {

bool PortBinds(int port) {
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  const bool binds = BindLoopback(fd, port);
  close(fd);
  return binds;
}

PortPicker::PortPicker(std::string lock_path, int lowest, int highest)
    : lock_path_(std::move(lock_path)), lowest_(lowest), highest_(highest) {}

PortPicker::~PortPicker() {
  absl::MutexLock lock(&mu_);
  if (lock_fd_ >= 0) close(lock_fd_);  // drops every reservation
}

bool PortPicker::Lock(int first, int count, short type) {
  // One byte per port. OFD locks belong to this open file description, so
  // two pickers in one process (a test of this class) exclude each other
  // just as two processes do.
  struct flock range {};
  range.l_type = type;
  range.l_whence = SEEK_SET;
  range.l_start = first;
  range.l_len = count;
  return fcntl(lock_fd_, F_OFD_SETLK, &range) == 0;
}

absl::StatusOr<int> PortPicker::Pick(int count) {
  absl::MutexLock lock(&mu_);
  if (lock_fd_ < 0) {
    lock_fd_ = open(lock_path_.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (lock_fd_ < 0) {
      return absl::UnavailableError(
          absl::StrCat("cannot open the port lock file ", lock_path_, ": ",
                       std::strerror(errno)));
    }
  }
  const int starts = highest_ - lowest_ + 2 - count;
  if (count < 1 || starts < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat(count, " ports do not fit in ", lowest_, "-", highest_));
  }
  const int offset = std::uniform_int_distribution<int>(0, starts - 1)(random_);
  for (int i = 0; i < starts; ++i) {
    const int first = lowest_ + (offset + i) % starts;
    auto usable = [&](auto&& test) {
      for (int port = first; port < first + count; ++port) {
        if (!test(port)) return false;
      }
      return true;
    };
    if (!usable([&](int port) { return !handed_out_.contains(port); })) {
      continue;
    }
    if (!Lock(first, count, F_WRLCK)) continue;
    if (!usable(PortBinds)) {
      // None of these was handed out, so unlocking the run frees only what
      // this attempt took.
      Lock(first, count, F_UNLCK);
      continue;
    }
    for (int port = first; port < first + count; ++port) {
      handed_out_.insert(port);
    }
    return first;
  }
  return absl::ResourceExhaustedError(absl::StrCat(
      "no ", count, " free consecutive ports in ", lowest_, "-", highest_));
}

}  // namespace ebats::testing
