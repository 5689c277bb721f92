// libFuzzer target: whatever arrives on a task queue, ebats.results or the
// scheduler's input is decoded without crashing, and what decodes survives
// a round trip through the encoder unchanged.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "libs/codec/message_codec.h"
#include "libs/domain/broker_names.h"

namespace {

using ::ebats::amqp::Delivery;

Delivery AsDelivery(const ebats::amqp::Message& m) {
  Delivery d;
  d.exchange = m.exchange;
  d.body = m.body;
  d.type = m.type;
  d.headers = m.headers;
  return d;
}

void Check(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "round trip broken: %s\n", what);
    std::abort();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  Delivery delivery;
  delivery.body.assign(reinterpret_cast<const char*>(data), size);
  for (const char* type :
       {ebats::domain::kTypeTask, ebats::domain::kTypeResult,
        ebats::domain::kTypeResultBatch,
        ebats::domain::kTypeEvent, ebats::domain::kTypeTaskRequest, ""}) {
    delivery.type = type;
    if (auto task = ebats::codec::DecodeTask(delivery); task.ok()) {
      auto again = ebats::codec::DecodeTask(
          AsDelivery(ebats::codec::EncodeTask(*task)));
      Check(again.ok() && again->SerializeAsString() ==
                              task->SerializeAsString(),
            "task");
    }
    if (auto result = ebats::codec::DecodeResult(delivery); result.ok()) {
      auto again = ebats::codec::DecodeResult(
          AsDelivery(ebats::codec::EncodeResult(*result)));
      Check(again.ok() && again->SerializeAsString() ==
                              result->SerializeAsString(),
            "result");
    }
    if (auto results = ebats::codec::DecodeResults(delivery); results.ok()) {
      auto again = ebats::codec::DecodeResults(
          AsDelivery(ebats::codec::EncodeResults(*results)));
      Check(again.ok() && again->size() == results->size(), "result batch");
    }
    (void)ebats::codec::DecodeSchedulerInput(delivery);
  }
  return 0;
}
