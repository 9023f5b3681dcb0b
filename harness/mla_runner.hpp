#pragma once
// Runs one host-held MLA problem on a device end to end: upload, plan,
// decode, read back, driving the decoder directly on the problem's own page
// table. The CLI, the tests and the benchmark share it; the path an
// embedding server takes, through the public API, is tools/api_path.hpp.

#include "mla_problem.hpp"
#include "ops/mla/mla_decode.hpp"
#include "runner.hpp"

namespace zemla::ops {

RunOutcome run_mla_problem(rt::Device& device, const MlaProblem& problem, const RunOptions& options);

}  // namespace zemla::ops
