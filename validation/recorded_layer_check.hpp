#pragma once
// A recorded layer (both decode stages with the fused kv_append, recorded
// once into fixed buffers, as MlaCache::record_layer records) replayed over steps whose batch, lengths and split plan
// change, each step compared with the plain launches of the same inputs. Shared by the kernel tests (CPU OpenCL) and
// the hardware suite (the Level Zero regular command list on an Intel GPU, which nothing else here can run).

#include <cstddef>
#include <cstdint>
#include <vector>

#include "harness/compare.hpp"
#include "runtime/device.hpp"

namespace zemla::validation {

struct RecordedStepResult {
  std::vector<std::int32_t> seqlens;
  int total_splits = 0;
  bool combined = false;            // stage 2 had work
  std::size_t out_bits_differ = 0;  // output values whose bits differ from the plain launch's
  std::size_t lse_bits_differ = 0;
  std::size_t append_values_wrong = 0;  // appended cache values that differ from the rows written
  Comparison vs_reference;              // the replay's output against the fp64 reference
};

// Steps of at most 4 requests of 1 to 640 tokens (page size 16, H = 24);
// an empty list runs the default steps: splits with a combine, one request,
// the full batch at the longest length, page edges.
std::vector<RecordedStepResult> replay_recorded_layer(rt::Device& device,
                                                      std::vector<std::vector<std::int32_t>> steps = {});

}  // namespace zemla::validation
