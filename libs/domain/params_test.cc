#include "libs/domain/params.h"

#include <string>

#include "gtest/gtest.h"

namespace ebats::domain {
namespace {

TEST(ParamsTest, EmptyBecomesEmptyObject) {
  EXPECT_EQ(*NormalizeParams(""), "{}");
}

TEST(ParamsTest, TextIsKeptByteForByte) {
  // Key order, spacing and a 20-digit integer must survive untouched.
  const std::string text =
      R"({"z": 1,  "order_id": "FB138020392193312", "big": 12345678901234567890123})";
  auto normalized = NormalizeParams(text);
  ASSERT_TRUE(normalized.ok()) << normalized.status();
  EXPECT_EQ(*normalized, text);
}

TEST(ParamsTest, NonObjectsAreRejected) {
  for (const char* bad : {"[]", "1", "\"s\"", "null", "true", "[{}]"}) {
    auto result = NormalizeParams(bad);
    EXPECT_EQ(result.status().code(), absl::StatusCode::kInvalidArgument)
        << bad;
  }
}

TEST(ParamsTest, MalformedJsonIsRejectedWithPosition) {
  auto result = NormalizeParams(R"({"a": })");
  ASSERT_EQ(result.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(result.status().message().find("byte"), absl::string_view::npos);
  EXPECT_FALSE(NormalizeParams(R"({"a": 1} {"b": 2})").ok());
  EXPECT_FALSE(NormalizeParams(R"({"a": 1)").ok());
}

TEST(ParamsTest, InvalidUtf8IsRejected) {
  EXPECT_FALSE(NormalizeParams("{\"a\": \"\xff\"}").ok());
}

TEST(ParamsTest, SizeLimitIsEnforced) {
  std::string big = "{\"a\": \"" + std::string(100, 'x') + "\"}";
  EXPECT_TRUE(NormalizeParams(big, 200).ok());
  EXPECT_EQ(NormalizeParams(big, 50).status().code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace ebats::domain
