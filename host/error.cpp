#include "zemla/error.hpp"

namespace zemla {

namespace {
std::string compose(const std::string& call, const std::string& result, const std::string& detail) {
  std::string what = call + " failed: " + result;
  if (!detail.empty()) what += ": " + detail;
  return what;
}
}  // namespace

Error::Error(std::string call, std::string result_name, std::string detail)
    : std::runtime_error(compose(call, result_name, detail)),
      call_(std::move(call)),
      result_name_(std::move(result_name)),
      detail_(std::move(detail)) {}

}  // namespace zemla
