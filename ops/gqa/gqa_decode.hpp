#pragma once
// Paged GQA / MQA / MHA decode (flash_attn_with_kvcache for non-MLA models)
// on a zemla device: the same planner, workspace, combine stage and
// recording as MLA (SplitKvDecoder), with one stage-1 work-group per
// (split, KV head).
//   auto plan = decoder.plan(seqlens, q_heads, kv_heads, head_dim);  // once per step
//   decoder.upload_plan(plan, workspace);
//   for (layer ...) decoder.run(args[layer], plan, workspace);

#include <optional>
#include <span>
#include <string>

#include "gqa_decode_checks.hpp"
#include "host/decode_planner.hpp"
#include "host/dtype.hpp"
#include "ops/split_kv/split_kv_decoder.hpp"
#include "runtime/device.hpp"

namespace zemla::ops {

// Buffers hold raw 16-bit values of the decoder's dtype.
struct GqaDecodeArgs : GqaDecodeLayout {
  const rt::Buffer* q = nullptr;           // [batch, q_heads, head_dim]
  const rt::Buffer* k_cache = nullptr;     // [num_pages, page_size, kv_heads, head_dim]
  const rt::Buffer* v_cache = nullptr;     // same shape as k_cache
  const rt::Buffer* page_table = nullptr;  // int32 [batch, max_pages]
  rt::Buffer* out = nullptr;               // [batch, q_heads, head_dim]
  rt::Buffer* lse = nullptr;               // optional fp32 [batch, q_heads]
};

class GqaDecoder : public SplitKvOp<GqaDecoder, GqaDecodeArgs> {
 public:
  GqaDecoder(rt::Device& device, DType dtype);

  // `split_tokens` > 0: batch-invariant splits (PlannerInputs::split_tokens).
  DecodePlan plan(std::span<const std::int32_t> seqlens, int q_heads, int kv_heads, int head_dim,
                  int num_kv_splits = -1, int split_tokens = 0) const;
  // Throws zemla::Error naming the argument and value on bad input.
  void validate(const GqaDecodeArgs& args, const DecodePlan& plan, const rt::Buffer& workspace) const;

  // run() and record() come from SplitKvOp; a recording is made for:
  DecodeCapacity capacity(int max_batch, std::int64_t max_context_len, int q_heads, int kv_heads, int head_dim,
                          int split_tokens = 0) const;
  DecodePlan plan(std::span<const std::int32_t> seqlens, int q_heads, int kv_heads, int head_dim, int num_kv_splits,
                  const DecodeCapacity& capacity) const;

 private:
  friend class SplitKvOp<GqaDecoder, GqaDecodeArgs>;
  // Sets the split kernel's arguments; returns the kernel they were set on.
  rt::Kernel& bind(const GqaDecodeArgs& args, const DecodePlan& plan, rt::Buffer& workspace);
};

}  // namespace zemla::ops
