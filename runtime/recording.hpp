#pragma once
// Recorded launches: the analogue of a CUDA graph. A layer's kernels are
// recorded once with their arguments and replayed every decode step. What
// changes from step to step (how many work-groups, the plan tables, the page
// table) reaches the kernels through device memory, so a replay changes no
// argument at all:
//   - Level Zero records into a regular command list with indirect launches
//     (zeCommandListAppendLaunchKernelIndirect reads each launch's group
//     count from a LaunchCounts buffer when the list runs, not when it was
//     recorded) and replays it with one zeCommandQueueExecuteCommandLists.
//   - OpenCL has no indirect launch; its recording keeps each launch's
//     argument values and replays them as plain launches sized from the
//     host copy of the counts (the "plain path").

#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "runtime/device.hpp"

namespace zemla::rt {

// Work-group counts that recorded launches read at replay: one (x, y, z)
// triple of uint32 per slot (Level Zero's ze_group_count_t), on the device
// and mirrored on the host.
class LaunchCounts {
 public:
  LaunchCounts(Device& device, std::size_t slots);

  std::size_t slots() const { return host_.size() / 3; }
  // Host side only, until upload().
  void set(std::size_t slot, Range3 groups);
  Range3 at(std::size_t slot) const;
  // Throws zemla::Error unless `slot` exists: recorders call it so a bad
  // slot fails when recorded, not when replayed.
  void check_slot(std::size_t slot) const;
  // One copy of every slot to the device.
  void upload();
  const Buffer& buffer() const { return *buffer_; }
  static constexpr std::size_t kSlotBytes = 3 * sizeof(std::uint32_t);

 private:
  Device& device_;
  std::vector<std::uint32_t> host_;
  std::unique_ptr<Buffer> buffer_;
};

// A closed recording. replay() enqueues every recorded launch, in recorded
// order, after everything enqueued before it on the same device.
class Recording {
 public:
  virtual ~Recording() = default;
  virtual void replay() = 0;
};

// Builds a Recording. Recorded launches run in the order recorded.
class Recorder {
 public:
  virtual ~Recorder() = default;
  // Records `kernel` with the arguments set on it now; later set_* calls on
  // the kernel do not change the recording. Its group count is
  // counts.at(slot) as it is when replayed.
  virtual void launch(Kernel& kernel, const LaunchCounts& counts, std::size_t slot, Range3 local) = 0;
  virtual std::unique_ptr<Recording> close() = 0;
};

}  // namespace zemla::rt
