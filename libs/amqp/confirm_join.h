// Joins the publisher confirms of several messages that stand or fall
// together: an input message is acked only when every task it produced is
// confirmed, an RPC answers once all its events are, a worker settles a task
// once its follow-up messages and its report are.
#ifndef EBATS_LIBS_AMQP_CONFIRM_JOIN_H_
#define EBATS_LIBS_AMQP_CONFIRM_JOIN_H_

#include "libs/amqp/session.h"

namespace ebats::amqp {

// Returns the completion to pass to each of `n` publishes. After its n-th
// call, `done` runs exactly once, on the thread of that call, with OK when
// all n were OK and otherwise the first error seen. The returned completion
// may be copied and called from any thread. With n <= 0, `done(OK)` runs at
// once and the returned completion must not be called.
Session::Completion JoinConfirms(int n, Session::Completion done);

}  // namespace ebats::amqp

#endif  // EBATS_LIBS_AMQP_CONFIRM_JOIN_H_
