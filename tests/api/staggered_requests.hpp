#pragma once
// Requests that start and finish at different decode steps, as a serving
// loop sees them: the end-to-end API tests walk their steps with this.

#include <cstdint>
#include <random>
#include <vector>

#include "dtype.hpp"

namespace zemla::testing {

// n bf16 values, normal(0, 1), from a seed of the request's own (id, salt):
// the same request gets the same inputs in every cache and batch, which the
// deterministic-inference tests rely on.
inline std::vector<std::uint16_t> seeded_bf16(std::int64_t id, std::size_t n, int salt) {
  std::mt19937_64 rng(static_cast<std::uint64_t>(id) * 7919 + static_cast<std::uint64_t>(salt));
  std::normal_distribution<float> normal;
  std::vector<std::uint16_t> v(n);
  for (auto& x : v) x = from_float(DType::bf16, normal(rng));
  return v;
}

struct StaggeredRequest {
  std::int64_t id;
  int start_step;
  int prompt;  // tokens written by a prefill before its first decode step
  int tokens;  // generated (decode) tokens before it finishes
};

// The requests decoding at `step`, in list order. Before that, start(r) runs
// for each request starting at `step` and finish(r) for each whose last
// token was the step before.
template <typename Start, typename Finish>
std::vector<std::int64_t> requests_at_step(const std::vector<StaggeredRequest>& requests, int step, Start&& start,
                                           Finish&& finish) {
  std::vector<std::int64_t> active;
  for (const auto& r : requests) {
    if (step == r.start_step) start(r);
    if (step >= r.start_step && step < r.start_step + r.tokens) active.push_back(r.id);
    if (step == r.start_step + r.tokens) finish(r);
  }
  return active;
}

}  // namespace zemla::testing
