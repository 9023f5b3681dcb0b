#pragma once
// `zemla run mla-decode --api`: the step driven through the public API, the
// calls an embedding server makes (Runtime, MlaCache, prefill, begin_step,
// append_decode), instead of through the decoder directly.

#include <string>

#include "harness/mla_problem.hpp"
#include "zemla/zemla.hpp"

namespace zemla::cli {

struct ApiRun {
  DecodeResult result;  // out widened to fp32, lse
  DeviceDescription device;
  DecodeStepPlan plan;
};

// Each request of `problem` becomes a request of a fresh MlaCache: its
// tokens but the last are prefilled, and one decode step appends the last
// as its new token (append_decode), so the answer must equal the problem's
// reference. Every request needs a token; `num_kv_splits` as begin_step
// takes it.
ApiRun run_through_api(const MlaProblem& problem, const std::string& backend, int device, int num_kv_splits);

}  // namespace zemla::cli
