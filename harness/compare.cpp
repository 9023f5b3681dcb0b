#include "compare.hpp"

#include <algorithm>
#include <cmath>

namespace zemla {

Comparison compare_with_reference(const DecodeResult& got, const DecodeResult& ref, DType dtype, int row_len,
                                  bool check_lse) {
  Comparison c;
  auto fail = [&](std::string why) {
    if (c.failure.empty()) c.failure = std::move(why);
  };
  if (got.out.size() != ref.out.size()) {
    fail("output has " + std::to_string(got.out.size()) + " values, reference " + std::to_string(ref.out.size()));
    return c;
  }
  const double u = unit_roundoff(dtype);
  double dot = 0, norm_got = 0, norm_ref = 0;
  const std::size_t rows = ref.out.size() / static_cast<std::size_t>(row_len);
  for (std::size_t r = 0; r < rows; ++r) {
    double row_max_ref = 0, row_err = 0;
    for (int i = 0; i < row_len; ++i) {
      const double g = got.out[r * row_len + i];
      const double e = ref.out[r * row_len + i];
      if (!std::isfinite(g)) {
        fail("row " + std::to_string(r) + " column " + std::to_string(i) + " is " + std::to_string(g));
      }
      row_max_ref = std::max(row_max_ref, std::fabs(e));
      // std::max drops a NaN difference; a non-finite output is an infinite error.
      row_err = std::max(row_err, std::isfinite(g) ? std::fabs(g - e) : INFINITY);
      dot += g * e;
      norm_got += g * g;
      norm_ref += e * e;
    }
    c.max_abs_error = std::max(c.max_abs_error, row_err);
    const double allowed = 4 * u * row_max_ref;
    const double ratio = allowed > 0 ? row_err / allowed : (row_err > 0 ? INFINITY : 0);
    if (ratio > 1) {
      fail("row " + std::to_string(r) + ": max error " + std::to_string(row_err) + " > allowed " +
           std::to_string(allowed));
    }
    c.worst_row_ratio = std::max(c.worst_row_ratio, ratio);
  }
  if (norm_ref > 0 || norm_got > 0) {
    c.cosine_distance = (norm_ref > 0 && norm_got > 0) ? 1 - dot / std::sqrt(norm_got * norm_ref) : 1;
  }
  if (c.cosine_distance >= 1e-5) fail("1 - cos_sim = " + std::to_string(c.cosine_distance) + " >= 1e-5");
  if (check_lse) {
    if (got.lse.size() != ref.lse.size()) {
      fail("lse has " + std::to_string(got.lse.size()) + " values, reference " + std::to_string(ref.lse.size()));
    } else {
      for (std::size_t i = 0; i < ref.lse.size(); ++i) {
        const bool ref_empty = std::isinf(ref.lse[i]) && ref.lse[i] < 0;
        const bool got_empty = std::isinf(got.lse[i]) && got.lse[i] < 0;
        if (ref_empty || got_empty) {
          if (ref_empty != got_empty) {
            fail("lse[" + std::to_string(i) + "] = " + std::to_string(got.lse[i]) + ", reference " +
                 std::to_string(ref.lse[i]));
          }
          continue;
        }
        const double e = std::fabs(double(got.lse[i]) - ref.lse[i]);
        if (!(e < 1e-3)) fail("lse[" + std::to_string(i) + "] error " + std::to_string(e) + " >= 1e-3");
        c.max_lse_error = std::max(c.max_lse_error, std::isnan(e) ? INFINITY : e);
      }
    }
  }
  c.pass = c.failure.empty();
  return c;
}

}  // namespace zemla
