#pragma once
// flash_mla_decode on a zemla device: validate every argument once, then
// launch stage 1 (split attention) and, when the plan splits a request,
// stage 2 (LSE merge), through the shared SplitKvDecoder. Planning is
// separate and reusable across layers:
//   auto plan = decoder.plan(seqlens, heads);      // once per step
//   decoder.upload_plan(plan, workspace);          // once per step
//   for (layer ...) decoder.run(args[layer], plan, workspace);

#include <cstdint>
#include <optional>
#include <span>
#include <string>

#include "host/decode_planner.hpp"
#include "host/dtype.hpp"
#include "mla_decode_checks.hpp"
#include "ops/split_kv/split_kv_decoder.hpp"
#include "runtime/device.hpp"
#include "runtime/recording.hpp"

namespace zemla::ops {

// The layout (shapes, strides in elements) and the buffers of one call.
// Buffers hold raw 16-bit values of the decoder's dtype; the cache, FP8
// bytes where the decoder reads an FP8 cache (kv_format and kv_scale).
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

// How MLA splits plan on a variant and cache format: the query rows one
// work-group serves (mla_variant.clh's GROUP_ROWS), 16-token tiles,
// 512-value rows. 16 rows in the tile schedule; STREAM_ROWS (16 as built,
// mla_shape.clh) in the stream schedule, nv_mma's over an FP8 cache.
SplitGeometry mla_split_geometry(rt::Variant variant, KvFormat kv_format);

class MlaDecoder : public SplitKvOp<MlaDecoder, MlaDecodeArgs> {
 public:
  // `kv_format`: how the cache stores its values; FP8 runs the build that
  // widens FP8 rows (kernels_spirv/common/fp8.clh).
  MlaDecoder(rt::Device& device, DType dtype, KvFormat kv_format = KvFormat::same);
  KvFormat kv_format() const { return kv_format_; }

  // `split_tokens` > 0: batch-invariant splits of that many tokens
  // (PlannerInputs::split_tokens), with num_kv_splits -1.
  DecodePlan plan(std::span<const std::int32_t> seqlens, int heads, int num_kv_splits = -1, int split_tokens = 0) const;
  // Throws zemla::Error naming the argument, index and value on bad input.
  void validate(const MlaDecodeArgs& args, const DecodePlan& plan, const rt::Buffer& workspace) const;

  // run() and record() come from SplitKvOp; a recording is made for:
  DecodeCapacity capacity(int max_batch, std::int64_t max_context_len, int heads, int split_tokens = 0) const;
  // plan() placed in the capacity's fixed layout; throws when it does not fit.
  DecodePlan plan(std::span<const std::int32_t> seqlens, int heads, int num_kv_splits,
                  const DecodeCapacity& capacity) const;

 private:
  friend class SplitKvOp<MlaDecoder, MlaDecodeArgs>;
  // Sets the split kernel's arguments; returns the kernel they were set on.
  rt::Kernel& bind(const MlaDecodeArgs& args, const DecodePlan& plan, rt::Buffer& workspace);

  KvFormat kv_format_;
  SplitGeometry geometry_;
};

}  // namespace zemla::ops
