#pragma once
// Runs one host-held GQA problem on a device end to end (upload, plan,
// decode, read back), as run_mla_problem does for MLA; the tests and the CLI
// share it.

#include "reference.hpp"
#include "runner.hpp"

namespace zemla::ops {

RunOutcome run_gqa_problem(rt::Device& device, const reference::GqaProblem& problem, const RunOptions& options);

}  // namespace zemla::ops
