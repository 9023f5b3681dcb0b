#pragma once
// Random paged GQA decode problems (reference::GqaProblem) for the tests, the
// CLI and the benchmark, built like the MLA ones: shuffled, interleaved pages.

#include <cstdint>
#include <vector>

#include "reference.hpp"

namespace zemla {

struct RandomGqaSpec {
  DType dtype = DType::bf16;
  int q_heads = 8, kv_heads = 1, head_dim = 128, page_size = 64;
  std::vector<std::int32_t> seqlens;
  float softcap = 0;
  int window_left = -1;
  std::uint64_t seed = 1;
  int spare_pages = 2;
};

// q, K and V normal(0, 1) in the dtype; sm_scale = 1 / sqrt(head_dim).
reference::GqaProblem make_random_gqa_problem(const RandomGqaSpec& spec);

}  // namespace zemla
