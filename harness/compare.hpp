#pragma once
// The numerics contract, in one place for tests and the CLI (README: Tolerances):
//   per output row (one request, one head): max|got - ref| <= 4 u max|ref|
//     (u = 2^-8 bf16, 2^-11 fp16: the output is rounded to the dtype once,
//     and the fp32 accumulation adds a little more),
//   over the tensor: 1 - cos_sim(got, ref) < 1e-5,
//   LSE: |got - ref| < 1e-3, and -inf exactly where the reference has -inf.

#include <string>

#include "mla_problem.hpp"

namespace zemla {

struct Comparison {
  double max_abs_error = 0;
  double worst_row_ratio = 0;  // max over rows of error / allowed error (pass: <= 1)
  double cosine_distance = 0;  // 1 - cos_sim
  double max_lse_error = 0;
  bool pass = false;
  std::string failure;  // first violated rule, with its index and values
};

Comparison compare_with_reference(const DecodeResult& got, const DecodeResult& ref, DType dtype, int row_len,
                                  bool check_lse);

}  // namespace zemla
