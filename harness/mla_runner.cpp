#include "mla_runner.hpp"

#include <algorithm>
#include <limits>

#include "ops/mla/mla_shape.hpp"
#include "zemla/error.hpp"

namespace zemla::ops {

RunOutcome run_mla_problem(rt::Device& device, const MlaProblem& p, const RunOptions& options) {
  MlaDecoder decoder(device, p.dtype, p.kv_format);
  RunOutcome outcome;
  outcome.variant = decoder.variant();
  outcome.plan = decoder.plan(p.seqlens, p.rows(), options.num_kv_splits, options.split_tokens);

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
  const PoisonedOutputs outputs(device, p.dtype, p.q_nope.size(), std::size_t(p.batch) * p.rows());
  auto workspace = device.allocate(outcome.plan.layout.total);
  decoder.upload_plan(outcome.plan, *workspace);

  MlaDecodeArgs args;
  args.batch = p.batch;
  args.heads = p.rows();
  args.q_len = p.q_len;
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

}  // namespace zemla::ops
