// Host-side cost of what every decode launch does on the CPU before the
// driver sees it: the argument check (check_mla_decode) and, separately, the
// optional full page-table check. Prints nanoseconds per call; no device.
//   build/bench/zemla_bench_host_overhead [iterations]

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <vector>

#include "decode_planner.hpp"
#include "ops/mla/mla_decode_checks.hpp"
#include "ops/mla/mla_shape.hpp"

namespace {

template <typename F>
double ns_per_call(int iterations, F&& f) {
  f();  // warm
  const auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < iterations; ++i) f();
  return std::chrono::duration<double, std::nano>(std::chrono::steady_clock::now() - t0).count() / iterations;
}

}  // namespace

int main(int argc, char** argv) {
  const int iterations = argc > 1 ? std::atoi(argv[1]) : 200000;
  // The DeepSeek-V3 step of the CLI default: B=32, H=16, lengths up to 8192, page 64.
  const int batch = 32, heads = 16, page_size = 64, max_pages = 128;
  std::vector<std::int32_t> seqlens(batch);
  for (int b = 0; b < batch; ++b) seqlens[b] = 1 + (b * 2654435761u) % 8192;
  const auto plan = zemla::plan_decode({seqlens, heads, 132, -1});
  zemla::MlaDecodeGeometry g;
  g.batch = batch;
  g.heads = heads;
  g.sm_scale = 0.0722f;
  g.num_pages = batch * max_pages;
  g.page_size = page_size;
  g.max_pages = max_pages;
  g.set_contiguous_strides();
  g.q_nope_bytes = g.out_bytes = std::int64_t{batch} * heads * zemla::mla::kLatentDim * 2;
  g.q_rope_bytes = std::int64_t{batch} * heads * zemla::mla::kRopeDim * 2;
  g.kv_cache_bytes = std::int64_t{g.num_pages} * page_size * zemla::mla::kRowDim * 2;
  g.page_table_bytes = std::int64_t{batch} * max_pages * 4;
  g.lse_bytes = std::int64_t{batch} * heads * 4;
  g.workspace_bytes = static_cast<std::int64_t>(plan.layout.total);
  std::vector<std::int32_t> table(std::size_t(batch) * max_pages);
  for (std::size_t i = 0; i < table.size(); ++i) table[i] = static_cast<std::int32_t>(i);

  const double check_ns = ns_per_call(iterations, [&] { zemla::check_mla_decode(g, plan); });
  const double table_ns = ns_per_call(iterations / 10, [&] { zemla::check_page_table(g, plan, table); });
  std::printf("host overhead per decode launch (B=%d, H=%d, %d splits), %d iterations:\n", batch, heads,
              plan.total_splits(), iterations);
  std::printf("  check_mla_decode     %8.0f ns\n", check_ns);
  std::printf("  check_page_table     %8.0f ns (optional, %lld pages read)\n", table_ns,
              static_cast<long long>(table.size()));
  return 0;
}
