#include "runtime/ops/mla_decode.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <numbers>
#include <string>

#include "host/capability_registry.hpp"
#include "host/mla_shape.hpp"
#include "runtime/binary_choice.hpp"
#include "zemla/error.hpp"

namespace zemla::ops {

namespace {

constexpr const char* kCall = "mla_decode";
constexpr std::size_t kSplitGroup = mla::kHeadBlock * mla::kTile;  // 256, the kernels' reqd size
constexpr std::size_t kCombineGroup = 128;

std::string s(std::int64_t v) { return std::to_string(v); }

// Bytes a strided [d0, d1, inner] view reaches: the last element's end.
std::int64_t span_bytes(std::int64_t d0, std::int64_t stride0, std::int64_t d1, std::int64_t stride1,
                        std::int64_t inner, std::int64_t elem) {
  return ((d0 - 1) * stride0 + (d1 - 1) * stride1 + inner) * elem;
}

void require_buffer(const rt::Buffer* b, const char* name, std::int64_t need) {
  require(b != nullptr, kCall, std::string(name) + " is null; a device buffer is required");
  require(static_cast<std::int64_t>(b->bytes()) >= need, kCall,
          std::string(name) + " holds " + s(static_cast<std::int64_t>(b->bytes())) +
              " bytes; its shape and strides need " + s(need));
}

}  // namespace

void MlaDecodeArgs::set_contiguous_strides() {
  q_nope_stride_h = mla::kLatentDim;
  q_nope_stride_b = std::int64_t{heads} * mla::kLatentDim;
  q_rope_stride_h = mla::kRopeDim;
  q_rope_stride_b = std::int64_t{heads} * mla::kRopeDim;
  kv_stride_token = mla::kRowDim;
  kv_stride_page = std::int64_t{page_size} * mla::kRowDim;
  page_table_stride = max_pages;
  out_stride_h = mla::kLatentDim;
  out_stride_b = std::int64_t{heads} * mla::kLatentDim;
  lse_stride_b = heads;
}

MlaDecoder::MlaDecoder(rt::Device& device, DType dtype)
    : device_(device), dtype_(dtype), variant_(rt::choose_variant(device.info())) {
  const rt::ProgramKey key{"mla_decode", variant_, std::string(dtype_name(dtype))};
  split_ = &device_.kernel(key, "mla_decode_split");
  combine_ = &device_.kernel(key, "mla_decode_combine");
}

DecodePlan MlaDecoder::plan(std::span<const std::int32_t> seqlens, int heads, int num_kv_splits) const {
  return plan_decode({seqlens, heads, std::max(1, device_.info().compute_units), num_kv_splits});
}

void MlaDecoder::upload_plan(const DecodePlan& plan, rt::Buffer& workspace) const {
  require(workspace.bytes() >= plan.layout.total, kCall,
          "workspace holds " + s(static_cast<std::int64_t>(workspace.bytes())) + " bytes; the plan needs " +
              s(static_cast<std::int64_t>(plan.layout.total)));
  // The two tables are adjacent in the layout: one copy covers both.
  std::vector<unsigned char> tables(plan.layout.total - plan.layout.work, 0);
  std::memcpy(tables.data(), plan.work.data(), plan.work.size() * sizeof(SplitWork));
  std::memcpy(tables.data() + (plan.layout.split_begin - plan.layout.work), plan.split_begin.data(),
              plan.split_begin.size() * sizeof(std::int32_t));
  device_.write(workspace, tables.data(), tables.size(), plan.layout.work);
}

void MlaDecoder::validate(const MlaDecodeArgs& a, const DecodePlan& plan, const rt::Buffer& workspace) const {
  require(a.batch > 0, kCall, "batch " + s(a.batch) + " must be positive");
  require(a.heads > 0, kCall, "heads " + s(a.heads) + " must be positive");
  require(a.batch == plan.batch(), kCall, "batch " + s(a.batch) + " differs from the plan's " + s(plan.batch()));
  require(a.heads == plan.heads, kCall, "heads " + s(a.heads) + " differs from the plan's " + s(plan.heads));
  require(std::isfinite(a.sm_scale) && a.sm_scale > 0, kCall,
          "sm_scale " + std::to_string(a.sm_scale) + " must be a positive finite number");
  const auto sizes = find_backend("intel_xpu")->mla_decode_page_sizes;
  require(std::find(sizes.begin(), sizes.end(), a.page_size) != sizes.end(), kCall,
          "page_size " + s(a.page_size) + " is not an MLA decode page size (16, 32, 64 or 128)");
  require(a.num_pages > 0, kCall, "num_pages " + s(a.num_pages) + " must be positive");
  require(a.max_pages > 0, kCall, "max_pages " + s(a.max_pages) + " must be positive");

  // Strides: outputs must not overlap; KV rows must be 16-byte aligned
  // because the intel_sg variant block-reads them.
  require(a.q_nope_stride_h >= 0 && a.q_nope_stride_b >= 0 && a.q_rope_stride_h >= 0 && a.q_rope_stride_b >= 0, kCall,
          "query strides must not be negative");
  require(a.kv_stride_token >= mla::kRowDim && a.kv_stride_token % 8 == 0, kCall,
          "kv_stride_token " + s(a.kv_stride_token) + " must be >= 576 and a multiple of 8");
  require(a.kv_stride_page >= a.page_size * a.kv_stride_token && a.kv_stride_page % 8 == 0, kCall,
          "kv_stride_page " + s(a.kv_stride_page) + " must be >= page_size * kv_stride_token (" +
              s(a.page_size * a.kv_stride_token) + ") and a multiple of 8");
  require(a.page_table_stride >= a.max_pages, kCall,
          "page_table_stride " + s(a.page_table_stride) + " must be >= max_pages " + s(a.max_pages));
  require(a.out_stride_h >= mla::kLatentDim && a.out_stride_b >= a.heads * a.out_stride_h, kCall,
          "out strides (" + s(a.out_stride_b) + ", " + s(a.out_stride_h) +
              ") overlap rows; need stride_h >= 512 and stride_b >= heads * stride_h");

  require_buffer(a.q_nope, "q_nope",
                 span_bytes(a.batch, a.q_nope_stride_b, a.heads, a.q_nope_stride_h, mla::kLatentDim, 2));
  require_buffer(a.q_rope, "q_rope",
                 span_bytes(a.batch, a.q_rope_stride_b, a.heads, a.q_rope_stride_h, mla::kRopeDim, 2));
  require_buffer(a.kv_cache, "kv_cache",
                 span_bytes(a.num_pages, a.kv_stride_page, a.page_size, a.kv_stride_token, mla::kRowDim, 2));
  require_buffer(a.page_table, "page_table", span_bytes(a.batch, a.page_table_stride, 1, 0, a.max_pages, 4));
  require_buffer(a.out, "out", span_bytes(a.batch, a.out_stride_b, a.heads, a.out_stride_h, mla::kLatentDim, 2));
  if (a.lse != nullptr) {
    require(a.lse_stride_b >= a.heads, kCall, "lse_stride_b " + s(a.lse_stride_b) + " must be >= heads " + s(a.heads));
    require_buffer(a.lse, "lse", span_bytes(a.batch, a.lse_stride_b, 1, 0, a.heads, 4));
  }
  require(workspace.bytes() >= plan.layout.total, kCall,
          "workspace holds " + s(static_cast<std::int64_t>(workspace.bytes())) + " bytes; the plan needs " +
              s(static_cast<std::int64_t>(plan.layout.total)));
  const std::int64_t capacity = std::int64_t{a.max_pages} * a.page_size;
  for (int r = 0; r < plan.batch(); ++r) {
    const auto& last = plan.work[plan.split_begin[r + 1] - 1];
    require(last.token_end <= capacity, kCall,
            "cache_seqlens[" + s(r) + "] = " + s(last.token_end) + " exceeds max_pages * page_size = " + s(capacity));
  }
}

std::optional<MlaDecodeTiming> MlaDecoder::run(const MlaDecodeArgs& a, const DecodePlan& plan, rt::Buffer& workspace,
                                               bool timed) {
  validate(a, plan, workspace);
  const auto floats = [](std::size_t bytes) { return static_cast<std::int64_t>(bytes / sizeof(float)); };
  const float scale_log2 = a.sm_scale * std::numbers::log2e_v<float>;
  const int write_lse = a.lse != nullptr ? 1 : 0;

  rt::Kernel& k = *split_;
  std::uint32_t i = 0;
  k.set_buffer(i++, a.q_nope);
  k.set_scalar(i++, a.q_nope_stride_b);
  k.set_scalar(i++, a.q_nope_stride_h);
  k.set_buffer(i++, a.q_rope);
  k.set_scalar(i++, a.q_rope_stride_b);
  k.set_scalar(i++, a.q_rope_stride_h);
  k.set_buffer(i++, a.kv_cache);
  k.set_scalar(i++, a.kv_stride_page);
  k.set_scalar(i++, a.kv_stride_token);
  k.set_scalar(i++, a.num_pages);
  k.set_scalar(i++, a.page_size);
  k.set_buffer(i++, a.page_table);
  k.set_scalar(i++, a.page_table_stride);
  k.set_scalar(i++, a.max_pages);
  k.set_buffer(i++, &workspace);
  k.set_scalar(i++, floats(plan.layout.partial_lse));
  k.set_scalar(i++, floats(plan.layout.work));
  k.set_scalar(i++, a.heads);
  k.set_scalar(i++, scale_log2);
  k.set_buffer(i++, a.out);
  k.set_scalar(i++, a.out_stride_b);
  k.set_scalar(i++, a.out_stride_h);
  k.set_buffer(i++, a.lse);
  k.set_scalar(i++, a.lse_stride_b);
  k.set_scalar(i++, write_lse);
  auto split_event =
      device_.launch(k, {static_cast<std::size_t>(plan.total_splits()), static_cast<std::size_t>(plan.head_blocks), 1},
                     {kSplitGroup, 1, 1}, timed);

  std::unique_ptr<rt::Event> combine_event;
  if (plan.needs_combine) {
    rt::Kernel& c = *combine_;
    i = 0;
    c.set_buffer(i++, &workspace);
    c.set_scalar(i++, floats(plan.layout.partial_lse));
    c.set_scalar(i++, floats(plan.layout.split_begin));
    c.set_scalar(i++, a.heads);
    c.set_buffer(i++, a.out);
    c.set_scalar(i++, a.out_stride_b);
    c.set_scalar(i++, a.out_stride_h);
    c.set_buffer(i++, a.lse);
    c.set_scalar(i++, a.lse_stride_b);
    c.set_scalar(i++, write_lse);
    combine_event = device_.launch(c, {static_cast<std::size_t>(a.heads), static_cast<std::size_t>(a.batch), 1},
                                   {kCombineGroup, 1, 1}, timed);
  }
  if (!timed) return std::nullopt;
  MlaDecodeTiming t;
  t.split_ms = split_event->elapsed_ms();
  if (combine_event) t.combine_ms = combine_event->elapsed_ms();
  return t;
}

}  // namespace zemla::ops
