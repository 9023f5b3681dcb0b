#pragma once
// One exception type for every failure zemla reports: which call failed, the
// result name of the API that produced it (ZE_RESULT_*, CL_*, or ZEMLA_*),
// and what was wrong, naming the bad value and what was expected.

#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>

#include "zemla/export.hpp"

namespace zemla {

// What a caller does about a failure, read once from its result name:
// zemla's own ZEMLA_ERROR_* names map one to one; a driver's out-of-memory
// results (ZE_RESULT_ERROR_OUT_OF_*_MEMORY, CL_OUT_OF_RESOURCES,
// CL_OUT_OF_HOST_MEMORY, CL_MEM_OBJECT_ALLOCATION_FAILURE) and a buffer
// larger than the device allocates (CL_INVALID_BUFFER_SIZE,
// ZE_RESULT_ERROR_UNSUPPORTED_SIZE) are out_of_resources, and every other
// CL_* or ZE_RESULT_* name is device.
enum class ErrorKind { invalid_argument, unsupported, not_found, out_of_resources, device };

// "invalid_argument", "unsupported", "not_found", "out_of_resources", "device".
ZEMLA_API std::string_view error_kind_name(ErrorKind kind);
ZEMLA_API ErrorKind error_kind_of(std::string_view result_name);

class ZEMLA_API Error : public std::runtime_error {
 public:
  Error(std::string call, std::string result_name, std::string detail);

  const std::string& call() const { return call_; }
  const std::string& result_name() const { return result_name_; }
  const std::string& detail() const { return detail_; }
  ErrorKind kind() const { return kind_; }

 private:
  ErrorKind kind_;
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
