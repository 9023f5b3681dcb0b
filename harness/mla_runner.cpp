#include "mla_runner.hpp"

#include <algorithm>
#include <limits>

#include "ops/mla/mla_shape.hpp"
#include "zemla/error.hpp"

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

std::vector<double> MlaRunOutcome::sorted_step_ms() const {
  return sorted_times(timings, [](const DecodeTiming& t) { return t.split_ms + t.combine_ms; });
}

double MlaRunOutcome::median_step_ms() const { return median(sorted_step_ms()); }

double MlaRunOutcome::median_split_ms() const {
  return median(sorted_times(timings, [](const DecodeTiming& t) { return t.split_ms; }));
}

double MlaRunOutcome::median_combine_ms() const {
  return median(sorted_times(timings, [](const DecodeTiming& t) { return t.combine_ms; }));
}

MlaRunOutcome run_mla_problem(rt::Device& device, const MlaProblem& p, const MlaRunOptions& options) {
  require(!(options.fused_append && is_fp8(p.kv_format)), "run_mla_problem",
          "the fused append does not write an FP8 cache");
  MlaDecoder decoder(device, p.dtype, p.kv_format);
  MlaRunOutcome outcome;
  outcome.variant = decoder.variant();
  outcome.plan = decoder.plan(p.seqlens, p.heads, options.num_kv_splits);

  auto q_nope = device.upload_vector(p.q_nope);
  auto q_rope = device.upload_vector(p.q_rope);
  NewRows fused;  // with fused_append: the step's new rows, their cache slots poisoned
  std::unique_ptr<rt::Buffer> new_rows, kv;
  if (options.fused_append) {
    std::vector<std::uint16_t> poisoned = p.kv_cache;
    fused = take_new_rows(p, poisoned);
    new_rows = device.upload_vector(fused.rows);
    kv = device.upload_vector(poisoned);
  } else {
    kv = is_fp8(p.kv_format) ? device.upload_vector(p.kv_fp8) : device.upload_vector(p.kv_cache);
  }
  auto table = device.upload_vector(p.page_table);
  const PoisonedOutputs outputs(device, p.dtype, p.q_nope.size(), std::size_t(p.batch) * p.heads);
  auto workspace = device.allocate(outcome.plan.layout.total);
  decoder.upload_plan(outcome.plan, *workspace);

  MlaDecodeArgs args;
  args.batch = p.batch;
  args.heads = p.heads;
  args.sm_scale = p.sm_scale;
  args.num_pages = p.num_pages;
  args.page_size = p.page_size;
  args.max_pages = p.max_pages;
  args.q_nope = q_nope.get();
  args.q_rope = q_rope.get();
  args.kv_cache = kv.get();
  args.page_table = table.get();
  args.out = outputs.out.get();
  args.lse = options.want_lse ? outputs.lse.get() : nullptr;
  args.new_rows = new_rows.get();
  args.kv_format = p.kv_format;
  args.kv_scale = p.kv_scale;
  if (options.check_page_table) args.host_page_table = p.page_table;
  args.set_contiguous_strides();

  outcome.timings =
      run_iterations(device, options, [&](bool timed) { return decoder.run(args, outcome.plan, *workspace, timed); });

  outcome.result = outputs.read(device);
  for (const std::size_t offset : fused.offsets) {
    std::vector<std::uint16_t> row(mla::kRowDim);
    device.read(*kv, row.data(), row.size() * 2, offset * 2);
    for (int c = 0; c < mla::kRowDim; ++c) outcome.appended_values_wrong += row[c] != p.kv_cache[offset + c];
  }
  outcome.binary = loaded_binary_name(device, decoder.program());
  return outcome;
}

std::vector<DecodeTiming> run_iterations(rt::Device& device, const MlaRunOptions& options,
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

MlaResult PoisonedOutputs::read(rt::Device& device) const {
  std::vector<std::uint16_t> out_bits(out_values);
  device.read(*out, out_bits.data(), out_bits.size() * sizeof(std::uint16_t));
  MlaResult r;
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
