#include "zemla/error.hpp"

namespace zemla {

namespace {
std::string compose(const std::string& call, const std::string& result, const std::string& detail) {
  std::string what = call + " failed: " + result;
  if (!detail.empty()) what += ": " + detail;
  return what;
}
}  // namespace

std::string_view error_kind_name(ErrorKind kind) {
  switch (kind) {
    case ErrorKind::invalid_argument:
      return "invalid_argument";
    case ErrorKind::unsupported:
      return "unsupported";
    case ErrorKind::not_found:
      return "not_found";
    case ErrorKind::out_of_resources:
      return "out_of_resources";
    case ErrorKind::device:
      return "device";
  }
  return "device";
}

ErrorKind error_kind_of(std::string_view r) {
  if (r == kInvalidArgument) return ErrorKind::invalid_argument;
  if (r == kUnsupported) return ErrorKind::unsupported;
  if (r == kNotFound) return ErrorKind::not_found;
  // A buffer larger than the device allocates at once is refused as an
  // invalid size by both APIs; to the caller it is memory the device cannot
  // give, as a failed allocation is.
  if (r == kOutOfResources || r == "ZE_RESULT_ERROR_OUT_OF_DEVICE_MEMORY" ||
      r == "ZE_RESULT_ERROR_OUT_OF_HOST_MEMORY" || r == "ZE_RESULT_ERROR_UNSUPPORTED_SIZE" ||
      r == "CL_OUT_OF_RESOURCES" || r == "CL_OUT_OF_HOST_MEMORY" || r == "CL_MEM_OBJECT_ALLOCATION_FAILURE" ||
      r == "CL_INVALID_BUFFER_SIZE") {
    return ErrorKind::out_of_resources;
  }
  return ErrorKind::device;
}

Error::Error(std::string call, std::string result_name, std::string detail)
    : std::runtime_error(compose(call, result_name, detail)),
      kind_(error_kind_of(result_name)),
      call_(std::move(call)),
      result_name_(std::move(result_name)),
      detail_(std::move(detail)) {}

}  // namespace zemla
