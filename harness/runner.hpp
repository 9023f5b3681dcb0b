#pragma once
// What every op's runner shares (harness/mla_runner.hpp, gqa_runner.hpp): a
// run's options and outcome, the timed loop, poisoned outputs and the name
// of the binary a program loaded.

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "host/decode_planner.hpp"
#include "host/dtype.hpp"
#include "mla_problem.hpp"
#include "ops/split_kv/split_kv_decoder.hpp"

namespace zemla::ops {

struct RunOptions {
  int num_kv_splits = -1;
  int warmup = 0;  // untimed runs first
  int iters = 1;   // timed runs (device clock); 0 = one untimed run
  bool want_lse = true;
  bool check_page_table = true;  // full host check of the page ids each request reads
  // Each request's last token as a decode step's new row, appended by the
  // decode itself (MlaDecodeArgs::new_rows): its cache slot is poisoned
  // before the run, so a kernel that read the cache there, or did not write
  // the row, is caught. Needs every request to hold a token.
  bool fused_append = false;
  // > 0: batch-invariant splits of this many tokens (PlannerInputs::split_tokens).
  int split_tokens = 0;
};

struct RunOutcome {
  DecodeResult result;  // out widened to fp32, lse
  DecodePlan plan;
  rt::Variant variant = rt::Variant::any;
  std::string binary;  // loaded_binary_name()
  std::vector<DecodeTiming> timings;
  // With fused_append: values of the requests' last cache rows that differ
  // from the problem's after the run (0 when every row was written).
  std::size_t appended_values_wrong = 0;

  // Timed steps (split + combine), ascending; empty when nothing was timed.
  std::vector<double> sorted_step_ms() const;
  // The median of those, 0 when nothing was timed.
  double median_step_ms() const;
  // Medians of the two stages alone (combine: 0 when the plan has none).
  double median_split_ms() const;
  double median_combine_ms() const;
};

// The untimed and timed runs `options` asks for (run(timed) launches one
// decode), then a finish.
std::vector<DecodeTiming> run_iterations(rt::Device& device, const RunOptions& options,
                                         const std::function<std::optional<DecodeTiming>(bool timed)>& run);
// out (16-bit values of `dtype`) and lse (fp32) on the device, filled with
// NaN first: an element the kernels fail to write stays NaN.
struct PoisonedOutputs {
  PoisonedOutputs(rt::Device& device, DType dtype, std::size_t out_values, std::size_t lse_values);
  // out widened to fp32, and lse, read back.
  DecodeResult read(rt::Device& device) const;

  const DType dtype;
  const std::size_t out_values, lse_values;
  const std::unique_ptr<rt::Buffer> out, lse;
};
// "spirv", "zebin pvc", "spirv emulated-sg8", "opencl-c"; "" before the program is built.
std::string loaded_binary_name(const rt::Device& device, const rt::ProgramKey& key);

}  // namespace zemla::ops
