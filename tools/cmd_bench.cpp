// `zemla bench`: a sweep of MLA decode steps (heads x batch x length x
// query tokens x cache format), timed on the device clock, each reported
// against the memory-bandwidth and FP32 rooflines of the device when they
// are known, and against a baseline: the same heads, batch and length with
// the first --q-len and --kv-dtype (an FP8 cache against bf16, q_len 2 and 4
// against 1). Writes CSV/JSON and, with --plot, a PNG through gnuplot.

#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <limits>
#include <nlohmann/json.hpp>

#include "harness/mla_runner.hpp"
#include "harness/roofline.hpp"
#include "host/fp8.hpp"
#include "ops/mla/mla_decode_checks.hpp"
#include "runtime/select.hpp"
#include "tools/commands.hpp"
#include "tools/output_file.hpp"
#include "tools/table.hpp"
#include "zemla/error.hpp"

namespace zemla::cli {

namespace {

struct BenchFlags {
  std::vector<int> heads{8, 16, 128};
  std::vector<int> batches{1, 8, 32, 128};
  std::vector<int> lengths{1024, 4096, 16384, 65536};
  std::vector<int> q_lens{1};
  std::vector<std::string> kv_dtypes{"auto"};
  int page_size = 64;
  std::string dtype = "bf16";
  int splits = -1;
  int iters = 20;
  int warmup = 3;
  long long max_tokens = 2'200'000;  // KV bytes = tokens * 1152 (bf16): 2.5 GB
  std::string backend = "auto";
  int device = -1;
  std::string csv, json_out, plot;
};

// gnuplot script: achieved bandwidth per case against the bandwidth roof.
constexpr const char* kPlotScript = R"(
set terminal pngcairo size 1400,600 font ',10'
set output out
set datafile separator ','
set key autotitle columnhead
set title title
set ylabel 'GB/s (KV + q + out + workspace)'
set xtics rotate by 60 right
set key top left
set style fill solid 0.7
set grid ytics
set yrange [0:*]
plot csv using 0:10:xtic(sprintf('H%d q%d B%d L%d %s', $1, $2, $3, $4, strcol(5))) with boxes title 'achieved', \
     roof with lines lw 2 title 'memory roof'
)";

}  // namespace

namespace {

// `text` as a gnuplot single-quoted string: inside one only '' stands for
// a quote, and nothing else is interpreted, so a file name can never end
// the string and run commands. A line break would end the command, so it
// is refused.
std::string gnuplot_string(const std::string& text, const char* what) {
  require(text.find_first_of("\n\r") == std::string::npos, "bench",
          std::string(what) + " holds a line break, which gnuplot cannot take in a name");
  std::string quoted = "'";
  for (const char c : text) quoted += c == '\'' ? std::string("''") : std::string(1, c);
  return quoted + "'";
}

constexpr const char* kBaseline =
    "vs_base, the case's median over that of the first case with the same heads, batch and length (the first "
    "--q-len and --kv-dtype)";

// One case of the sweep.
struct BenchCase {
  int heads, batch, len, q_len;
  KvFormat kv;
};

// The JSON report: the run's settings and the cases measured so far;
// `complete` is false while the sweep runs (and in an interrupted one's file).
nlohmann::json report_json(const rt::Device& device, const std::string& variant, const BenchFlags& f,
                           const std::optional<Roofline>& roof, const nlohmann::json& results, bool complete) {
  nlohmann::json report{{"device", device.info().name},
                        {"backend", rt::backend_name(device.info().backend)},
                        {"variant", variant},
                        {"dtype", f.dtype},
                        {"q_lens", f.q_lens},
                        {"kv_dtypes", f.kv_dtypes},
                        {"page_size", f.page_size},
                        {"iters", f.iters},
                        {"bytes_formula", kStepCostFormula},
                        {"baseline", kBaseline},
                        {"complete", complete},
                        {"cases", results}};
  if (roof) {
    report["roofline"] = {
        {"bandwidth_gbs", roof->bandwidth_gbs}, {"fp32_tflops", roof->fp32_tflops}, {"source", roof->source}};
  }
  return report;
}

}  // namespace

