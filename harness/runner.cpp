#include "runner.hpp"

#include <algorithm>
#include <limits>

namespace zemla::ops {

namespace {

// One time per timed run, `of` picking it from the run's stage times, ascending.
template <typename Of>
std::vector<double> sorted_times(const std::vector<DecodeTiming>& timings, Of of) {
  std::vector<double> ms;
  for (const auto& t : timings) ms.push_back(of(t));
  std::sort(ms.begin(), ms.end());
  return ms;
}

double median(const std::vector<double>& sorted) { return sorted.empty() ? 0.0 : sorted[sorted.size() / 2]; }

}  // namespace

std::vector<double> RunOutcome::sorted_step_ms() const {
  return sorted_times(timings, [](const DecodeTiming& t) { return t.split_ms + t.combine_ms; });
}

double RunOutcome::median_step_ms() const { return median(sorted_step_ms()); }

double RunOutcome::median_split_ms() const {
  return median(sorted_times(timings, [](const DecodeTiming& t) { return t.split_ms; }));
}

double RunOutcome::median_combine_ms() const {
  return median(sorted_times(timings, [](const DecodeTiming& t) { return t.combine_ms; }));
}

std::vector<DecodeTiming> run_iterations(rt::Device& device, const RunOptions& options,
                                         const std::function<std::optional<DecodeTiming>(bool timed)>& run) {
  for (int i = 0; i < options.warmup; ++i) run(false);
  if (options.iters <= 0) run(false);
  std::vector<DecodeTiming> timings;
  for (int i = 0; i < options.iters; ++i) timings.push_back(*run(true));
  device.finish();
  return timings;
}

PoisonedOutputs::PoisonedOutputs(rt::Device& device, DType dtype, std::size_t out_values, std::size_t lse_values)
    : dtype(dtype),
      out_values(out_values),
      lse_values(lse_values),
      out(device.upload_vector(std::vector<std::uint16_t>(out_values, dtype == DType::bf16 ? 0x7fc0 : 0x7e00))),
      lse(device.upload_vector(std::vector<float>(lse_values, std::numeric_limits<float>::quiet_NaN()))) {}

DecodeResult PoisonedOutputs::read(rt::Device& device) const {
  std::vector<std::uint16_t> out_bits(out_values);
  device.read(*out, out_bits.data(), out_bits.size() * sizeof(std::uint16_t));
  DecodeResult r;
  r.out.resize(out_bits.size());
  for (std::size_t i = 0; i < out_bits.size(); ++i) r.out[i] = to_float(dtype, out_bits[i]);
  r.lse.resize(lse_values);
  device.read(*lse, r.lse.data(), r.lse.size() * sizeof(float));
  return r;
}

std::string loaded_binary_name(const rt::Device& device, const rt::ProgramKey& key) {
  const auto* bin = device.loaded_binary(key);
  if (bin == nullptr) return "";
  std::string name(kernels::format_name(bin->format));
  // A zebin's device, or which SPIR-V build (the DPAS emulations) when not the plain one.
  if (bin->target != name) name += " " + std::string(bin->target);
  return name;
}

}  // namespace zemla::ops
