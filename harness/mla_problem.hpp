#pragma once
// One MLA decode step held on the host: the tensors of flash_mla_decode (README: .npy files) as raw
// 16-bit values of `dtype`, contiguous. Tests, the CLI (random or .npy input)
// and the reference all speak this type.

#include <cstdint>
#include <random>
#include <span>
#include <string>
#include <vector>

#include "host/dtype.hpp"
#include "host/fp8.hpp"
#include "ops/mla/mla_shape.hpp"

namespace zemla {

struct MlaProblem {
  DType dtype = DType::bf16;
  int batch = 0;
  int heads = 0;  // query heads per token
  // Query tokens per request (multi-token decode, 1 to 8): q and out hold
  // rows() rows per request, q_len tokens of `heads` heads, token-major.
  // They are the request's last q_len tokens: token i of a request of
  // length L sees the tokens before L - (q_len - 1 - i).
  int q_len = 1;
  int page_size = 0;
  int num_pages = 0;
  int max_pages = 0;  // page-table row width
  float sm_scale = 0;
  std::vector<std::uint16_t> q_nope;     // [batch, q_len * heads, 512]
  std::vector<std::uint16_t> q_rope;     // [batch, q_len * heads, 64]
  std::vector<std::uint16_t> kv_cache;   // [num_pages, page_size, 576]
  std::vector<std::int32_t> page_table;  // [batch, max_pages]
  std::vector<std::int32_t> seqlens;     // [batch]
  // An FP8 cache (host/fp8.hpp): kv_fp8 holds its bytes, [num_pages,
  // page_size, 576] (fp8_ds_mla: 656 per row), and the device reads them;
  // kv_cache holds the values the kernels stage from them, in `dtype` (the
  // FP8 values exactly; fp8_ds_mla's times their block scales, rounded to
  // bf16), and every cached value is kv_cache * kv_scale. For a 16-bit
  // cache and fp8_ds_mla, kv_scale is 1; for a 16-bit one, kv_fp8 is empty.
  KvFormat kv_format = KvFormat::same;
  float kv_scale = 1.0f;
  std::vector<std::uint8_t> kv_fp8;

  // Query rows per request: q_len tokens x heads.
  int rows() const { return q_len * heads; }
};

// Turns `p`'s cache into `format` (FP8): one scale for the whole cache,
// amax / the format's largest value, each value rounded to nearest even
// (fp8_ds_mla: each row as kv_append writes it, quantize_ds_mla_row);
// kv_cache then holds the quantized values (the reference's input).
void quantize_kv(MlaProblem& p, KvFormat format);

struct DecodeResult {
  std::vector<float> out;  // [batch, heads, 512]
  std::vector<float> lse;  // [batch, heads]; -inf for an empty request
};

struct RandomMlaSpec {
  DType dtype = DType::bf16;
  int heads = 16;
  int q_len = 1;  // query tokens per request (MlaProblem::q_len)
  int page_size = 64;
  std::vector<std::int32_t> seqlens;
  std::uint64_t seed = 1;
  int spare_pages = 3;  // pages no request uses, so a stray read finds garbage, not zeros
  // Uniform values from a cheap generator instead of normal ones: for
  // gigabyte-sized benchmark caches where only the speed matters.
  bool fast_fill = false;
  KvFormat kv_format = KvFormat::same;  // FP8: quantize_kv after filling
};

// A page table for requests of `seqlens` tokens over a pool of exactly the
// pages they need plus `spare_pages`, drawn from one shuffled order, so
// pages are non-contiguous and interleaved between requests.
struct RandomPaging {
  int max_pages = 0, num_pages = 0;
  std::vector<std::int32_t> page_table;  // [batch, max_pages], -1 past each request's pages
};
RandomPaging random_paging(std::span<const std::int32_t> seqlens, int page_size, int spare_pages, std::mt19937_64& rng,
                           const char* call);

// Refuses (ZEMLA_ERROR_INVALID_ARGUMENT, naming `what`) a host allocation of
// `bytes`, computed in 64 bits by the caller, beyond this machine's memory:
// a step generated from absurd flags fails with its size, not bad_alloc.
void require_host_bytes(std::int64_t bytes, const char* call, const std::string& what);

// Random, well-scaled inputs; every request's pages are drawn from one
// shuffled pool, so page order is non-contiguous and interleaved.
MlaProblem make_random_problem(const RandomMlaSpec& spec);

// Lengths uniform in [lo, hi], one per request, reproducible from `seed`.
std::vector<std::int32_t> random_seqlens(int batch, int lo, int hi, std::uint64_t seed);

// The CLI's default job (`zemla` with no arguments): a DeepSeek-V3 decode
// step, H=16, B=32, lengths 1..8192, page 64, bf16, seed 1.
RandomMlaSpec default_step_spec();

// A decode step's new rows as the fused kv_append takes them: each
// request's last token (its new one) copied out of `kv` (the problem's
// cache or a copy of it), whose row is then overwritten with a large finite
// value, so that a decode reading the cache there instead of the new rows
// fails its check. `offsets` are the rows' offsets in `kv`, in values.
// Every request must hold a token.
struct NewRows {
  std::vector<std::uint16_t> rows;  // [batch, 576]
  std::vector<std::size_t> offsets;
};
NewRows take_new_rows(const MlaProblem& p, std::vector<std::uint16_t>& kv);

// DeepSeek's softmax scale without YaRN: 1 / sqrt(qk_nope 128 + qk_rope 64).
inline float default_sm_scale() { return 0.07216878364870322f; }

}  // namespace zemla
