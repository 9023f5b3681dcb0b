// `zemla run gqa-decode`: one non-MLA paged decode step (GQA / MQA / MHA, as
// sglang's intel_xpu backend runs flash_attn_with_kvcache), with the page
// size taken through the same config rules as `zemla config`: a non-MLA page
// size other than 64 or 128 is corrected to 128, and the run goes on with it.

#include <algorithm>
#include <iostream>
#include <nlohmann/json.hpp>

#include "harness/gqa_npy.hpp"
#include "harness/gqa_problem.hpp"
#include "harness/gqa_runner.hpp"
#include "host/backend_config.hpp"
#include "runtime/select.hpp"
#include "tools/commands.hpp"
#include "tools/run_report.hpp"
#include "zemla/error.hpp"

namespace zemla::cli {

namespace {

struct GqaFlags {
  StepFlags step;
  int q_heads = 32, kv_heads = 8, head_dim = 128;
  int page_size = 64;
  std::string decode_backend = "intel_xpu";
  std::string dtype;  // empty: bf16, or what --load's files hold
  float softcap = 0;
  int window_left = -1;
  std::string load_dir;
  std::string save_dir;
};

// The page size after sglang's rules for a non-MLA model on this decode backend.
ValidatedConfig gqa_config(const GqaFlags& f) {
  const std::vector<std::string> flags = {"--model-arch",   "mha",         "--decode-attention-backend",
                                          f.decode_backend, "--page-size", std::to_string(f.page_size)};
  ValidatedConfig v = validate_config(parse_backend_flags(flags));
  for (const auto& d : v.diagnostics) {
    require(d.severity != Severity::error, "run gqa-decode", "config rejected (" + d.code + "): " + d.message);
  }
  return v;
}

// The step: --load's files (whose page size the config rules check as they
// check --page-size), or a random one.
reference::GqaProblem make_problem(const GqaFlags& f, ValidatedConfig& config) {
  if (!f.load_dir.empty()) {
    auto problem = load_gqa_problem(f.load_dir, f.dtype.empty() ? std::nullopt : std::optional(parse_dtype(f.dtype)));
    GqaFlags paged = f;
    paged.page_size = problem.page_size;
    config = gqa_config(paged);
    require(config.config.page_size == problem.page_size, "run gqa-decode", [&] {
      return "k_cache.npy has page_size " + std::to_string(problem.page_size) + "; " + f.decode_backend +
             " takes non-MLA page sizes of 64 or 128 (sglang would run " + std::to_string(config.config.page_size) +
             ")";
    });
    return problem;
  }
  config = gqa_config(f);
  RandomGqaSpec spec;
  spec.dtype = parse_dtype(f.dtype.empty() ? "bf16" : f.dtype);
  spec.q_heads = f.q_heads;
  spec.kv_heads = f.kv_heads;
  spec.head_dim = f.head_dim;
  spec.page_size = config.config.page_size;
  spec.seqlens = f.step.lengths();
  spec.softcap = f.softcap;
  spec.window_left = f.window_left;
  spec.seed = f.step.seed;
  return make_random_gqa_problem(spec);
}

void run_gqa(const GqaFlags& f, const Global& global, int& exit_code) {
  // The output directory is checked before any work (as run mla-decode's).
  if (!f.save_dir.empty()) prepare_gqa_save_dir(f.save_dir);
  ValidatedConfig config;
  const auto problem = make_problem(f, config);
  bool expected_has_lse = false;
  const auto expected = f.load_dir.empty() ? std::nullopt : load_gqa_expected(f.load_dir, problem, expected_has_lse);

  auto device = f.step.open_device();
  const auto outcome = ops::run_gqa_problem(*device, problem, f.step.run_options());

  nlohmann::json report = step_report(*device, outcome, problem.dtype, problem.page_size, problem.seqlens);
  report.update({{"q_heads", problem.q_heads},
                 {"kv_heads", problem.kv_heads},
                 {"head_dim", problem.head_dim},
                 {"page_size", problem.page_size},
                 {"softcap", problem.softcap},
                 {"window_left", problem.window_left}});
  for (const auto& d : config.diagnostics)
    report["config_diagnostics"].push_back({{"code", d.code}, {"message", d.message}});
  bool ok = true;
  if (f.step.check) {
    const auto c =
        compare_with_reference(outcome.result, reference::gqa_decode(problem), problem.dtype, problem.head_dim, true);
    report["check"] = check_report(c);
    ok = c.pass;
    if (expected) {
      const auto e =
          compare_with_reference(outcome.result, *expected, problem.dtype, problem.head_dim, expected_has_lse);
      report["check_expected"] = check_report(e);
      ok = ok && e.pass;
    }
  }
  if (!f.save_dir.empty()) {
    save_gqa_problem(f.save_dir, problem);
    save_gqa_result(f.save_dir, problem, outcome.result);
    report["saved_to"] = f.save_dir;
  }
  if (!outcome.timings.empty()) {
    // Each K and V row is read once per KV head; 4 FLOP per cached value per query head.
    double tokens = 0;
    for (int len : problem.seqlens) tokens += len;
    const double bytes = tokens * problem.kv_heads * problem.head_dim * 2.0 * 2.0 +
                         2.0 * problem.batch * problem.q_heads * problem.head_dim * 2.0;
    const double flops = 4.0 * tokens * problem.q_heads * problem.head_dim;
    const double ms = outcome.median_step_ms();
    report["timing"] = timing_report(outcome, ms, bytes, flops, f.step.iters, device->info().name);
  }
  if (global.json) {
    std::cout << report.dump(2) << '\n';
  } else {
    for (const auto& d : config.diagnostics) std::cout << "config: " << d.message << " (" << d.code << ")\n";
    std::cout << "gqa-decode on " << report["device"].get<std::string>() << " (" << report["backend"].get<std::string>()
              << ", " << rt::variant_name(outcome.variant) << " variant, " << outcome.binary << ")\n"
              << "  B=" << problem.batch << " Hq=" << problem.q_heads << " Hkv=" << problem.kv_heads
              << " D=" << problem.head_dim << " page=" << problem.page_size << " " << dtype_name(problem.dtype)
              << (problem.softcap > 0 ? ", softcap " + std::to_string(problem.softcap) : "")
              << (problem.window_left >= 0 ? ", window " + std::to_string(problem.window_left) : "") << ", max len "
              << report["max_seqlen"] << ", " << outcome.plan.total_splits() << " splits"
              << (outcome.plan.needs_combine ? " + combine" : "") << '\n';
    if (report.contains("check")) print_check("check", report["check"]);
    if (report.contains("check_expected")) print_check("check vs out.npy", report["check_expected"]);
    if (report.contains("saved_to")) std::cout << "  saved inputs, out.npy and lse.npy to " << f.save_dir << '\n';
    if (report.contains("timing")) print_timing(report["timing"]);
  }
  exit_code = ok ? kExitOk : kExitCheckFailed;
}

}  // namespace

void add_run_gqa_command(CLI::App& run, const Global& global, int& exit_code) {
  auto flags = std::make_shared<GqaFlags>();
  auto* g = run.add_subcommand("gqa-decode",
                               "One non-MLA paged decode step (GQA/MQA/MHA; defaults: B=32, 32 query heads over 8 KV "
                               "heads, head_dim 128, lengths 1..8192)");
  const auto shape_flags = add_step_flags(*g, flags->step);
  std::vector<CLI::Option*> problem_flags(shape_flags.begin(), shape_flags.end());
  problem_flags.push_back(g->add_option("--q-heads", flags->q_heads, "Query heads")->capture_default_str());
  problem_flags.push_back(
      g->add_option("--kv-heads", flags->kv_heads, "KV heads (q-heads / kv-heads <= 8)")->capture_default_str());
  problem_flags.push_back(g->add_option("--head-dim", flags->head_dim, "64, 128 or 256")->capture_default_str());
  problem_flags.push_back(
      g->add_option("--page-size", flags->page_size,
                    "Tokens per KV page; sglang's non-MLA rule corrects anything but 64 or 128 to 128")
          ->capture_default_str());
  g->add_option("--decode-attention-backend", flags->decode_backend, "The config's decode backend")
      ->capture_default_str();
  g->add_option("--dtype", flags->dtype, "bf16 or fp16 (default bf16, or what --load's k_cache holds)");
  problem_flags.push_back(
      g->add_option("--softcap", flags->softcap, "Logit soft-capping (0: off)")->capture_default_str());
  problem_flags.push_back(
      g->add_option("--window-left", flags->window_left, "Sliding window: keys back from the last token (-1: none)")
          ->capture_default_str());
  auto* load = g->add_option("--load", flags->load_dir,
                             "Read the step from DIR: q.npy [B,Hq,D], k_cache.npy and v_cache.npy "
                             "[pages,page_size,Hkv,D], page_table.npy, cache_seqlens.npy, optional sm_scale.npy, "
                             "softcap.npy, window_left.npy; an out.npy (and lse.npy) there is checked too");
  g->add_option("--save", flags->save_dir,
                "Write the inputs, the attention parameters and out.npy, lse.npy (float32) to a new or empty DIR");
  for (auto* opt : problem_flags) opt->excludes(load);
  g->callback([flags, &global, &exit_code] { run_gqa(*flags, global, exit_code); });
}

}  // namespace zemla::cli
