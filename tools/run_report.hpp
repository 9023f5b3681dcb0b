#pragma once
// What `zemla run mla-decode` and `zemla run gqa-decode` share: request
// lengths from the flags, and the check report in JSON and as text.

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "host/compare.hpp"

namespace zemla::cli {

// Explicit --seqlens, else `batch` random lengths in --seqlen-range LO:HI.
std::vector<std::int32_t> seqlens_from_flags(const std::vector<std::int32_t>& seqlens, const std::string& range,
                                             int batch, std::uint64_t seed);

nlohmann::json check_report(const Comparison& c);
void print_check(const char* label, const nlohmann::json& c);

// A timed step: median, GB/s and TFLOP/s from its bytes and FLOPs, and the
// device's roofline when zemla knows it (host/roofline).
nlohmann::json timing_report(double median_ms, double bytes, double flops, int iters, const std::string& device_name);
void print_timing(const nlohmann::json& t);

}  // namespace zemla::cli
