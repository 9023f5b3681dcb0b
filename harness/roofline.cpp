#include "roofline.hpp"

namespace zemla {

std::optional<Roofline> known_roofline(std::string_view name) {
  struct Entry {
    std::string_view match;
    Roofline roof;
  };
  static constexpr Entry kKnown[] = {
      {"H100", {3350, 66.9, "NVIDIA H100 SXM5 datasheet: 3.35 TB/s HBM3, 67 TFLOP/s FP32"}},
      {"H200", {4800, 66.9, "NVIDIA H200 datasheet: 4.8 TB/s HBM3e, 67 TFLOP/s FP32"}},
      {"Max 1550", {3276.8, 52.4, "Intel Data Center GPU Max 1550: 3.2 TB/s HBM2e, 52 TFLOP/s FP32"}},
      {"Max 1100", {1228.8, 22.2, "Intel Data Center GPU Max 1100: 1.2 TB/s HBM2e, 22 TFLOP/s FP32"}},
      {"A770", {560, 19.7, "Intel Arc A770: 560 GB/s GDDR6, 19.7 TFLOP/s FP32"}},
      {"Flex 170", {576, 16.0, "Intel Data Center GPU Flex 170: 576 GB/s GDDR6, 16 TFLOP/s FP32"}},
  };
  for (const auto& e : kKnown) {
    if (name.find(e.match) != std::string_view::npos) return e.roof;
  }
  return std::nullopt;
}

StepCost mla_step_cost(const DecodePlan& plan, std::span<const std::int32_t> seqlens, int kv_row_bytes) {
  StepCost c;
  double tokens = 0;
  for (auto len : seqlens) tokens += len;
  const double h = plan.heads;
  const double b = static_cast<double>(seqlens.size());
  c.kv_bytes = tokens * kv_row_bytes * plan.head_blocks;
  c.bytes = c.kv_bytes + b * h * (576 + 512) * 2;
  if (plan.needs_combine) c.bytes += double(plan.total_splits()) * h * (512 + 1) * 4 * 2;
  c.bytes += double(plan.total_splits()) * 16 + tokens / 16 * 4;
  c.flops = tokens * h * (2 * 576 + 2 * 512);
  return c;
}

}  // namespace zemla
