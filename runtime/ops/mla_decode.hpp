#pragma once
// flash_mla_decode on a zemla device: validate every argument once, then
// launch stage 1 (split attention) and, when the plan splits a request,
// stage 2 (LSE merge). Planning is separate and reusable across layers:
//   auto plan = decoder.plan(seqlens, heads);      // once per step
//   decoder.upload_plan(plan, workspace);          // once per step
//   for (layer ...) decoder.run(args[layer], plan, workspace);

#include <cstdint>
#include <optional>
#include <span>
#include <string>

#include "host/decode_planner.hpp"
#include "host/dtype.hpp"
#include "host/mla_decode_checks.hpp"
#include "runtime/device.hpp"
#include "runtime/ops/split_combine.hpp"
#include "runtime/recording.hpp"

namespace zemla::ops {

// The layout (shapes, strides in elements) and the buffers of one call.
// Buffers hold raw 16-bit values of the decoder's dtype.
struct MlaDecodeArgs : MlaDecodeLayout {
  const rt::Buffer* q_nope = nullptr;      // [batch, heads, 512]
  const rt::Buffer* q_rope = nullptr;      // [batch, heads, 64]
  rt::Buffer* kv_cache = nullptr;          // [num_pages, page_size, 576]; new_rows write to it
  const rt::Buffer* page_table = nullptr;  // int32 [batch, max_pages]
  rt::Buffer* out = nullptr;               // [batch, heads, 512]
  rt::Buffer* lse = nullptr;               // optional fp32 [batch, heads]
  // Optional [batch, 576]: each request's new token (its last), written into
  // the cache by the decode itself (fused kv_append) and read from here.
  const rt::Buffer* new_rows = nullptr;
  // Optional host copy of the page table, [batch, page_table_stride]: when
  // given, every page a request reads is checked to be in [0, num_pages)
  // (O(pages used) per call). Without it a bad page is masked by the kernels.
  std::span<const std::int32_t> host_page_table;
};

// The sizes a recorded decode is made for: every step of up to max_batch
// requests no longer than max_context_len is planned into one fixed
// workspace layout, so its tables sit at the same offsets every step.
struct DecodeCapacity {
  int max_batch = 0;
  std::int64_t max_splits = 0;  // split rows of the fixed layout
  // max_batch requests at max_context_len, in the fixed layout: the step a
  // recording's buffers are checked against; largest.layout.total is the
  // workspace it needs.
  DecodePlan largest;
};

class MlaDecoder {
 public:
  MlaDecoder(rt::Device& device, DType dtype);

  const std::string& variant() const { return variant_; }
  // The program its kernels come from (for Device::loaded_binary).
  const rt::ProgramKey& program() const { return key_; }

  DecodePlan plan(std::span<const std::int32_t> seqlens, int heads, int num_kv_splits = -1) const;
  // The plan's tables go into the workspace with one copy; `workspace` must
  // hold plan.layout.total bytes.
  void upload_plan(const DecodePlan& plan, rt::Buffer& workspace) const;
  // Throws zemla::Error naming the argument, index and value on bad input.
  void validate(const MlaDecodeArgs& args, const DecodePlan& plan, const rt::Buffer& workspace) const;
  // Validates, then enqueues; with `timed`, waits and returns device times.
  std::optional<DecodeTiming> run(const MlaDecodeArgs& args, const DecodePlan& plan, rt::Buffer& workspace,
                                  bool timed = false);

  // Recorded decode (runtime/recording.hpp). record() validates `args`
  // against capacity.largest and records both stages. Each step is then
  // planned with plan(..., capacity), sets its group counts with
  // set_counts(), uploads them and its plan, and replays.
  DecodeCapacity capacity(int max_batch, std::int64_t max_context_len, int heads) const;
  // plan() placed in the capacity's fixed layout; throws when it does not fit.
  DecodePlan plan(std::span<const std::int32_t> seqlens, int heads, int num_kv_splits,
                  const DecodeCapacity& capacity) const;
  void record(rt::Recorder& recorder, const rt::LaunchCounts& counts, const MlaDecodeArgs& args,
              const DecodeCapacity& capacity, rt::Buffer& workspace);
  static void set_counts(rt::LaunchCounts& counts, const DecodePlan& plan);
  static constexpr std::size_t kSplitSlot = 0, kCombineSlot = 1, kCountSlots = 2;

 private:
  // The split kernel's arguments.
  void bind(const MlaDecodeArgs& args, const DecodePlan& plan, rt::Buffer& workspace);
  static CombineOutput combine_output(const MlaDecodeArgs& args);
  static rt::Range3 split_groups(const DecodePlan& plan);

  rt::Device& device_;
  std::string variant_;
  rt::ProgramKey key_;
  int merge_tokens_per_split_;  // the planner's cost hint for this variant
  rt::Kernel* split_;
  SplitCombine combine_;
};

}  // namespace zemla::ops
