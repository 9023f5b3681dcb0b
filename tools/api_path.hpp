#pragma once
// `zemla run mla-decode --path op|cache`: the step driven through the public
// API, the calls an embedding server makes, instead of through the decoder
// directly: sgl-kernel-xpu's op call on the problem's own tensors, or a
// fresh MlaCache (prefill, begin_step, append_decode).

#include <optional>
#include <string>

#include "harness/mla_problem.hpp"
#include "zemla/zemla.hpp"

namespace zemla::cli {

struct ApiRun {
  DecodeResult result;  // out widened to fp32, lse
  DeviceDescription device;
  std::optional<DecodeStepPlan> plan;  // what MlaStep shows; the op call shows none
  std::size_t workspace_bytes = 0;
};

// Each request of `problem` becomes a request of a fresh MlaCache: its
// tokens but the last are prefilled, and one decode step appends the last
// as its new token (append_decode), so the answer must equal the problem's
// reference. Every request needs a token; `num_kv_splits` as begin_step
// takes it.
ApiRun run_through_api(const MlaProblem& problem, const std::string& backend, int device, int num_kv_splits);

// The problem's own tensors (its cache, page table and lengths) uploaded as
// a server holds them, a workspace of flash_mla_get_workspace_size for the
// lengths, and one flash_mla_decode with no host copy of the lengths: the
// call sgl-kernel-xpu makes, argument for argument.
ApiRun run_through_op(const MlaProblem& problem, const std::string& backend, int device, int num_kv_splits);

}  // namespace zemla::cli
