#include "libs/domain/params.h"

#include "absl/strings/str_cat.h"
#include "nlohmann/json.hpp"

namespace ebats::domain {
namespace {

// A SAX handler that only remembers the type of the top-level value, so a
// large params text is validated without building a DOM.
class TopLevelKind : public nlohmann::json_sax<nlohmann::json> {
 public:
  bool null() override { return Value(false); }
  bool boolean(bool) override { return Value(false); }
  bool number_integer(number_integer_t) override { return Value(false); }
  bool number_unsigned(number_unsigned_t) override { return Value(false); }
  bool number_float(number_float_t, const string_t&) override {
    return Value(false);
  }
  bool string(string_t&) override { return Value(false); }
  bool binary(binary_t&) override { return Value(false); }
  bool start_object(std::size_t) override {
    return Value(true) && ++depth_ > 0;
  }
  bool end_object() override { return --depth_ >= 0; }
  bool start_array(std::size_t) override {
    return Value(false) && ++depth_ > 0;
  }
  bool end_array() override { return --depth_ >= 0; }
  bool key(string_t&) override { return true; }
  bool parse_error(std::size_t position, const std::string&,
                   const nlohmann::detail::exception& ex) override {
    error_ = absl::StrCat("params are not valid JSON (byte ", position,
                          "): ", ex.what());
    return false;
  }

  bool is_object() const { return is_object_; }
  const std::string& error() const { return error_; }

 private:
  // Records the kind of the first (top-level) value; nested values pass.
  bool Value(bool object) {
    if (!seen_) {
      seen_ = true;
      is_object_ = object;
      if (!object) error_ = "params must be a JSON object";
      return object;
    }
    return true;
  }

  bool seen_ = false;
  bool is_object_ = false;
  int depth_ = 0;
  std::string error_;
};

}  // namespace

absl::StatusOr<std::string> NormalizeParams(absl::string_view params,
                                            size_t max_bytes) {
  if (params.empty()) return std::string("{}");
  if (params.size() > max_bytes) {
    return absl::InvalidArgumentError(absl::StrCat(
        "params are ", params.size(), " bytes; the limit is ", max_bytes));
  }
  TopLevelKind sax;
  bool ok = nlohmann::json::sax_parse(params.begin(), params.end(), &sax,
                                      nlohmann::json::input_format_t::json,
                                      /*strict=*/true);
  if (!ok || !sax.is_object()) {
    return absl::InvalidArgumentError(
        sax.error().empty() ? "params must be a JSON object" : sax.error());
  }
  return std::string(params);
}

}  // namespace ebats::domain
