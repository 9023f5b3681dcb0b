#pragma once
// One exception type for every failure zemla reports: which call failed, the
// result name of the API that produced it (ZE_RESULT_*, CL_*, or ZEMLA_*),
// and what was wrong, naming the bad value and what was expected.

#include <stdexcept>
#include <string>
#include <type_traits>

#include "zemla/export.hpp"

namespace zemla {

class ZEMLA_API Error : public std::runtime_error {
 public:
  Error(std::string call, std::string result_name, std::string detail);

  const std::string& call() const { return call_; }
  const std::string& result_name() const { return result_name_; }
  const std::string& detail() const { return detail_; }

 private:
  std::string call_;
  std::string result_name_;
  std::string detail_;
};

// zemla's own result names, for errors that come from zemla's checks.
inline constexpr const char* kInvalidArgument = "ZEMLA_ERROR_INVALID_ARGUMENT";
inline constexpr const char* kUnsupported = "ZEMLA_ERROR_UNSUPPORTED";
inline constexpr const char* kNotFound = "ZEMLA_ERROR_NOT_FOUND";
inline constexpr const char* kOutOfResources = "ZEMLA_ERROR_OUT_OF_RESOURCES";

// Throws Error(call, kInvalidArgument, detail) unless `ok`.
inline void require(bool ok, const char* call, const std::string& detail) {
  if (!ok) throw Error(call, kInvalidArgument, detail);
}

// The same for checks that run on every launch: a literal builds no string,
// and a callable builds the message only when the check fails.
inline void require(bool ok, const char* call, const char* detail) {
  if (!ok) throw Error(call, kInvalidArgument, detail);
}
template <typename MakeDetail>
requires std::is_invocable_r_v<std::string, MakeDetail>
inline void require(bool ok, const char* call, MakeDetail&& make_detail) {
  if (!ok) throw Error(call, kInvalidArgument, make_detail());
}

}  // namespace zemla
