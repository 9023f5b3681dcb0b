#include "kv_append.hpp"

#include <cmath>
#include <string>

#include "kv_append_args.h"
#include "ops/mla/mla_shape.hpp"
#include "runtime/kernel_args.hpp"
#include "zemla/error.hpp"

namespace zemla::ops {

namespace {
constexpr const char* kCall = "kv_append";
constexpr std::size_t kGroup = 64;
static_assert(kGroup == mla::kLatentDim / 8, "the fp8_ds_mla build requires a group of 64, 8 latent values each");
ZEMLA_KERNEL_ARGS_STRUCT(KernelArgs, KV_APPEND_ARGS);

// One "any" build copies 16-bit rows of either dtype; an FP8 cache needs the
// build that quantizes rows of its dtype.
std::string append_build(DType dtype, KvFormat kv_format) {
  return is_fp8(kv_format) ? kernel_build_dtype(dtype, kv_format) : "any";
}
}  // namespace

KvAppender::KvAppender(rt::Device& device, DType dtype, KvFormat kv_format)
    : device_(device),
      kv_format_(kv_format),
      kernel_(&device.kernel({"kv_append", rt::Variant::any, append_build(dtype, kv_format)}, "kv_append")) {}

// The arguments with their defaults filled in, checked; nullopt when there
// is nothing to copy. Runs on every append: messages are built only when a
// check fails.
std::optional<KvAppendArgs> KvAppender::checked(const KvAppendArgs& in) const {
  KvAppendArgs a = in;
  require(a.row_values > 0 && a.row_values % 8 == 0, kCall,
          [&] { return "row_values " + std::to_string(a.row_values) + " must be a positive multiple of 8"; });
  const bool ds_mla = kv_format_ == KvFormat::fp8_ds_mla;
  require(!ds_mla || a.row_values == mla::kRowDim, kCall, [&] {
    return "row_values " + std::to_string(a.row_values) + " for an fp8_ds_mla cache, whose rows are MLA's " +
           std::to_string(mla::kRowDim) + " values";
  });
  const std::int64_t row = a.row_values;
  // The cache's elements per row: the values, or fp8_ds_mla's 656 bytes,
  // whose stores are 8 and 16 bytes wide (kv_append.cl), so 16-byte aligned.
  const std::int64_t cache_row = ds_mla ? mla::kDsRowBytes : row;
  if (a.kv_stride_token == 0) a.kv_stride_token = cache_row;
  if (a.kv_stride_page == 0) a.kv_stride_page = a.kv_stride_token * a.page_size;
  if (a.rows_stride == 0) a.rows_stride = row;
  require(a.num_rows >= 0, kCall, [&] { return "num_rows " + std::to_string(a.num_rows) + " is negative"; });
  if (a.num_rows == 0) return std::nullopt;
  require(a.page_size > 0 && a.num_pages > 0, kCall, [&] {
    return "page_size " + std::to_string(a.page_size) + " and num_pages " + std::to_string(a.num_pages) +
           " must be positive";
  });
  require(a.kv_stride_token >= cache_row && a.kv_stride_page >= a.page_size * a.kv_stride_token && a.rows_stride >= row,
          kCall, [&] {
            return "strides must hold a " + std::to_string(cache_row) + "-element row per token, page_size rows per " +
                   "page, and " + std::to_string(row) + " values per input row";
          });
  require(!ds_mla || (a.kv_stride_token % 16 == 0 && a.kv_stride_page % 16 == 0), kCall, [&] {
    return "kv_stride_token " + std::to_string(a.kv_stride_token) + " and kv_stride_page " +
           std::to_string(a.kv_stride_page) + " of an fp8_ds_mla cache must be multiples of 16 bytes";
  });
  // A cache without a layer scale ignores it, so anything but 1 is a caller's mistake.
  const bool layer_scale = has_layer_scale(kv_format_);
  const bool scale_ok = layer_scale ? std::isfinite(a.kv_scale) && a.kv_scale > 0.0f : a.kv_scale == 1.0f;
  require(scale_ok, kCall, [&] {
    return "kv_scale " + std::to_string(a.kv_scale) +
           (layer_scale ? " must be positive and finite for an FP8 cache"
            : ds_mla    ? " must be 1 for an fp8_ds_mla cache, whose scales are in its rows"
                        : " must be 1 for a 16-bit cache");
  });
  const auto need = [](std::int64_t elems, std::int64_t elem_bytes) { return elems * elem_bytes; };
  require(
      a.kv_cache && static_cast<std::int64_t>(a.kv_cache->bytes()) >=
                        need((a.num_pages - 1) * a.kv_stride_page + (a.page_size - 1) * a.kv_stride_token + cache_row,
                             kv_value_bytes(kv_format_)),
      kCall, "kv_cache is null or smaller than num_pages x page_size rows");
  require(a.rows && static_cast<std::int64_t>(a.rows->bytes()) >= need((a.num_rows - 1) * a.rows_stride + row, 2),
          kCall, "rows is null or holds fewer than num_rows rows");
  require(a.slots && static_cast<std::int64_t>(a.slots->bytes()) >= need(a.num_rows, 4), kCall,
          "slots is null or holds fewer than num_rows int32 values");
  return a;
}

void KvAppender::validate(const KvAppendArgs& args) const { checked(args); }

bool KvAppender::bind(const KvAppendArgs& in) {
  const auto a = checked(in);
  if (!a) return false;
  KernelArgs k;
  k.kv_cache = a->kv_cache;
  k.kv_stride_page = a->kv_stride_page;
  k.kv_stride_token = a->kv_stride_token;
  k.page_size = a->page_size;
  k.num_slots = std::int64_t{a->num_pages} * a->page_size;
  k.rows = a->rows;
  k.rows_stride = a->rows_stride;
  k.slots = a->slots;
  k.num_rows = a->num_rows;
  k.row_values = a->row_values;
  // The reciprocal, as host/fp8.hpp's quantize_fp8 takes it: a multiply is
  // correctly rounded in OpenCL C, a division need not be.
  k.inv_scale = 1.0f / a->kv_scale;
  k.bind(*kernel_);
  return true;
}

void KvAppender::run(const KvAppendArgs& args) {
  if (bind(args)) device_.launch(*kernel_, {1, static_cast<std::size_t>(args.num_rows), 1}, {kGroup, 1, 1}, false);
}

void KvAppender::record(rt::Recorder& recorder, const rt::LaunchCounts& counts, std::size_t slot,
                        const KvAppendArgs& capacity) {
  require(capacity.num_rows > 0, kCall, "a recorded append needs room for at least one row");
  bind(capacity);
  recorder.launch(*kernel_, counts, slot, {kGroup, 1, 1});
}

void KvAppender::set_count(rt::LaunchCounts& counts, std::size_t slot, int rows) {
  // One group per row; the kernel's own bound is the capacity, so a step
  // never launches past its own rows.
  counts.set(slot, {1, static_cast<std::size_t>(rows), 1});
}

}  // namespace zemla::ops
