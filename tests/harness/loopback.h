// 127.0.0.1 for the harness and its tests: every test socket lives on
// loopback.
#ifndef EBATS_TESTS_HARNESS_LOOPBACK_H_
#define EBATS_TESTS_HARNESS_LOOPBACK_H_

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

namespace ebats::testing {

inline sockaddr_in LoopbackAddress(int port) {
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<uint16_t>(port));
  return addr;
}

// Binds the socket `fd` to 127.0.0.1:`port`; false (errno set) on failure.
inline bool BindLoopback(int fd, int port) {
  const sockaddr_in addr = LoopbackAddress(port);
  return bind(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof(addr)) == 0;
}

// Connects the socket `fd` to 127.0.0.1:`port`; false (errno set) on failure.
inline bool ConnectLoopback(int fd, int port) {
  const sockaddr_in addr = LoopbackAddress(port);
  return connect(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof(addr)) ==
         0;
}

}  // namespace ebats::testing

#endif  // EBATS_TESTS_HARNESS_LOOPBACK_H_
