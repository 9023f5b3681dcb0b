#pragma once
// What `zemla run mla-decode` and `zemla run gqa-decode` share: the flags
// beside each command's shapes, the report's common fields, and the check
// and timing reports in JSON and as text.

#include <CLI/CLI.hpp>
#include <cstdint>
#include <memory>
#include <nlohmann/json.hpp>
#include <span>
#include <string>
#include <vector>

#include "harness/compare.hpp"
#include "harness/mla_runner.hpp"
#include "runtime/device.hpp"

namespace zemla::cli {

struct StepFlags {
  int batch = 32;
  std::vector<std::int32_t> seqlens;
  std::string seqlen_range = "1:8192";
  int splits = -1;
  std::string backend = "auto";
  int device = -1;
  std::uint64_t seed = 1;
  bool check = true;
  int iters = 0;
  int warmup = 2;

  // Explicit --seqlens, else `batch` random lengths in --seqlen-range LO:HI.
  std::vector<std::int32_t> lengths() const;
  ops::RunOptions run_options() const { return {splits, iters > 0 ? warmup : 0, iters, true}; }
  std::unique_ptr<rt::Device> open_device() const;
};

// Registers the step flags on `cmd`; returns the length flags (--batch,
// --seqlens, --seqlen-range) for a command that must exclude them.
std::vector<CLI::Option*> add_step_flags(CLI::App& cmd, StepFlags& flags);

// The fields every run report starts with.
nlohmann::json step_report(const rt::Device& device, const ops::RunOutcome& outcome, DType dtype, int page_size,
                           std::span<const std::int32_t> seqlens);

nlohmann::json check_report(const Comparison& c);
void print_check(const char* label, const nlohmann::json& c);

// A timed step: median, GB/s and TFLOP/s from its bytes and FLOPs, and the
// device's roofline when zemla knows it (host/roofline).
// The stages' own medians ride along: the step's fixed costs show there.
nlohmann::json timing_report(const ops::RunOutcome& outcome, double median_ms, double bytes, double flops, int iters,
                             const std::string& device_name);
void print_timing(const nlohmann::json& t);

}  // namespace zemla::cli
