#include "tools/api_path.hpp"

#include <algorithm>
#include <cstdint>
#include <numeric>
#include <vector>

#include "harness/mla_op_args.hpp"
#include "zemla/error.hpp"

namespace zemla::cli {

namespace {

constexpr const char* kCall = "run --api";

// Token `t` of request `r`: its 576 values in the problem's paged cache.
const std::uint16_t* token_row(const MlaProblem& p, int r, int t) {
  const std::int32_t page = p.page_table[static_cast<std::size_t>(r) * p.max_pages + t / p.page_size];
  return p.kv_cache.data() + (static_cast<std::size_t>(page) * p.page_size + t % p.page_size) * mla::kRowDim;
}

// The rows a server would append: for an FP8 problem, each cached value
// (kv_cache * kv_scale) in the problem's dtype, which the cache's append
// quantizes back to the problem's byte: the dtype's rounding (2^-9 relative
// at most for bf16) is far inside half an FP8 step, so the byte comes back.
std::vector<std::uint16_t> gather_rows(const MlaProblem& p, int r, int first, int count) {
  std::vector<std::uint16_t> rows(static_cast<std::size_t>(count) * mla::kRowDim);
  for (int t = 0; t < count; ++t) {
    const std::uint16_t* src = token_row(p, r, first + t);
    std::transform(src, src + mla::kRowDim, rows.begin() + static_cast<std::ptrdiff_t>(t) * mla::kRowDim,
                   [&](std::uint16_t v) {
                     return is_fp8(p.kv_format) ? from_float(p.dtype, to_float(p.dtype, v) * p.kv_scale) : v;
                   });
  }
  return rows;
}

template <typename T>
Tensor upload(Runtime& runtime, const std::vector<T>& v) {
  Tensor t = runtime.allocate(std::max<std::size_t>(v.size() * sizeof(T), 1));
  if (!v.empty()) t.upload(v.data(), v.size() * sizeof(T));
  return t;
}

// out and lse read back and widened, with what the runtime says of its device.
ApiRun read_back(Runtime& runtime, const MlaProblem& p, const Tensor& out, const Tensor& lse) {
  const std::size_t outputs = static_cast<std::size_t>(p.batch) * p.rows();
  ApiRun run;
  std::vector<std::uint16_t> out_bits(outputs * mla::kLatentDim);
  out.download(out_bits.data(), out_bits.size() * sizeof(std::uint16_t));
  run.result.out.resize(out_bits.size());
  std::transform(out_bits.begin(), out_bits.end(), run.result.out.begin(),
                 [&](std::uint16_t b) { return to_float(p.dtype, b); });
  run.result.lse.resize(outputs);
  lse.download(run.result.lse.data(), outputs * sizeof(float));
  run.device = runtime.device();
  return run;
}

}  // namespace

ApiRun run_through_op(const MlaProblem& p, const std::string& backend, int device, int num_kv_splits) {
  Runtime runtime({backend, device});
  const Tensor q_nope = upload(runtime, p.q_nope);
  const Tensor q_rope = upload(runtime, p.q_rope);
  const Tensor kv = is_fp8(p.kv_format) ? upload(runtime, p.kv_fp8) : upload(runtime, p.kv_cache);
  const Tensor seq_lens = upload(runtime, p.seqlens);
  const Tensor page_table = upload(runtime, p.page_table);
  const std::size_t outputs = static_cast<std::size_t>(p.batch) * p.rows();
  Tensor out = runtime.allocate(outputs * mla::kLatentDim * sizeof(std::uint16_t));
  Tensor lse = runtime.allocate(outputs * sizeof(float));
  const std::size_t workspace_bytes = flash_mla_get_workspace_size(runtime, p.seqlens, p.rows(), num_kv_splits);
  Tensor workspace = runtime.allocate(workspace_bytes);

  FlashMlaDecodeArgs a = flash_mla_args(p, num_kv_splits);
  a.q_nope = &q_nope;
  a.q_rope = &q_rope;
  a.kv_cache = &kv;
  a.seq_lens = &seq_lens;
  a.page_table = &page_table;
  a.workspace = &workspace;
  a.out = &out;
  a.lse = &lse;
  flash_mla_decode(runtime, a);
  ApiRun run = read_back(runtime, p, out, lse);
  run.workspace_bytes = workspace_bytes;
  return run;
}

ApiRun run_through_api(const MlaProblem& p, const std::string& backend, int device, int num_kv_splits) {
  for (int r = 0; r < p.batch; ++r) {
    require(p.seqlens[r] >= p.q_len, kCall, [&] {
      return "request " + std::to_string(r) + " has " + std::to_string(p.seqlens[r]) +
             " tokens; through the API a decode step appends its " + std::to_string(p.q_len) + " query token(s)";
    });
  }
  Runtime runtime({backend, device});
  int pages = 0;
  for (const auto len : p.seqlens) pages += (len + p.page_size - 1) / p.page_size;
  MlaCacheOptions options;
  options.server_flags = {
      "--decode-attention-backend", "intel_xpu", "--prefill-attention-backend",   "triton", "--page-size",
      std::to_string(p.page_size),  "--dtype",   std::string(dtype_name(p.dtype))};
  if (is_fp8(p.kv_format)) {
    options.server_flags.insert(options.server_flags.end(),
                                {"--kv-cache-dtype", std::string(kv_format_name(p.kv_format))});
  }
  options.num_layers = 1;
  options.num_pages = pages;
  MlaCache cache(runtime, options);
  if (has_layer_scale(p.kv_format)) cache.set_kv_scale(0, p.kv_scale);

  std::vector<std::int64_t> ids(p.batch);
  std::iota(ids.begin(), ids.end(), 0);
  for (int r = 0; r < p.batch; ++r) {
    cache.add_request(ids[r]);
    const int prompt = p.seqlens[r] - p.q_len;
    if (prompt == 0) continue;
    const Tensor rows = upload(runtime, gather_rows(p, r, 0, prompt));
    cache.begin_prefill(ids[r], prompt).append(0, rows);
  }

  std::vector<std::uint16_t> new_rows;
  for (int r = 0; r < p.batch; ++r) {
    const auto row = gather_rows(p, r, p.seqlens[r] - p.q_len, p.q_len);
    new_rows.insert(new_rows.end(), row.begin(), row.end());
  }
  const Tensor rows = upload(runtime, new_rows);
  const Tensor q_nope = upload(runtime, p.q_nope);
  const Tensor q_rope = upload(runtime, p.q_rope);
  const std::size_t outputs = static_cast<std::size_t>(p.batch) * p.rows();
  Tensor out = runtime.allocate(outputs * mla::kLatentDim * sizeof(std::uint16_t));
  Tensor lse = runtime.allocate(outputs * sizeof(float));

  MlaStep step = cache.begin_step(ids, p.heads, num_kv_splits, p.q_len);
  step.append_decode(0, rows, q_nope, q_rope, out, &lse, p.sm_scale);

  ApiRun run = read_back(runtime, p, out, lse);
  run.plan = step.plan();
  run.workspace_bytes = step.plan().workspace_bytes;
  return run;
}

}  // namespace zemla::cli
