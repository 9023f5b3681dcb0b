// libFuzzer target: arbitrary geometry, lengths and page table ->
// plan_decode -> check_mla_decode -> check_page_table. Any input may be
// refused with zemla::Error; nothing may crash, and an accepted call must
// really be in bounds: every byte the kernels may touch, recomputed in
// 128-bit arithmetic, lies inside its buffer, and every page a request reads
// is in the pool.

#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "host/decode_planner.hpp"
#include "ops/mla/mla_decode_checks.hpp"
#include "ops/mla/mla_shape.hpp"
#include "zemla/error.hpp"

namespace {

class Bytes {
 public:
  Bytes(const std::uint8_t* d, std::size_t n) : d_(d), n_(n) {}
  template <typename T>
  T take() {
    T v{};
    const std::size_t k = std::min(sizeof(T), n_);
    std::memcpy(&v, d_, k);
    d_ += k;
    n_ -= k;
    return v;
  }
  // Small values most of the time, so the fuzzer reaches valid calls.
  std::int64_t small(std::int64_t range) {
    const auto raw = take<std::uint16_t>();
    return (raw & 0x8000) ? static_cast<std::int16_t>(raw) * 977 : raw % range;
  }

 private:
  const std::uint8_t* d_;
  std::size_t n_;
};

using i128 = __int128;

void must_fit(std::int64_t bytes, i128 d0, i128 s0, i128 d1, i128 s1, i128 inner, i128 elem) {
  const i128 end = ((d0 - 1) * s0 + (d1 - 1) * s1 + inner) * elem;
  if (bytes < 0 || end > bytes) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using zemla::mla::kLatentDim;
  using zemla::mla::kRopeDim;
  using zemla::mla::kRowDim;
  Bytes in(data, size);
  zemla::MlaDecodeGeometry g;
  g.batch = static_cast<int>(in.small(6));
  g.heads = static_cast<int>(in.small(40));
  g.sm_scale = in.take<float>();
  g.num_pages = static_cast<int>(in.small(12));
  g.page_size = static_cast<int>(in.small(160));
  g.max_pages = static_cast<int>(in.small(6));
  for (std::int64_t* v :
       {&g.q_nope_stride_b, &g.q_nope_stride_h, &g.q_rope_stride_b, &g.q_rope_stride_h, &g.kv_stride_page,
        &g.kv_stride_token, &g.page_table_stride, &g.out_stride_b, &g.out_stride_h, &g.lse_stride_b, &g.q_nope_bytes,
        &g.q_rope_bytes, &g.kv_cache_bytes, &g.page_table_bytes, &g.out_bytes, &g.lse_bytes, &g.workspace_bytes}) {
    *v = in.take<std::uint8_t>() & 1 ? in.take<std::int64_t>() : in.small(1 << 15) * 8;
  }
  const int splits = static_cast<int>(in.small(300)) - 1;
  // The lengths and the table get their own small counts, independent of the
  // (possibly bogus) batch and strides under test.
  std::vector<std::int32_t> seqlens(in.take<std::uint8_t>() % 6);
  for (auto& l : seqlens) l = static_cast<std::int32_t>(in.small(800));
  std::vector<std::int32_t> table(in.take<std::uint8_t>() % 64);
  for (auto& p : table) p = static_cast<std::int32_t>(in.small(14)) - 1;
  // Last, so older corpus entries keep their meaning: the cache's format
  // (16-bit, fp8_e4m3, fp8_e5m2) and, for FP8, any scale.
  const auto kv_pick = in.take<std::uint8_t>() % 3;
  g.kv_format = kv_pick == 0   ? zemla::KvFormat::same
                : kv_pick == 1 ? zemla::KvFormat::fp8_e4m3
                               : zemla::KvFormat::fp8_e5m2;
  if (kv_pick != 0) g.kv_scale = in.take<float>();
  // Later still: multi-token decode's q_len over the same g.heads rows. A
  // zero byte (as past the input's end) is 1, so older entries keep it;
  // others give -1 to 15, out-of-range values included.
  const auto q_pick = in.take<std::uint8_t>();
  g.q_len = q_pick == 0 ? 1 : q_pick % 17 - 1;

  zemla::DecodePlan plan;
  try {
    plan = zemla::plan_decode({seqlens, g.heads, 8, splits});
    zemla::check_mla_decode(g, plan);
    zemla::check_page_table(g, plan, table);
  } catch (const zemla::Error&) {
    return 0;
  }
  // Accepted: check the promises independently.
  must_fit(g.q_nope_bytes, g.batch, g.q_nope_stride_b, g.heads, g.q_nope_stride_h, kLatentDim, 2);
  must_fit(g.q_rope_bytes, g.batch, g.q_rope_stride_b, g.heads, g.q_rope_stride_h, kRopeDim, 2);
  const int kv_bytes = zemla::kv_value_bytes(g.kv_format);
  must_fit(g.kv_cache_bytes, g.num_pages, g.kv_stride_page, g.page_size, g.kv_stride_token, kRowDim, kv_bytes);
  // Rows 16-byte aligned for the kernels' vector loads; an FP8 scale usable.
  if ((g.kv_stride_token * kv_bytes) % 16 != 0 || (g.kv_stride_page * kv_bytes) % 16 != 0) std::abort();
  if (zemla::is_fp8(g.kv_format) ? !(g.kv_scale > 0 && std::isfinite(g.kv_scale)) : g.kv_scale != 1.0f) std::abort();
  must_fit(g.page_table_bytes, g.batch, g.page_table_stride, 1, 0, g.max_pages, 4);
  must_fit(g.out_bytes, g.batch, g.out_stride_b, g.heads, g.out_stride_h, kLatentDim, 2);
  if (g.lse_bytes >= 0) must_fit(g.lse_bytes, g.batch, g.lse_stride_b, 1, 0, g.heads, 4);
  if (g.workspace_bytes < static_cast<std::int64_t>(plan.layout.total)) std::abort();
  // q_len tokens of whole heads each; a request holds all of them or is empty.
  if (g.q_len < 1 || g.q_len > zemla::kMaxQLen || g.heads % g.q_len != 0) std::abort();
  for (int b = 0; b < g.batch; ++b) {
    if (seqlens[b] != 0 && seqlens[b] < g.q_len) std::abort();
    if (seqlens[b] > std::int64_t{g.max_pages} * g.page_size) std::abort();
    for (std::int64_t i = 0; i * g.page_size < seqlens[b]; ++i) {
      const auto page = table[static_cast<std::size_t>(b * g.page_table_stride + i)];
      if (page < 0 || page >= g.num_pages) std::abort();
    }
  }
  return 0;
}
