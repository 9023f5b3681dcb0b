#include "runtime/recording.hpp"

#include <string>

#include "zemla/error.hpp"

namespace zemla::rt {

LaunchCounts::LaunchCounts(Device& device, std::size_t slots)
    : device_(device), host_(slots * 3, 1), buffer_(device.allocate(slots * kSlotBytes)) {}

void LaunchCounts::check_slot(std::size_t slot) const {
  require(slot < slots(), "LaunchCounts",
          [&] { return "slot " + std::to_string(slot) + " is outside [0, " + std::to_string(slots()) + ")"; });
}

void LaunchCounts::set(std::size_t slot, Range3 groups) {
  check_slot(slot);
  // A zero count is not a valid indirect launch on every driver; callers
  // size every launch to at least one group and let the kernel return early.
  require(groups.x > 0 && groups.y > 0 && groups.z > 0 && groups.x <= UINT32_MAX && groups.y <= UINT32_MAX &&
              groups.z <= UINT32_MAX,
          "LaunchCounts::set", [&] {
            return "group count " + std::to_string(groups.x) + "x" + std::to_string(groups.y) + "x" +
                   std::to_string(groups.z) + " must be positive and fit in uint32";
          });
  host_[slot * 3 + 0] = static_cast<std::uint32_t>(groups.x);
  host_[slot * 3 + 1] = static_cast<std::uint32_t>(groups.y);
  host_[slot * 3 + 2] = static_cast<std::uint32_t>(groups.z);
}

Range3 LaunchCounts::at(std::size_t slot) const {
  check_slot(slot);
  return {host_[slot * 3], host_[slot * 3 + 1], host_[slot * 3 + 2]};
}

void LaunchCounts::upload() { device_.write(*buffer_, host_.data(), host_.size() * sizeof(std::uint32_t)); }

}  // namespace zemla::rt
