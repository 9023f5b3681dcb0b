// `zemla bench`: a sweep of MLA decode steps (heads x batch x length), timed
// on the device clock, each reported against the memory-bandwidth and FP32
// rooflines of the device when they are known. Writes CSV/JSON and, with
// --plot, a PNG through gnuplot.

#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <limits>
#include <nlohmann/json.hpp>

#include "harness/mla_runner.hpp"
#include "harness/roofline.hpp"
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
  int page_size = 64;
  std::string dtype = "bf16";
  int splits = -1;
  int iters = 20;
  int warmup = 3;
  long long max_tokens = 2'200'000;  // KV bytes = tokens * 1152: 2.5 GB
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
plot csv using 0:6:xtic(sprintf('H%d B%d L%d', $1, $2, $3)) with boxes title 'achieved', \
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

// The JSON report: the run's settings and the cases measured so far;
// `complete` is false while the sweep runs (and in an interrupted one's file).
nlohmann::json report_json(const rt::Device& device, const std::string& variant, const BenchFlags& f,
                           const std::optional<Roofline>& roof, const nlohmann::json& results, bool complete) {
  nlohmann::json report{{"device", device.info().name},
                        {"backend", rt::backend_name(device.info().backend)},
                        {"variant", variant},
                        {"dtype", f.dtype},
                        {"page_size", f.page_size},
                        {"iters", f.iters},
                        {"bytes_formula", kStepCostFormula},
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
  cmd->add_option("--page-size", f->page_size)->capture_default_str();
  cmd->add_option("--dtype", f->dtype)->capture_default_str();
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
    auto device = rt::open_device(rt::selection(f->backend, f->device));
    OutputFile csv(f->csv, "--csv"), json_out(f->json_out, "--json-out"), plot(f->plot, "--plot");
    csv.append("heads,batch,seqlen,splits,median_ms,gbs,tflops,bw_pct,fp32_pct,roof_pct\n");
    const auto roof = known_roofline(device->info().name);
    const bool tty = isatty(STDERR_FILENO) != 0;
    nlohmann::json results = nlohmann::json::array();
    Table table({"H", "B", "len", "splits", "ms", "GB/s", "%BW", "TFLOP/s", "%FP32", "%roof"});
    std::vector<std::tuple<int, int, int>> cases;
    for (int h : f->heads)
      for (int b : f->batches)
        for (int len : f->lengths)
          if (static_cast<long long>(b) * len <= f->max_tokens) cases.emplace_back(h, b, len);
    std::string variant;
    for (std::size_t i = 0; i < cases.size(); ++i) {
      const auto [h, b, len] = cases[i];
      if (tty)
        std::cerr << "\r[" << i + 1 << "/" << cases.size() << "] H" << h << " B" << b << " len " << len << "   "
                  << std::flush;
      RandomMlaSpec spec;
      spec.dtype = parse_dtype(f->dtype);
      spec.heads = h;
      spec.page_size = f->page_size;
      spec.seqlens.assign(b, len);
      spec.seed = i + 1;
      spec.fast_fill = true;
      const auto problem = make_random_problem(spec);
      const auto out = ops::run_mla_problem(*device, problem, {f->splits, f->warmup, f->iters, false});
      variant = rt::variant_name(out.variant);
      const auto ms = out.sorted_step_ms();
      const double med = out.median_step_ms();
      const StepCost cost = mla_step_cost(out.plan, problem.seqlens);
      const double gbs = cost.bytes / med * 1e-6;
      const double tflops = cost.flops / med * 1e-9;
      nlohmann::json r{
          {"heads", h},          {"batch", b},           {"seqlen", len}, {"splits", out.plan.total_splits()},
          {"median_ms", med},    {"min_ms", ms.front()}, {"gbs", gbs},    {"tflops", tflops},
          {"bytes", cost.bytes}, {"flops", cost.flops}};
      std::vector<std::string> row{std::to_string(h),
                                   std::to_string(b),
                                   std::to_string(len),
                                   std::to_string(out.plan.total_splits()),
                                   std::to_string(med).substr(0, 7),
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
        row[6] = std::to_string(bw_pct).substr(0, 5);
        row[8] = std::to_string(fp_pct).substr(0, 5);
        row[9] = std::to_string(roof_pct).substr(0, 5);
      }
      results.push_back(r);
      table.add(row);
      // Each case reaches the files as it completes: an interrupted sweep
      // keeps what it measured. Without a known roofline the percentages
      // are blank, as in the table, not 0.
      const auto pct = [&r](const char* key) { return r.contains(key) ? r[key].dump() : std::string(); };
      csv.append(r["heads"].dump() + ',' + r["batch"].dump() + ',' + r["seqlen"].dump() + ',' + r["splits"].dump() +
                 ',' + r["median_ms"].dump() + ',' + r["gbs"].dump() + ',' + r["tflops"].dump() + ',' + pct("bw_pct") +
                 ',' + pct("fp32_pct") + ',' + pct("roof_pct") + '\n');
      json_out.replace(report_json(*device, variant, *f, roof, results, false).dump(2) + '\n');
      if (!tty) {
        std::cerr << "[" << i + 1 << "/" << cases.size() << "] H" << h << " B" << b << " len " << len << ": " << med
                  << " ms\n";
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
      std::cout << "bytes/flops: " << kStepCostFormula << "\n\n";
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
