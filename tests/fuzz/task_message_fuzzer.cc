// libFuzzer target: whatever arrives on a task queue, ebats.results or the
// scheduler's input is decoded without crashing, and what decodes survives
// a round trip through the encoder unchanged.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

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

std::string Bytes(const google::protobuf::Message& m) {
  return m.SerializeAsString();
}
std::string Bytes(const std::vector<ebats::v1::TaskResult>& results) {
  ebats::v1::TaskResultBatch batch;
  for (const auto& r : results) *batch.add_results() = r;
  return batch.SerializeAsString();
}

void Check(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "round trip broken: %s\n", what);
    std::abort();
  }
}

// What decodes must encode to something that decodes to the same thing.
template <typename Decode, typename Encode>
void RoundTrip(const Delivery& delivery, Decode decode, Encode encode,
               const char* what) {
  auto decoded = decode(delivery);
  if (!decoded.ok()) return;
  auto again = decode(AsDelivery(encode(*decoded)));
  Check(again.ok() && Bytes(*again) == Bytes(*decoded), what);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  Delivery delivery;
  delivery.body.assign(reinterpret_cast<const char*>(data), size);
  for (const char* type :
       {ebats::domain::kTypeTask, ebats::domain::kTypeResult,
        ebats::domain::kTypeResultBatch, ebats::domain::kTypeEvent,
        ebats::domain::kTypeEventBatch, ebats::domain::kTypeTaskRequestBatch,
        ebats::domain::kTypeTaskRequest, ""}) {
    delivery.type = type;
    RoundTrip(delivery, ebats::codec::DecodeTask, ebats::codec::EncodeTask,
              "task");
    RoundTrip(delivery, ebats::codec::DecodeResult, ebats::codec::EncodeResult,
              "result");
    RoundTrip(delivery, ebats::codec::DecodeResults,
              ebats::codec::EncodeResults, "result batch");
    (void)ebats::codec::DecodeSchedulerInput(delivery);
  }
  return 0;
}
