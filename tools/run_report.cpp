#include "tools/run_report.hpp"

#include <algorithm>
#include <charconv>
#include <iostream>
#include <limits>
#include <string_view>

#include "harness/mla_problem.hpp"
#include "harness/roofline.hpp"
#include "runtime/select.hpp"
#include "zemla/error.hpp"

namespace zemla::cli {

std::vector<std::int32_t> StepFlags::lengths() const {
  if (!seqlens.empty()) return seqlens;
  // Exactly two whole integers, 0 <= LO <= HI: "1:2:3", "a:b" or "5:1" are
  // refused, not half-read (std::stoi took "1:2:3" as 1:2 and threw on "a").
  const auto bad = [&] { return "--seqlen-range '" + seqlen_range + "' must be LO:HI, two integers 0 <= LO <= HI"; };
  const auto colon = seqlen_range.find(':');
  require(colon != std::string::npos, "run", bad);
  const auto whole_int = [&](std::string_view text, int& v) {
    const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
    return ec == std::errc{} && end == text.data() + text.size() && !text.empty();
  };
  int lo = 0, hi = 0;
  const std::string_view range(seqlen_range);
  require(whole_int(range.substr(0, colon), lo) && whole_int(range.substr(colon + 1), hi) && 0 <= lo && lo <= hi, "run",
          bad);
  return random_seqlens(batch, lo, hi, seed);
}

std::unique_ptr<rt::Device> StepFlags::open_device() const { return rt::open_device(rt::selection(backend, device)); }

std::vector<CLI::Option*> add_step_flags(CLI::App& cmd, StepFlags& f) {
  std::vector<CLI::Option*> lengths;
  lengths.push_back(
      cmd.add_option("--batch,-b", f.batch, "Requests in the batch (ignored with --seqlens)")->capture_default_str());
  lengths.push_back(
      cmd.add_option("--seqlens", f.seqlens, "Cached tokens per request, comma separated: 8192,100,1")->delimiter(','));
  lengths.push_back(
      cmd.add_option("--seqlen-range", f.seqlen_range, "Random lengths LO:HI, one per request")->capture_default_str());
  cmd.add_option("--splits", f.splits, "KV splits per request; -1 lets the planner choose")->capture_default_str();
  cmd.add_option("--backend", f.backend, "auto, level_zero or opencl")->capture_default_str();
  cmd.add_option("--device", f.device, "Device index within the backend (-1: best, a GPU first)")
      ->capture_default_str();
  cmd.add_option("--seed", f.seed, "Random seed for inputs and lengths")->capture_default_str();
  cmd.add_flag("--check,!--no-check", f.check, "Compare with the fp64 host reference (default on)");
  cmd.add_option("--iters", f.iters, "Timed iterations on the device clock (0: no timing)")
      ->capture_default_str()
      ->check(CLI::Range(0, std::numeric_limits<int>::max()));
  cmd.add_option("--warmup", f.warmup, "Untimed iterations before timing")
      ->capture_default_str()
      ->check(CLI::Range(0, std::numeric_limits<int>::max()));
  return lengths;
}

nlohmann::json step_report(const rt::Device& device, const ops::RunOutcome& outcome, DType dtype, int page_size,
                           std::span<const std::int32_t> seqlens) {
  return {{"device", device.info().name},
          {"backend", rt::backend_name(device.info().backend)},
          {"variant", rt::variant_name(outcome.variant)},
          {"binary", outcome.binary},
          {"dtype", dtype_name(dtype)},
          {"batch", seqlens.size()},
          {"page_size", page_size},
          {"max_seqlen", *std::max_element(seqlens.begin(), seqlens.end())},
          {"total_splits", outcome.plan.total_splits()},
          {"combine", outcome.plan.needs_combine}};
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

nlohmann::json timing_report(const ops::RunOutcome& outcome, double median_ms, double bytes, double flops, int iters,
                             const std::string& device_name) {
  nlohmann::json t{{"iters", iters},
                   {"median_ms", median_ms},
                   {"split_median_ms", outcome.median_split_ms()},
                   {"combine_median_ms", outcome.median_combine_ms()},
                   {"gbs", bytes / median_ms * 1e-6},
                   {"tflops", flops / median_ms * 1e-9}};
  if (const auto roof = known_roofline(device_name)) {
    t["roofline"] = {
        {"bandwidth_gbs", roof->bandwidth_gbs}, {"fp32_tflops", roof->fp32_tflops}, {"source", roof->source}};
  }
  return t;
}

void print_timing(const nlohmann::json& t) {
  std::cout << "  time: " << t["median_ms"].get<double>() << " ms (median of " << t["iters"].get<int>() << "; split "
            << t["split_median_ms"].get<double>() << ", combine " << t["combine_median_ms"].get<double>() << "), "
            << t["gbs"].get<double>() << " GB/s, " << t["tflops"].get<double>() << " TFLOP/s FP32";
  if (t.contains("roofline")) {
    std::cout << "  [roof " << t["roofline"]["bandwidth_gbs"].get<double>() << " GB/s, "
              << t["roofline"]["fp32_tflops"].get<double>() << " TFLOP/s]";
  }
  std::cout << '\n';
}

}  // namespace zemla::cli
