// The op-level MLA calls over the server's own buffers: sgl-kernel-xpu's
// flash_mla_get_workspace_size and flash_mla_decode, and kv_append. Each
// call is stateless apart from the runtime, which keeps the ops' objects
// (Runtime::Impl::mla_decoder); the workspace queries plan with no kernel.

#include <algorithm>
#include <string>
#include <vector>

#include "api/impl.hpp"
#include "runtime/binary_choice.hpp"

namespace zemla {

namespace {

constexpr const char* kDecodeCall = "flash_mla_decode";

// A required tensor's buffer, refused when missing, empty, or made by
// another runtime.
template <typename T>
auto* own_buffer(Runtime& runtime, T* t, const char* call, const char* name, bool required = true) {
  require(t != nullptr || !required, call, [&] { return std::string(name) + " is required"; });
  return buffer_of(*runtime.impl().device, t, call, name);
}

}  // namespace

ops::MlaDecoder& Runtime::Impl::mla_decoder(DType dtype, KvFormat kv_format) {
  auto& slot = mla_decoders[{dtype, kv_format}];
  if (!slot) slot = std::make_unique<ops::MlaDecoder>(*device, dtype, kv_format);
  return *slot;
}

ops::KvAppender& Runtime::Impl::kv_appender(DType dtype, KvFormat kv_format) {
  auto& slot = kv_appenders[{dtype, kv_format}];
  if (!slot) slot = std::make_unique<ops::KvAppender>(*device, dtype, kv_format);
  return *slot;
}

namespace {

// How flash_mla_decode plans on this runtime's device: the variant's merge
// weight, split geometry and the device's compute units, and no program
// built for a size query.
ops::SplitPlanner mla_planner(Runtime& runtime) {
  const rt::Device& device = *runtime.impl().device;
  return ops::SplitPlanner(device, rt::choose_variant(device));
}

// The workspace queries name no cache format, and the geometry follows it
// (ops::mla_split_geometry): they size for the larger of the two.
template <class Bytes>
std::size_t for_any_cache(Runtime& runtime, Bytes bytes) {
  const rt::Variant variant = rt::choose_variant(*runtime.impl().device);
  return std::max(bytes(ops::mla_split_geometry(variant, KvFormat::same)),
                  bytes(ops::mla_split_geometry(variant, KvFormat::fp8_e4m3)));
}

}  // namespace

std::size_t flash_mla_get_workspace_size(Runtime& runtime, std::int64_t max_seq_len, int num_batches, int num_heads,
                                         int page_size, int num_kv_splits, int split_tokens) {
  constexpr const char* kCall = "flash_mla_get_workspace_size";
  require(max_seq_len > 0 && max_seq_len <= INT32_MAX && num_batches > 0 && num_heads > 0, kCall, [&] {
    return "max_seq_len " + std::to_string(max_seq_len) + ", num_batches " + std::to_string(num_batches) +
           " and num_heads " + std::to_string(num_heads) + " must be positive (max_seq_len within int32)";
  });
  require(page_size > 0, kCall, [&] { return "page_size " + std::to_string(page_size) + " must be positive"; });
  return for_any_cache(runtime, [&](const SplitGeometry& g) {
    return mla_planner(runtime).workspace_bound(max_seq_len, num_batches, num_heads, num_kv_splits, g, split_tokens);
  });
}

std::size_t flash_mla_get_workspace_size(Runtime& runtime, std::span<const std::int32_t> seq_lens, int num_heads,
                                         int num_kv_splits, int split_tokens) {
  return for_any_cache(runtime, [&](const SplitGeometry& g) {
    return mla_planner(runtime).plan(seq_lens, num_heads, g, num_kv_splits, split_tokens).layout.total;
  });
}

void flash_mla_decode(Runtime& runtime, const FlashMlaDecodeArgs& in) {
  rt::Device& device = *runtime.impl().device;
  const KvFormat kv_format = parse_kv_format(in.kv_cache_dtype);
  ops::MlaDecodeArgs a;
  a.batch = in.batch;
  a.heads = in.heads * in.q_len;  // the kernels' query rows
  a.q_len = in.q_len;
  a.sm_scale = in.sm_scale;
  a.num_pages = in.num_pages;
  a.page_size = in.page_size;
  a.max_pages = in.max_pages;
  a.kv_format = kv_format;
  a.kv_scale = in.kv_scale;
  a.set_contiguous_strides();
  const auto stride = [](std::int64_t given, std::int64_t& field) {
    if (given != 0) field = given;
  };
  stride(in.q_nope_stride_b, a.q_nope_stride_b);
  stride(in.q_nope_stride_h, a.q_nope_stride_h);
  stride(in.q_rope_stride_b, a.q_rope_stride_b);
  stride(in.q_rope_stride_h, a.q_rope_stride_h);
  stride(in.kv_stride_page, a.kv_stride_page);
  stride(in.kv_stride_token, a.kv_stride_token);
  stride(in.page_table_stride, a.page_table_stride);
  stride(in.out_stride_b, a.out_stride_b);
  stride(in.out_stride_h, a.out_stride_h);
  stride(in.lse_stride_b, a.lse_stride_b);

  a.q_nope = own_buffer(runtime, in.q_nope, kDecodeCall, "q_nope");
  a.q_rope = own_buffer(runtime, in.q_rope, kDecodeCall, "q_rope");
  // The kernels write no cache here (no fused append), but the args type is shared.
  a.kv_cache = const_cast<rt::Buffer*>(own_buffer(runtime, in.kv_cache, kDecodeCall, "kv_cache"));
  a.page_table = own_buffer(runtime, in.page_table, kDecodeCall, "page_table");
  a.out = own_buffer(runtime, in.out, kDecodeCall, "out");
  a.lse = own_buffer(runtime, in.lse, kDecodeCall, "lse", false);
  rt::Buffer* workspace = own_buffer(runtime, in.workspace, kDecodeCall, "workspace");
  require_distinct(kDecodeCall, {{"out", a.out},
                                 {"lse", a.lse},
                                 {"workspace", workspace},
                                 {"q_nope", a.q_nope},
                                 {"q_rope", a.q_rope},
                                 {"kv_cache", a.kv_cache},
                                 {"page_table", a.page_table}});
  require(in.batch > 0, kDecodeCall, [&] { return "batch " + std::to_string(in.batch) + " must be positive"; });

  // The lengths the plan is made from: the caller's host copy, or seq_lens read back.
  std::vector<std::int32_t> lens(in.host_seq_lens.begin(), in.host_seq_lens.end());
  if (lens.empty()) {
    const rt::Buffer* seq = own_buffer(runtime, in.seq_lens, kDecodeCall, "seq_lens");
    require(seq->bytes() >= std::size_t(in.batch) * 4, kDecodeCall, [&] {
      return "seq_lens holds " + std::to_string(seq->bytes()) + " bytes; batch " + std::to_string(in.batch) +
             " needs " + std::to_string(std::size_t(in.batch) * 4);
    });
    lens.resize(std::size_t(in.batch));
    device.read(*seq, lens.data(), lens.size() * 4);
  }
  require(static_cast<int>(lens.size()) == in.batch, kDecodeCall, [&] {
    return "host_seq_lens holds " + std::to_string(lens.size()) + " lengths; batch is " + std::to_string(in.batch);
  });

  // The planner refuses a negative length by index; upload_plan a workspace
  // smaller than the plan, naming both sizes; run() every other argument
  // before it launches (the workspace is the caller's scratch, so a refused
  // call may leave the plan's tables in it).
  ops::MlaDecoder& decoder = runtime.impl().mla_decoder(in.dtype, kv_format);
  const DecodePlan plan = decoder.plan(lens, a.heads, in.num_kv_splits, in.split_tokens);
  decoder.upload_plan(plan, *workspace);
  decoder.run(a, plan, *workspace);
}

void kv_append(Runtime& runtime, const KvAppendOpArgs& in) {
  constexpr const char* kCall = "kv_append";
  ops::KvAppendArgs a;
  a.kv_cache = own_buffer(runtime, in.kv_cache, kCall, "kv_cache");
  a.rows = own_buffer(runtime, in.rows, kCall, "rows");
  a.slots = own_buffer(runtime, in.slots, kCall, "slots");
  require_distinct(kCall, {{"kv_cache", a.kv_cache}, {"rows", a.rows}, {"slots", a.slots}});
  a.num_pages = in.num_pages;
  a.page_size = in.page_size;
  a.num_rows = in.num_rows;
  a.kv_scale = in.kv_scale;
  a.kv_stride_page = in.kv_stride_page;
  a.kv_stride_token = in.kv_stride_token;
  a.rows_stride = in.rows_stride;
  runtime.impl().kv_appender(in.dtype, parse_kv_format(in.kv_cache_dtype)).run(a);
}

}  // namespace zemla
