#include "gqa_runner.hpp"

#include "ops/gqa/gqa_decode.hpp"

namespace zemla::ops {

RunOutcome run_gqa_problem(rt::Device& device, const reference::GqaProblem& p, const RunOptions& options) {
  GqaDecoder decoder(device, p.dtype);
  RunOutcome outcome;
  outcome.variant = decoder.variant();
  outcome.plan = decoder.plan(p.seqlens, p.q_heads, p.kv_heads, p.head_dim, options.num_kv_splits);

  auto q = device.upload_vector(p.q);
  auto k = device.upload_vector(p.k_cache);
  auto v = device.upload_vector(p.v_cache);
  auto table = device.upload_vector(p.page_table);
  const PoisonedOutputs outputs(device, p.dtype, p.q.size(), std::size_t(p.batch) * p.q_heads);
  auto workspace = device.allocate(outcome.plan.layout.total);
  decoder.upload_plan(outcome.plan, *workspace);

  GqaDecodeArgs args;
  args.batch = p.batch;
  args.q_heads = p.q_heads;
  args.kv_heads = p.kv_heads;
  args.head_dim = p.head_dim;
  args.sm_scale = p.sm_scale;
  args.softcap = p.softcap;
  args.window_left = p.window_left;
  args.num_pages = p.num_pages;
  args.page_size = p.page_size;
  args.max_pages = p.max_pages;
  args.set_contiguous_strides();
  args.q = q.get();
  args.k_cache = k.get();
  args.v_cache = v.get();
  args.page_table = table.get();
  args.out = outputs.out.get();
  args.lse = options.want_lse ? outputs.lse.get() : nullptr;

  outcome.timings =
      run_iterations(device, options, [&](bool timed) { return decoder.run(args, outcome.plan, *workspace, timed); });
  outcome.result = outputs.read(device);
  outcome.binary = loaded_binary_name(device, decoder.program());
  return outcome;
}

}  // namespace zemla::ops