void add_bench_command(CLI::App& app, const Global& global, int& exit_code) {
  auto f = std::make_shared<BenchFlags>();
  auto* cmd = app.add_subcommand("bench",
                                 "Sweep MLA decode over heads x batch x length and report achieved GB/s and "
                                 "TFLOP/s against the device's rooflines");
  cmd->add_option("--heads", f->heads, "Head counts")->delimiter(',')->capture_default_str();
  cmd->add_option("--batch", f->batches, "Batch sizes")->delimiter(',')->capture_default_str();
  cmd->add_option("--seqlens", f->lengths, "Cached tokens per request (every request the same)")
      ->delimiter(',')
      ->capture_default_str();
  cmd->add_option("--q-len", f->q_lens,
                  "Query tokens per request, 1 to 8 each (multi-token decode: the KV is read once for all of them)")
      ->delimiter(',')
      ->capture_default_str();
  cmd->add_option("--kv-dtype", f->kv_dtypes,
                  "Cache formats: auto (the dtype), fp8_e4m3, fp8_e5m2, fp8_ds_mla (bf16 only)")
      ->delimiter(',')
      ->capture_default_str();
  cmd->add_option("--page-size", f->page_size)->capture_default_str();
  cmd->add_option("--dtype", f->dtype, "bf16 or fp16")->capture_default_str();
  cmd->add_option("--splits", f->splits, "KV splits (-1: planner)")->capture_default_str();
  // A bench with no timed run has no median to report: at least one.
  cmd->add_option("--iters", f->iters, "Timed iterations per case (median reported)")
      ->capture_default_str()
      ->check(CLI::Range(1, std::numeric_limits<int>::max()));
  cmd->add_option("--warmup", f->warmup)->capture_default_str()->check(CLI::Range(0, std::numeric_limits<int>::max()));
  cmd->add_option("--max-tokens", f->max_tokens, "Skip cases with more cached tokens than this")->capture_default_str();
  cmd->add_option("--backend", f->backend)->capture_default_str();
  cmd->add_option("--device", f->device, "Device index within the backend (-1: best, a GPU first)")
      ->capture_default_str();
  cmd->add_option("--csv", f->csv, "Write the table as CSV");
  cmd->add_option("--json-out", f->json_out, "Write the results as JSON");
  cmd->add_option("--plot", f->plot, "Write a PNG of achieved bandwidth vs the roof (needs gnuplot and --csv)");
  cmd->callback([f, &global, &exit_code] {
    // Every output name is checked, and every output file made, before the
    // sweep runs: a bad path fails in a second, not after the sweep.
    if (!f->plot.empty()) {
      require(!f->csv.empty(), "bench", "--plot needs --csv (the plot is drawn from it)");
      gnuplot_string(f->csv, "--csv");
      gnuplot_string(f->plot, "--plot");
    }
    // Every axis value too: a bad one fails before the sweep, not in its middle.
    const DType dtype = parse_dtype(f->dtype);
    for (const auto& kv : f->kv_dtypes) kernel_build_dtype(dtype, parse_kv_format(kv));
    for (const int q : f->q_lens) require_q_len(q, "bench");
    const int max_q = *std::max_element(f->q_lens.begin(), f->q_lens.end());
    for (const int len : f->lengths) {
      require(len >= max_q, "bench", [&] {
        return "--seqlens " + std::to_string(len) + " is shorter than --q-len " + std::to_string(max_q) +
               " (a request holds its q_len new tokens)";
      });
    }
    auto device = rt::open_device(rt::selection(f->backend, f->device));
    OutputFile csv(f->csv, "--csv"), json_out(f->json_out, "--json-out"), plot(f->plot, "--plot");
    csv.append(
        "heads,q_len,batch,seqlen,kv_dtype,splits,median_ms,vs_base,kv_bytes,gbs,tflops,bw_pct,fp32_pct,roof_pct\n");
    const auto roof = known_roofline(device->info().name);
    const bool tty = isatty(STDERR_FILENO) != 0;
    nlohmann::json results = nlohmann::json::array();
    Table table(
        {"H", "q", "B", "len", "kv", "splits", "ms", "x base", "KV MB", "GB/s", "%BW", "TFLOP/s", "%FP32", "%roof"});
    // The q_len x cache cases of one (heads, batch, length) run back to
    // back, the first of them the others' baseline.
    std::vector<BenchCase> cases;
    for (int h : f->heads)
      for (int b : f->batches)
        for (int len : f->lengths)
          for (int q : f->q_lens)
            for (const auto& kv : f->kv_dtypes)
              if (static_cast<long long>(b) * len <= f->max_tokens)
                cases.push_back({h, b, len, q, parse_kv_format(kv)});
    std::string variant;
    double base_ms = 0;
    for (std::size_t i = 0; i < cases.size(); ++i) {
      const BenchCase& k = cases[i];
      const std::string kv = kv_cache_name(k.kv, dtype);
      const std::string label = "H" + std::to_string(k.heads) + " B" + std::to_string(k.batch) + " len " +
                                std::to_string(k.len) + " q" + std::to_string(k.q_len) + " " + kv;
      if (tty) std::cerr << "\r[" << i + 1 << "/" << cases.size() << "] " << label << "   " << std::flush;
      RandomMlaSpec spec;
      spec.dtype = dtype;
      spec.heads = k.heads;
      spec.q_len = k.q_len;
      spec.page_size = f->page_size;
      spec.seqlens.assign(k.batch, k.len);
      spec.seed = i + 1;
      spec.fast_fill = true;
      spec.kv_format = k.kv;
      const auto problem = make_random_problem(spec);
      const auto out = ops::run_mla_problem(*device, problem, {f->splits, f->warmup, f->iters, false});
      variant = rt::variant_name(out.variant);
      const auto ms = out.sorted_step_ms();
      const double med = out.median_step_ms();
      const bool first_of_group =
          i == 0 || cases[i - 1].heads != k.heads || cases[i - 1].batch != k.batch || cases[i - 1].len != k.len;
      if (first_of_group) base_ms = med;
      const double vs_base = med / base_ms;
      const StepCost cost = mla_step_cost(out.plan, problem.seqlens, mla_row_bytes(problem.kv_format));
      const double gbs = cost.bytes / med * 1e-6;
      const double tflops = cost.flops / med * 1e-9;
      nlohmann::json r{{"heads", k.heads},
                       {"q_len", k.q_len},
                       {"batch", k.batch},
                       {"seqlen", k.len},
                       {"kv_dtype", kv},
                       {"splits", out.plan.total_splits()},
                       {"median_ms", med},
                       {"min_ms", ms.front()},
                       {"vs_base", vs_base},
                       {"kv_bytes", cost.kv_bytes},
                       {"kv_reads", out.plan.head_blocks},
                       {"gbs", gbs},
                       {"tflops", tflops},
                       {"bytes", cost.bytes},
                       {"flops", cost.flops}};
      std::vector<std::string> row{std::to_string(k.heads),
                                   std::to_string(k.q_len),
                                   std::to_string(k.batch),
                                   std::to_string(k.len),
                                   kv,
                                   std::to_string(out.plan.total_splits()),
                                   std::to_string(med).substr(0, 7),
                                   std::to_string(vs_base).substr(0, 5),
                                   std::to_string(cost.kv_bytes * 1e-6).substr(0, 7),
                                   std::to_string(gbs).substr(0, 7),
                                   "",
                                   std::to_string(tflops).substr(0, 6),
                                   "",
                                   ""};
      if (roof) {
        const double bw_pct = 100 * gbs / roof->bandwidth_gbs;
        const double fp_pct = 100 * tflops / roof->fp32_tflops;
        // The binding roof: the larger of the two lower-bound times.
        const double roof_ms =
            std::max(cost.bytes / (roof->bandwidth_gbs * 1e6), cost.flops / (roof->fp32_tflops * 1e9));
        const double roof_pct = 100 * roof_ms / med;
        r["bw_pct"] = bw_pct;
        r["fp32_pct"] = fp_pct;
        r["roof_pct"] = roof_pct;
        row[10] = std::to_string(bw_pct).substr(0, 5);
        row[12] = std::to_string(fp_pct).substr(0, 5);
        row[13] = std::to_string(roof_pct).substr(0, 5);
      }
      results.push_back(r);
      table.add(row);
      // Each case reaches the files as it completes: an interrupted sweep
      // keeps what it measured. Without a known roofline the percentages
      // are blank, as in the table, not 0.
      const auto pct = [&r](const char* key) { return r.contains(key) ? r[key].dump() : std::string(); };
      csv.append(r["heads"].dump() + ',' + r["q_len"].dump() + ',' + r["batch"].dump() + ',' + r["seqlen"].dump() +
                 ',' + kv + ',' + r["splits"].dump() + ',' + r["median_ms"].dump() + ',' + r["vs_base"].dump() + ',' +
                 r["kv_bytes"].dump() + ',' + r["gbs"].dump() + ',' + r["tflops"].dump() + ',' + pct("bw_pct") + ',' +
                 pct("fp32_pct") + ',' + pct("roof_pct") + '\n');
      json_out.replace(report_json(*device, variant, *f, roof, results, false).dump(2) + '\n');
      if (!tty) {
        std::cerr << "[" << i + 1 << "/" << cases.size() << "] " << label << ": " << med << " ms\n";
      }
    }
    if (tty) std::cerr << '\n';
    const nlohmann::json report = report_json(*device, variant, *f, roof, results, true);
    if (global.json) {
      std::cout << report.dump(2) << '\n';
    } else {
      std::cout << "zemla bench: " << device->info().name << " (" << rt::backend_name(device->info().backend) << ", "
                << variant << " variant), " << f->dtype << ", page " << f->page_size << ", median of " << f->iters
                << " on the device clock\n";
      if (roof) std::cout << "roofline: " << roof->source << '\n';
      std::cout << "bytes/flops: " << kStepCostFormula << '\n' << "x base: " << kBaseline << "\n\n";
      table.print(std::cout);
    }
    json_out.replace(report.dump(2) + '\n');
    if (plot) {
      FILE* gp = popen("gnuplot", "w");
      require(gp != nullptr, "bench", "could not start gnuplot for --plot");
      const std::string title = "zemla mla-decode on " + device->info().name + " (" + f->dtype + ", page " +
                                std::to_string(f->page_size) + ")";
      std::fprintf(gp, "csv=%s; out=%s; title=%s; roof=%f\n%s", gnuplot_string(f->csv, "--csv").c_str(),
                   gnuplot_string(f->plot, "--plot").c_str(), gnuplot_string(title, "the plot title").c_str(),
                   roof ? roof->bandwidth_gbs : 0.0, kPlotScript);
      require(pclose(gp) == 0, "bench", "gnuplot failed to draw " + f->plot);
    }
    exit_code = kExitOk;
  });
}

}  // namespace zemla::cli
