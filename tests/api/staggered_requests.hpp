#pragma once
// Requests that start and finish at different decode steps, as a serving
// loop sees them: the end-to-end API tests walk their steps with this.

#include <cstdint>
#include <vector>

namespace zemla::testing {

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
