#pragma once
// Runs one host-held MLA problem on a device end to end: upload, plan,
// decode, read back. Shared by the CLI, the tests and the benchmark so all
// three exercise exactly the path an embedding server uses.

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "host/decode_planner.hpp"
#include "host/mla_problem.hpp"
#include "runtime/ops/mla_decode.hpp"

namespace zemla::ops {

struct MlaRunOptions {
  int num_kv_splits = -1;
  int warmup = 0;  // untimed runs first
  int iters = 1;   // timed runs (device clock); 0 = one untimed run
  bool want_lse = true;
  bool check_page_table = true;  // full host check of the page ids each request reads
};

struct MlaRunOutcome {
  MlaResult result;  // out widened to fp32, lse
  DecodePlan plan;
  std::string variant;
  std::string binary;  // "spirv", "zebin pvc", "opencl-c"
  std::vector<DecodeTiming> timings;

  // Timed steps (split + combine), ascending; empty when nothing was timed.
  std::vector<double> sorted_step_ms() const;
  // The median of those, 0 when nothing was timed.
  double median_step_ms() const;
};

MlaRunOutcome run_mla_problem(rt::Device& device, const MlaProblem& problem, const MlaRunOptions& options);

// Pieces the MLA and GQA runners share. The untimed and timed runs
// `options` asks for (run(timed) launches one decode), then a finish.
std::vector<DecodeTiming> run_iterations(rt::Device& device, const MlaRunOptions& options,
                                         const std::function<std::optional<DecodeTiming>(bool timed)>& run);
// NaN bits of the dtype: an output
// element the kernels fail to write stays NaN.
std::vector<std::uint16_t> poisoned_output(DType dtype, std::size_t values);
// out widened to fp32, and lse, read back.
MlaResult read_result(rt::Device& device, const rt::Buffer& out, const rt::Buffer& lse, DType dtype,
                      std::size_t out_values, std::size_t lse_values);
// "spirv", "zebin pvc", "opencl-c"; "" before the program is built.
std::string loaded_binary_name(const rt::Device& device, const rt::ProgramKey& key);

}  // namespace zemla::ops
