#include "tools/run_report.hpp"

#include <iostream>

#include "host/mla_problem.hpp"
#include "host/roofline.hpp"
#include "zemla/error.hpp"

namespace zemla::cli {

std::vector<std::int32_t> seqlens_from_flags(const std::vector<std::int32_t>& seqlens, const std::string& range,
                                             int batch, std::uint64_t seed) {
  if (!seqlens.empty()) return seqlens;
  const auto colon = range.find(':');
  require(colon != std::string::npos, "run", "--seqlen-range '" + range + "' must be LO:HI");
  const int lo = std::stoi(range.substr(0, colon));
  const int hi = std::stoi(range.substr(colon + 1));
  return random_seqlens(batch, lo, hi, seed);
}

nlohmann::json check_report(const Comparison& c) {
  return {{"pass", c.pass},
          {"max_abs_error", c.max_abs_error},
          {"worst_row_error_over_tolerance", c.worst_row_ratio},
          {"one_minus_cos_sim", c.cosine_distance},
          {"max_lse_error", c.max_lse_error},
          {"failure", c.failure}};
}

void print_check(const char* label, const nlohmann::json& c) {
  const bool pass = c["pass"].get<bool>();
  std::cout << "  " << label << ": " << (pass ? "PASS" : "FAIL") << "  max abs err " << c["max_abs_error"].get<double>()
            << ", worst row err/tol " << c["worst_row_error_over_tolerance"].get<double>() << ", 1-cos "
            << c["one_minus_cos_sim"].get<double>() << ", max lse err " << c["max_lse_error"].get<double>() << '\n';
  if (!pass) std::cout << "  first failure: " << c["failure"].get<std::string>() << '\n';
}

nlohmann::json timing_report(double median_ms, double bytes, double flops, int iters, const std::string& device_name) {
  nlohmann::json t{{"iters", iters},
                   {"median_ms", median_ms},
                   {"gbs", bytes / median_ms * 1e-6},
                   {"tflops", flops / median_ms * 1e-9}};
  if (const auto roof = known_roofline(device_name)) {
    t["roofline"] = {
        {"bandwidth_gbs", roof->bandwidth_gbs}, {"fp32_tflops", roof->fp32_tflops}, {"source", roof->source}};
  }
  return t;
}

void print_timing(const nlohmann::json& t) {
  std::cout << "  time: " << t["median_ms"].get<double>() << " ms (median of " << t["iters"].get<int>() << "), "
            << t["gbs"].get<double>() << " GB/s, " << t["tflops"].get<double>() << " TFLOP/s FP32";
  if (t.contains("roofline")) {
    std::cout << "  [roof " << t["roofline"]["bandwidth_gbs"].get<double>() << " GB/s, "
              << t["roofline"]["fp32_tflops"].get<double>() << " TFLOP/s]";
  }
  std::cout << '\n';
}

}  // namespace zemla::cli
