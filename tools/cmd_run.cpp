// `zemla run mla-decode`: one decode step on a chosen device, optionally
// checked against the host reference and timed on the device clock; by the
// decoder directly, or through the public API (--path).

#include <algorithm>
#include <iostream>
#include <nlohmann/json.hpp>

#include "harness/compare.hpp"
#include "harness/mla_npy.hpp"
#include "harness/mla_runner.hpp"
#include "harness/reference.hpp"
#include "harness/roofline.hpp"
#include "runtime/select.hpp"
#include "tools/api_path.hpp"
#include "tools/commands.hpp"
#include "tools/run_report.hpp"
#include "zemla/error.hpp"

namespace zemla::cli {

namespace {

struct RunFlags {
  StepFlags step;
  int heads = 16;
  int q_len = 1;  // query tokens per request (multi-token decode)
  int page_size = 64;
  std::string dtype;  // empty: bf16, or what --load's files hold
  std::string load_dir;
  std::string save_dir;
  bool append = false;            // fused kv_append of each request's last token
  std::string path = "auto";      // decoder, op or cache (tools/api_path.hpp); auto: op with --load
  std::string kv_dtype = "auto";  // the cache's storage: auto (the dtype), fp8_e4m3, fp8_e5m2, fp8_ds_mla
};

MlaProblem make_problem(const RunFlags& f) {
  const KvFormat kv = parse_kv_format(f.kv_dtype);
  if (!f.load_dir.empty()) {
    return load_mla_problem(f.load_dir, f.dtype.empty() ? std::nullopt : std::optional(parse_dtype(f.dtype)), kv);
  }
  RandomMlaSpec spec;
  spec.dtype = parse_dtype(f.dtype.empty() ? "bf16" : f.dtype);
  spec.heads = f.heads;
  spec.q_len = f.q_len;
  spec.page_size = f.page_size;
  spec.seqlens = f.step.lengths();
  spec.seed = f.step.seed;
  spec.kv_format = kv;
  return make_random_problem(spec);
}

// What both paths do with a result: hold it to the fp64 reference and to
// --load's out.npy (another implementation's answer, under the same
// contract), and --save it. Fills the report; returns whether it passed.
bool check_and_save(const RunFlags& f, const MlaProblem& problem, const DecodeResult& result,
                    const std::optional<DecodeResult>& expected, bool expected_has_lse, nlohmann::json& report) {
  bool ok = true;
  if (f.step.check) {
    const auto c = compare_with_reference(result, reference::mla_decode(problem), problem.dtype, mla::kLatentDim, true);
    report["check"] = check_report(c);
    ok = c.pass;
    if (expected) {
      const auto e = compare_with_reference(result, *expected, problem.dtype, mla::kLatentDim, expected_has_lse);
      report["check_expected"] = check_report(e);
      ok = ok && e.pass;
    }
  }
  if (!f.save_dir.empty()) {
    save_mla_problem(f.save_dir, problem);
    save_mla_result(f.save_dir, problem, result);
    report["saved_to"] = f.save_dir;
  }
  return ok;
}

// Which path runs the step. --load exercises what an embedder calls (the op)
// unless the run times or fuses an append, which only the decoder does.
std::string resolve_path(const RunFlags& f) {
  const std::string path =
      f.path != "auto" ? f.path : (!f.load_dir.empty() && f.step.iters == 0 && !f.append ? "op" : "decoder");
  require(path == "decoder" || (f.step.iters == 0 && !f.append), "run mla-decode", [&] {
    return "--path " + path + " neither times (--iters) nor fuses an append (--append); use --path decoder";
  });
  return path;
}

// The step through the public API (the op call, or a cache): the same
// problem, checks and --save, with the report of what the API shows (no
// timing: `zemla bench` times).
void run_api(const RunFlags& f, const std::string& path, const Global& global, const MlaProblem& problem,
             const std::optional<DecodeResult>& expected, bool expected_has_lse, int& exit_code) {
  const bool op = path == "op";  // else "cache"
  const ApiRun run = op ? run_through_op(problem, f.step.backend, f.step.device, f.step.splits)
                        : run_through_api(problem, f.step.backend, f.step.device, f.step.splits);
  nlohmann::json report{{"path", path},
                        {"device", run.device.name},
                        {"backend", run.device.backend},
                        {"variant", run.device.variant},
                        {"dtype", dtype_name(problem.dtype)},
                        {"page_size", problem.page_size},
                        {"batch", problem.batch},
                        {"heads", problem.heads},
                        {"q_len", problem.q_len},
                        {"workspace_bytes", run.workspace_bytes}};
  report["kv_dtype"] = kv_cache_name(problem.kv_format, problem.dtype);
  if (run.plan) {
    report["total_splits"] = run.plan->total_splits;
    report["needs_combine"] = run.plan->needs_combine;
  }
  const bool ok = check_and_save(f, problem, run.result, expected, expected_has_lse, report);
  if (global.json) {
    std::cout << report.dump(2) << '\n';
  } else {
    std::cout << "mla-decode through the public API on " << run.device.name << " (" << run.device.backend << ", "
              << run.device.variant << " variant)\n"
              << "  B=" << problem.batch << " H=" << problem.heads << " page=" << problem.page_size << " "
              << dtype_name(problem.dtype)
              << (is_fp8(problem.kv_format) ? ", cache " + std::string(kv_format_name(problem.kv_format)) : "");
    if (run.plan) {
      std::cout << ", prefill, then begin_step + append_decode; " << run.plan->total_splits << " splits"
                << (run.plan->needs_combine ? " + combine" : "") << '\n';
    } else {
      std::cout << ", flash_mla_decode on the step's own tensors, workspace " << run.workspace_bytes << " bytes\n";
    }
    if (report.contains("check")) print_check("check", report["check"]);
    if (report.contains("check_expected")) print_check("check vs out.npy", report["check_expected"]);
    if (report.contains("saved_to")) std::cout << "  saved inputs, out.npy and lse.npy to " << f.save_dir << '\n';
  }
  exit_code = ok ? kExitOk : kExitCheckFailed;
}

void run_mla(const RunFlags& f, const Global& global, int& exit_code) {
  // The output directory is checked before any work, so a refused --save
  // costs nothing and never follows a finished decode.
  if (!f.save_dir.empty()) prepare_save_dir(f.save_dir);
  const MlaProblem problem = make_problem(f);
  // Read the expected result before any device work, so a malformed out.npy
  // fails fast.
  bool expected_has_lse = false;
  const auto expected = f.load_dir.empty() ? std::nullopt : load_mla_expected(f.load_dir, problem, expected_has_lse);

  const std::string path = resolve_path(f);
  if (path != "decoder") {
    run_api(f, path, global, problem, expected, expected_has_lse, exit_code);
    return;
  }
  auto device = f.step.open_device();
  ops::RunOptions options = f.step.run_options();
  options.fused_append = f.append;
  const auto outcome = ops::run_mla_problem(*device, problem, options);

  nlohmann::json report = step_report(*device, outcome, problem.dtype, problem.page_size, problem.seqlens);
  report["heads"] = problem.heads;
  report["q_len"] = problem.q_len;
  report["kv_dtype"] = kv_cache_name(problem.kv_format, problem.dtype);
  if (is_fp8(problem.kv_format)) report["kv_scale"] = problem.kv_scale;
  bool ok = true;
  if (f.append) {
    report["append_values_wrong"] = outcome.appended_values_wrong;
    ok = outcome.appended_values_wrong == 0;
  }
  ok = check_and_save(f, problem, outcome.result, expected, expected_has_lse, report) && ok;
  if (!outcome.timings.empty()) {
    const double ms = outcome.median_step_ms();
    const StepCost cost = mla_step_cost(outcome.plan, problem.seqlens, mla_row_bytes(problem.kv_format));
    report["timing"] = timing_report(outcome, ms, cost.bytes, cost.flops, f.step.iters, device->info().name);
    report["timing"]["bytes_formula"] = kStepCostFormula;
  }
  if (global.json) {
    std::cout << report.dump(2) << '\n';
  } else {
    std::cout << "mla-decode on " << report["device"].get<std::string>() << " (" << report["backend"].get<std::string>()
              << ", " << rt::variant_name(outcome.variant) << " variant, " << outcome.binary << ")\n"
              << "  B=" << problem.batch << " H=" << problem.heads
              << (problem.q_len > 1 ? " q_len=" + std::to_string(problem.q_len) : "") << " page=" << problem.page_size
              << " " << dtype_name(problem.dtype)
              << (is_fp8(problem.kv_format) ? ", cache " + std::string(kv_format_name(problem.kv_format)) : "")
              << ", max len " << report["max_seqlen"] << ", " << outcome.plan.total_splits() << " splits"
              << (outcome.plan.needs_combine ? " + combine" : "") << '\n';
    if (f.append) {
      std::cout << "  fused append: " << outcome.appended_values_wrong
                << " values of the new rows wrong in the cache (the slots were poisoned before the run)\n";
    }
    if (report.contains("check")) print_check("check", report["check"]);
    if (report.contains("check_expected")) print_check("check vs out.npy", report["check_expected"]);
    if (report.contains("saved_to")) std::cout << "  saved inputs, out.npy and lse.npy to " << f.save_dir << '\n';
    if (report.contains("timing")) print_timing(report["timing"]);
  }
  exit_code = ok ? kExitOk : kExitCheckFailed;
}

}  // namespace

void add_run_command(CLI::App& app, const Global& global, int& exit_code) {
  auto* run = app.add_subcommand("run", "Run one kernel step");
  add_run_gqa_command(*run, global, exit_code);
  run->require_subcommand(1);
  auto flags = std::make_shared<RunFlags>();
  auto* mla = run->add_subcommand("mla-decode",
                                  "One MLA decode step (DeepSeek-V3 shapes by default: H=16, B=32, lengths 1..8192, "
                                  "page 64, bf16), checked against the host reference");
  std::vector<CLI::Option*> shape_flags = add_step_flags(*mla, flags->step);
  shape_flags.push_back(
      mla->add_option("--heads", flags->heads, "Query heads (8, 16, 32, 64, 128, or any positive count)")
          ->capture_default_str());
  shape_flags.push_back(
      mla->add_option("--q-len", flags->q_len,
                      "Query tokens per request, 1 to 8 (multi-token decode: speculative verify, MTP): each "
                      "request's last q_len tokens, causally masked")
          ->capture_default_str());
  shape_flags.push_back(
      mla->add_option("--page-size", flags->page_size, "Tokens per KV page: 16, 32, 64, 128")->capture_default_str());
  mla->add_option("--dtype", flags->dtype, "bf16 or fp16 (default bf16, or what --load's kv_cache holds)");
  mla->add_option("--kv-dtype", flags->kv_dtype,
                  "The cache's storage: auto (the dtype), fp8_e4m3 or fp8_e5m2 (one scale for the cache, amax / "
                  "the format's largest value; with --load, kv_cache.npy holds the format's uint8 codes and "
                  "kv_scale.npy the scale), or fp8_ds_mla (DeepSeek's 656-byte rows, bf16 only: e4m3 latent "
                  "values with a scale per 128, bf16 rope; with --load, kv_cache.npy holds the rows as uint8)")
      ->capture_default_str();
  auto* load = mla->add_option("--load", flags->load_dir,
                               "Read the step from DIR: q_nope.npy, q_rope.npy, kv_cache.npy, page_table.npy, "
                               "cache_seqlens.npy, optional sm_scale.npy; an out.npy (and lse.npy) there is checked "
                               "too. Shapes, heads and page size come from the files");
  mla->add_option("--save", flags->save_dir, "Write the inputs and out.npy, lse.npy (float32) to DIR");
  mla->add_flag("--append", flags->append,
                "Each request's last token is the step's new row: the decode writes it into the cache itself, "
                "as MlaStep::append_decode does (its slot is poisoned first and checked after; every request "
                "needs a token)");
  auto* path = mla->add_option("--path", flags->path,
                               "How the step runs. decoder: the decoder directly on the problem's own page table "
                               "(times with --iters, fuses with --append). op: the public flash_mla_decode call on "
                               "the step's own tensors, as sgl-kernel-xpu is called. cache: a fresh MlaCache, each "
                               "request's tokens but the last prefilled, then begin_step and append_decode of the "
                               "last (every request needs a token). op and cache do not time. auto: op with --load "
                               "(unless --iters or --append), else decoder")
                   ->check(CLI::IsMember({"auto", "decoder", "op", "cache"}))
                   ->capture_default_str();
  auto* api = mla->add_flag_callback(
      "--api", [flags] { flags->path = "cache"; }, "The same as --path cache");
  api->excludes(path);
  api->excludes(mla->get_option("--iters"));
  api->excludes(mla->get_option("--append"));
  for (auto* opt : shape_flags) opt->excludes(load);
  mla->callback([flags, &global, &exit_code] { run_mla(*flags, global, exit_code); });
}

}  // namespace zemla::cli
