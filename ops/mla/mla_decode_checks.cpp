#include "mla_decode_checks.hpp"

#include <algorithm>
#include <cmath>
#include <string>

#include "host/capability_registry.hpp"
#include "mla_shape.hpp"
#include "ops/split_kv/launch_checks.hpp"
#include "zemla/error.hpp"

namespace zemla {

namespace {

constexpr const char* kCall = "mla_decode";

std::string s(std::int64_t v) { return std::to_string(v); }

void require_buffer(std::int64_t bytes, const char* name, std::int64_t need) {
  launch_checks::require_buffer(kCall, bytes, name, need);
}

void require_stride(std::int64_t v, const char* name, std::int64_t minimum) {
  launch_checks::require_stride(kCall, v, name, minimum);
}

using launch_checks::span_bytes;

}  // namespace

void MlaDecodeLayout::set_contiguous_strides() {
  q_nope_stride_h = mla::kLatentDim;
  q_nope_stride_b = std::int64_t{heads} * mla::kLatentDim;
  q_rope_stride_h = mla::kRopeDim;
  q_rope_stride_b = std::int64_t{heads} * mla::kRopeDim;
  kv_stride_token = mla_row_elements(kv_format);
  kv_stride_page = std::int64_t{page_size} * kv_stride_token;
  page_table_stride = max_pages;
  out_stride_h = mla::kLatentDim;
  out_stride_b = std::int64_t{heads} * mla::kLatentDim;
  lse_stride_b = heads;
  new_rows_stride = mla::kRowDim;
}

void require_q_len(int q_len, const char* call) {
  require(q_len >= 1 && q_len <= kMaxQLen, call,
          [&] { return "q_len " + s(q_len) + " must be 1 to " + s(kMaxQLen) + " (query tokens per request)"; });
}

void check_mla_decode(const MlaDecodeGeometry& g, const DecodePlan& plan, const SplitGeometry& geometry) {
  require(g.batch > 0, kCall, [&] { return "batch " + s(g.batch) + " must be positive"; });
  require(g.heads > 0, kCall, [&] { return "heads " + s(g.heads) + " must be positive"; });
  require_q_len(g.q_len, kCall);
  require(g.heads % g.q_len == 0, kCall,
          [&] { return "q_len " + s(g.q_len) + " does not divide the " + s(g.heads) + " query rows (q_len x heads)"; });
  if (g.q_len > 1) {
    for (int r = 0; r < plan.batch(); ++r) {
      require(plan.length(r) == 0 || plan.length(r) >= g.q_len, kCall, [&] {
        return "request " + s(r) + " has length " + s(plan.length(r)) + ", fewer than its " + s(g.q_len) +
               " query tokens (which are its last tokens)";
      });
    }
  }
  require(g.batch == plan.batch(), kCall,
          [&] { return "batch " + s(g.batch) + " differs from the plan's " + s(plan.batch()); });
  require(g.heads == plan.heads, kCall,
          [&] { return "heads " + s(g.heads) + " differs from the plan's " + s(plan.heads); });
  require(plan.geometry == geometry, kCall,
          "the plan was made for another split geometry (plan with MlaDecoder::plan)");
  require(std::isfinite(g.sm_scale) && g.sm_scale > 0, kCall,
          [&] { return "sm_scale " + std::to_string(g.sm_scale) + " must be a positive finite number"; });
  const auto& sizes = find_backend("intel_xpu")->mla_decode_page_sizes;
  require(std::find(sizes.begin(), sizes.end(), g.page_size) != sizes.end(), kCall,
          [&] { return "page_size " + s(g.page_size) + " is not an MLA decode page size (16, 32, 64 or 128)"; });
  require(g.num_pages > 0, kCall, [&] { return "num_pages " + s(g.num_pages) + " must be positive"; });
  require(g.max_pages > 0, kCall, [&] { return "max_pages " + s(g.max_pages) + " must be positive"; });

  // Strides: outputs must not overlap; KV rows must be 16-byte aligned
  // because every variant stages them with 16-byte vector loads.
  require_stride(g.q_nope_stride_b, "q_nope_stride_b", 0);
  require_stride(g.q_nope_stride_h, "q_nope_stride_h", 0);
  require_stride(g.q_rope_stride_b, "q_rope_stride_b", 0);
  require_stride(g.q_rope_stride_h, "q_rope_stride_h", 0);
  // Rows 16 bytes aligned: 8 values of a 16-bit cache, 16 of an FP8 one
  // (16 bytes of an fp8_ds_mla row, whose 656 bytes are 41 such vectors).
  const int kv_bytes = kv_value_bytes(g.kv_format);
  const int row_elements = mla_row_elements(g.kv_format);
  require_stride(g.kv_stride_token, "kv_stride_token", row_elements);
  launch_checks::require_multiple_of(kCall, g.kv_stride_token, "kv_stride_token", 16 / kv_bytes);
  require_stride(g.kv_stride_page, "kv_stride_page", std::int64_t{g.page_size} * g.kv_stride_token);
  launch_checks::require_multiple_of(kCall, g.kv_stride_page, "kv_stride_page", 16 / kv_bytes);
  if (has_layer_scale(g.kv_format)) {
    require(std::isfinite(g.kv_scale) && g.kv_scale > 0, kCall, [&] {
      return "kv_scale " + std::to_string(g.kv_scale) + " of the " + std::string(kv_format_name(g.kv_format)) +
             " cache must be a positive finite number";
    });
  } else {
    require(g.kv_scale == 1.0f, kCall, [&] {
      return "kv_scale " + std::to_string(g.kv_scale) + " given for " +
             (is_fp8(g.kv_format) ? "an fp8_ds_mla cache, whose scales are in its rows"
                                  : "a 16-bit cache; only an fp8_e4m3 or fp8_e5m2 cache has a layer scale") +
             "; it must be 1";
    });
  }
  require_stride(g.page_table_stride, "page_table_stride", g.max_pages);
  require_stride(g.out_stride_h, "out_stride_h", mla::kLatentDim);
  require_stride(g.out_stride_b, "out_stride_b", std::int64_t{g.heads} * g.out_stride_h);

  require_buffer(g.q_nope_bytes, "q_nope",
                 span_bytes(g.batch, g.q_nope_stride_b, g.heads, g.q_nope_stride_h, mla::kLatentDim, 2));
  require_buffer(g.q_rope_bytes, "q_rope",
                 span_bytes(g.batch, g.q_rope_stride_b, g.heads, g.q_rope_stride_h, mla::kRopeDim, 2));
  require_buffer(g.kv_cache_bytes, "kv_cache",
                 span_bytes(g.num_pages, g.kv_stride_page, g.page_size, g.kv_stride_token, row_elements, kv_bytes));
  require_buffer(g.page_table_bytes, "page_table", span_bytes(g.batch, g.page_table_stride, 1, 0, g.max_pages, 4));
  require_buffer(g.out_bytes, "out", span_bytes(g.batch, g.out_stride_b, g.heads, g.out_stride_h, mla::kLatentDim, 2));
  if (g.lse_bytes != MlaDecodeGeometry::kNoBuffer) {
    require_stride(g.lse_stride_b, "lse_stride_b", g.heads);
    require_buffer(g.lse_bytes, "lse", span_bytes(g.batch, g.lse_stride_b, 1, 0, g.heads, 4));
  }
  if (g.new_rows_bytes != MlaDecodeGeometry::kNoBuffer) {
    if (g.q_len > 1) {
      throw Error(kCall, kUnsupported,
                  "new_rows: the fused kv_append writes one token per request, not q_len " + s(g.q_len) +
                      "; append the rows first");
    }
    if (is_fp8(g.kv_format)) {
      throw Error(kCall, kUnsupported,
                  std::string("new_rows: the fused kv_append does not write an ") +
                      std::string(kv_format_name(g.kv_format)) + " cache; append the rows first");
    }
    // Fused kv_append: the kernels read the rows as 16-byte vectors, and
    // each request's new token is its last, so none may be empty.
    require_stride(g.new_rows_stride, "new_rows_stride", mla::kRowDim);
    launch_checks::require_multiple_of_8(kCall, g.new_rows_stride, "new_rows_stride");
    require_buffer(g.new_rows_bytes, "new_rows", span_bytes(g.batch, g.new_rows_stride, 1, 0, mla::kRowDim, 2));
    for (int r = 0; r < plan.batch(); ++r) {
      require(plan.length(r) > 0, kCall, [&] {
        return "request " + s(r) + " has length 0; appending its new row needs a length of at least 1 (the new token)";
      });
    }
  }
  require_buffer(g.workspace_bytes, "workspace", static_cast<std::int64_t>(plan.layout.total));
  launch_checks::require_lengths_fit(kCall, plan, g.max_pages, g.page_size);
}

void check_page_table(const MlaDecodeGeometry& g, const DecodePlan& plan, std::span<const std::int32_t> table) {
  require(static_cast<std::int64_t>(table.size()) >= (std::int64_t{g.batch} - 1) * g.page_table_stride + g.max_pages,
          kCall, [&] {
            return "the host page table holds " + s(static_cast<std::int64_t>(table.size())) + " entries; batch " +
                   s(g.batch) + " x stride " + s(g.page_table_stride) + " needs more";
          });
  for (int r = 0; r < plan.batch(); ++r) {
    const std::int64_t pages = std::min<std::int64_t>((plan.length(r) + g.page_size - 1) / g.page_size, g.max_pages);
    for (std::int64_t i = 0; i < pages; ++i) {
      const std::int32_t page = table[static_cast<std::size_t>(r * g.page_table_stride + i)];
      require(page >= 0 && page < g.num_pages, kCall, [&] {
        return "page_table[" + s(r) + ", " + s(i) + "] = " + s(page) + " is outside [0, num_pages = " + s(g.num_pages) +
               ") and request " + s(r) + " reads that page";
      });
    }
  }
}

}  // namespace zemla
