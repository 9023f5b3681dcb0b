#include "mla_problem.hpp"

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <numeric>
#include <random>
#include <string>

#include "ops/mla/mla_shape.hpp"
#include "zemla/error.hpp"

namespace zemla {

RandomPaging random_paging(std::span<const std::int32_t> seqlens, int page_size, int spare_pages, std::mt19937_64& rng,
                           const char* call) {
  require(page_size > 0, call, [&] { return "page_size " + std::to_string(page_size) + " must be positive"; });
  RandomPaging r;
  std::vector<int> pages_per_request;
  // In 64 bits: a length near INT32_MAX plus page_size - 1 overflows int.
  std::int64_t total_pages = spare_pages;
  for (const std::int32_t len : seqlens) {
    require(len >= 0, call, "seqlen " + std::to_string(len) + " is negative");
    const std::int64_t pages = (std::int64_t{len} + page_size - 1) / page_size;
    pages_per_request.push_back(static_cast<int>(pages));
    total_pages += pages;
  }
  // Page ids are int32 in the page table.
  require(total_pages <= INT32_MAX, call, [&] {
    return "the requests need " + std::to_string(total_pages) + " pages of " + std::to_string(page_size) +
           " tokens; page ids are int32";
  });
  r.max_pages = std::max(1, *std::max_element(pages_per_request.begin(), pages_per_request.end()));
  r.num_pages = static_cast<int>(total_pages);
  require_host_bytes((static_cast<std::int64_t>(seqlens.size()) * r.max_pages + total_pages) * 4, call,
                     "the page table");
  std::vector<std::int32_t> order(r.num_pages);
  std::iota(order.begin(), order.end(), 0);
  std::shuffle(order.begin(), order.end(), rng);
  r.page_table.assign(seqlens.size() * static_cast<std::size_t>(r.max_pages), -1);
  int next = 0;
  for (std::size_t b = 0; b < seqlens.size(); ++b) {
    for (int i = 0; i < pages_per_request[b]; ++i) r.page_table[b * r.max_pages + i] = order[next++];
  }
  return r;
}

void require_host_bytes(std::int64_t bytes, const char* call, const std::string& what) {
  static const std::int64_t host = [] {
    const long pages = ::sysconf(_SC_PHYS_PAGES), page = ::sysconf(_SC_PAGE_SIZE);
    return pages > 0 && page > 0 ? std::int64_t{pages} * page : std::int64_t{1} << 40;
  }();
  require(bytes >= 0 && bytes <= host, call, [&] {
    return what + " would take " + std::to_string(bytes >> 20) + " MiB of host memory; this machine has " +
           std::to_string(host >> 20) + " MiB (a smaller batch, length, head count or page size)";
  });
}

MlaProblem make_random_problem(const RandomMlaSpec& spec) {
  require(spec.heads > 0, "make_random_problem", "heads must be positive");
  require(spec.page_size > 0, "make_random_problem", "page_size must be positive");
  require(!spec.seqlens.empty(), "make_random_problem", "seqlens must name at least one request");
  MlaProblem p;
  p.dtype = spec.dtype;
  p.batch = static_cast<int>(spec.seqlens.size());
  p.heads = spec.heads;
  p.q_len = spec.q_len;
  p.page_size = spec.page_size;
  p.sm_scale = default_sm_scale();
  p.seqlens = spec.seqlens;

  std::mt19937_64 rng(spec.seed);
  auto paging = random_paging(spec.seqlens, spec.page_size, spec.spare_pages, rng, "make_random_problem");
  p.max_pages = paging.max_pages;
  p.num_pages = paging.num_pages;
  p.page_table = std::move(paging.page_table);
  // Sized in 64 bits before anything is allocated: the queries (q, out at
  // float32) and the cache (its 16-bit values, and an FP8 copy).
  const std::int64_t rows = std::int64_t{p.batch} * p.heads * p.q_len;
  require_host_bytes(rows * (mla::kRowDim * 2 + mla::kLatentDim * 4) +
                         std::int64_t{p.num_pages} * p.page_size * mla::kRowDim * (is_fp8(spec.kv_format) ? 3 : 2),
                     "make_random_problem", "the step's queries, outputs and cache");

  // Latent rows and queries of unit-ish scale give scores of a few units
  // after sm_scale: peaked enough that softmax errors show, not saturated.
  std::normal_distribution<float> normal(0.0f, 1.0f);
  auto fill = [&](std::vector<std::uint16_t>& v, std::size_t n) {
    v.resize(n);
    if (spec.fast_fill) {
      // xorshift64 -> uniform in [-2, 2): unit-ish scale, ~1 ns per value.
      std::uint64_t state = rng() | 1;
      for (auto& x : v) {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        x = from_float(p.dtype, static_cast<float>(state >> 40) * 0x1p-22f - 2.0f);
      }
      return;
    }
    for (auto& x : v) x = from_float(p.dtype, normal(rng));
  };
  fill(p.q_nope, static_cast<std::size_t>(p.batch) * p.rows() * mla::kLatentDim);
  fill(p.q_rope, static_cast<std::size_t>(p.batch) * p.rows() * mla::kRopeDim);
  fill(p.kv_cache, static_cast<std::size_t>(p.num_pages) * p.page_size * mla::kRowDim);
  if (is_fp8(spec.kv_format)) quantize_kv(p, spec.kv_format);
  return p;
}

void quantize_kv(MlaProblem& p, KvFormat format) {
  require(is_fp8(format), "quantize_kv", "the target format must be fp8_e4m3, fp8_e5m2 or fp8_ds_mla");
  p.kv_format = format;
  if (format == KvFormat::fp8_ds_mla) {
    require(p.dtype == DType::bf16, "quantize_kv", "fp8_ds_mla caches hold bf16 rows");
    p.kv_scale = 1.0f;
    const std::size_t rows = p.kv_cache.size() / mla::kRowDim;
    p.kv_fp8.resize(rows * mla::kDsRowBytes);
    for (std::size_t r = 0; r < rows; ++r) {
      quantize_ds_mla_row(&p.kv_cache[r * mla::kRowDim], &p.kv_fp8[r * mla::kDsRowBytes]);
      dequantize_ds_mla_row(&p.kv_fp8[r * mla::kDsRowBytes], &p.kv_cache[r * mla::kRowDim]);
    }
    return;
  }
  float amax = 0.0f;
  for (const auto v : p.kv_cache) amax = std::max(amax, std::fabs(to_float(p.dtype, v)));
  p.kv_scale = amax > 0.0f ? amax / fp8_max(format) : 1.0f;
  p.kv_fp8.resize(p.kv_cache.size());
  const float inv_scale = 1.0f / p.kv_scale;
  for (std::size_t i = 0; i < p.kv_cache.size(); ++i) {
    p.kv_fp8[i] = quantize_fp8(format, to_float(p.dtype, p.kv_cache[i]), inv_scale);
    p.kv_cache[i] = from_float(p.dtype, fp8_to_float(format, p.kv_fp8[i]));
  }
}

std::vector<std::int32_t> random_seqlens(int batch, int lo, int hi, std::uint64_t seed) {
  require(batch > 0, "random_seqlens", "batch " + std::to_string(batch) + " must be positive");
  require(lo >= 0 && hi >= lo, "random_seqlens",
          "range " + std::to_string(lo) + ":" + std::to_string(hi) + " must have 0 <= LO <= HI");
  std::mt19937_64 rng(seed ^ 0x5eedull);
  std::uniform_int_distribution<int> len(lo, hi);
  std::vector<std::int32_t> out(static_cast<std::size_t>(batch));
  for (auto& l : out) l = len(rng);
  return out;
}

RandomMlaSpec default_step_spec() {
  RandomMlaSpec spec;
  spec.dtype = DType::bf16;
  spec.heads = 16;
  spec.page_size = 64;
  spec.seed = 1;
  spec.seqlens = random_seqlens(32, 1, 8192, spec.seed);
  return spec;
}

NewRows take_new_rows(const MlaProblem& p, std::vector<std::uint16_t>& kv) {
  NewRows n;
  for (int b = 0; b < p.batch; ++b) {
    require(p.seqlens[b] > 0, "take_new_rows", [&] {
      return "request " + std::to_string(b) + " is empty; a decode step's new row is a request's last token";
    });
    const int t = p.seqlens[b] - 1;
    const std::size_t page = p.page_table[std::size_t(b) * p.max_pages + t / p.page_size];
    const std::size_t at = (page * p.page_size + t % p.page_size) * mla::kRowDim;
    n.offsets.push_back(at);
    n.rows.insert(n.rows.end(), kv.begin() + at, kv.begin() + at + mla::kRowDim);
    std::fill_n(kv.begin() + at, mla::kRowDim, std::uint16_t{0x4500});  // 2048 in bf16, 5.0 in fp16
  }
  return n;
}

}  // namespace zemla
