// Host time zemla spends per decode step and per layer, through the public
// API, with launches made plainly (append then decode every layer, or the
// fused append_decode, one launch fewer) and with recorded layers replayed
// (MlaCache::record_layer / MlaStep::replay, recorded fused). The
// first two columns count only the CPU time of the calls: each step ends
// with a synchronize outside that timing, so the device is idle when the
// next step starts. The last column is the whole step as a server sees it,
// begin_step through the synchronize, per layer: on a real GPU, where the
// launches queue up while earlier ones run, that is the device time a layer
// costs (the host's enqueue hides behind it unless it is slower).
//
// On the Level Zero null driver (bench/step_overhead.sh sets it up) every
// driver call returns at once: the figures are zemla's own cost plus the
// loader's. On an OpenCL CPU runtime they include that runtime's enqueue
// cost, and its worker threads share the CPU. Neither is a real GPU driver's
// submission cost, which only an Intel GPU can measure.
//   build/bench/zemla_bench_step_overhead [--backend level_zero] [--layers 8] ...

#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <optional>
#include <vector>
#include <zemla/zemla.hpp>

namespace {

struct Options {
  std::string backend = "auto";
  int layers = 8, batch = 32, heads = 16, context = 1024, page_size = 64, steps = 50;
};

using Clock = std::chrono::steady_clock;

double us_since(Clock::time_point t0) { return std::chrono::duration<double, std::micro>(Clock::now() - t0).count(); }

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

struct Figures {
  double begin_step_us;  // median per step
  double layer_us;       // median per layer (append + decode, or one replay)
  double wall_layer_us;  // median of (begin_step .. synchronize) / layers
};

enum class Mode { plain, fused, recorded };

Figures measure(zemla::Runtime& runtime, const Options& o, Mode mode) {
  const bool recorded = mode == Mode::recorded;
  const int pages_per_request = (o.context + o.steps + o.page_size) / o.page_size;
  std::optional<zemla::MlaCapacity> capacity;
  if (recorded) capacity = zemla::MlaCapacity{o.batch, std::int64_t{pages_per_request} * o.page_size, o.heads};
  zemla::MlaCache cache(runtime,
                        {{"--decode-attention-backend", "intel_xpu", "--prefill-attention-backend", "triton",
                          "--page-size", std::to_string(o.page_size)},
                         o.layers,
                         o.batch * pages_per_request},
                        capacity);
  const std::size_t b = o.batch, h = o.heads;
  auto rows = runtime.allocate(std::max<std::size_t>(b, o.context) * 576 * 2);
  auto q_nope = runtime.allocate(b * h * 512 * 2), q_rope = runtime.allocate(b * h * 64 * 2);
  auto out = runtime.allocate(b * h * 512 * 2), lse = runtime.allocate(b * h * 4);
  {
    // One source big enough for every tensor it fills (q_nope outgrows the
    // rows with many heads and a short context).
    std::vector<std::uint16_t> v(std::max({rows.bytes(), q_nope.bytes(), q_rope.bytes()}) / 2, 0x3c00);  // bf16 1/128
    rows.upload(v.data(), rows.bytes());
    q_nope.upload(v.data(), q_nope.bytes());
    q_rope.upload(v.data(), q_rope.bytes());
  }
  std::vector<std::int64_t> ids;
  for (int r = 0; r < o.batch; ++r) {
    ids.push_back(r);
    cache.add_request(r);
    auto prefill = cache.begin_prefill(r, o.context);
    for (int l = 0; l < o.layers; ++l) prefill.append(l, rows);
  }
  std::vector<zemla::MlaRecordedLayer> layers;
  for (int l = 0; recorded && l < o.layers; ++l) {
    layers.push_back(cache.record_layer(l, {&rows, &q_nope, &q_rope, &out, &lse}, 0.0722f));
  }
  runtime.synchronize();

  std::vector<double> begin_us, layer_us, wall_us;
  for (int step = 0; step < o.steps; ++step) {
    const auto step0 = Clock::now();
    auto t0 = step0;
    auto s = cache.begin_step(ids, o.heads);
    begin_us.push_back(us_since(t0));
    t0 = Clock::now();
    for (int l = 0; l < o.layers; ++l) {
      if (recorded) {
        s.replay(layers[l]);
      } else if (mode == Mode::fused) {
        s.append_decode(l, rows, q_nope, q_rope, out, &lse, 0.0722f);
      } else {
        s.append(l, rows);
        s.decode(l, q_nope, q_rope, out, &lse, 0.0722f);
      }
    }
    layer_us.push_back(us_since(t0) / o.layers);
    runtime.synchronize();  // outside the host timings: the next step starts on an idle device
    wall_us.push_back(us_since(step0) / o.layers);
  }
  return {median(begin_us), median(layer_us), median(wall_us)};
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"zemla host overhead per decode step and per layer, plain vs recorded launches"};
  Options o;
  app.add_option("--backend", o.backend, "auto, level_zero or opencl")->capture_default_str();
  app.add_option("--layers", o.layers)->capture_default_str();
  app.add_option("--batch", o.batch)->capture_default_str();
  app.add_option("--heads", o.heads)->capture_default_str();
  app.add_option("--context", o.context, "Tokens per request before the first step")->capture_default_str();
  app.add_option("--page-size", o.page_size)->capture_default_str();
  app.add_option("--steps", o.steps)->capture_default_str();
  CLI11_PARSE(app, argc, argv);
  try {
    zemla::Runtime runtime({o.backend, -1});
    const auto d = runtime.device();
    std::printf("host overhead on %s (%s, %s variant): B=%d H=%d context %d, %d layers, %d steps, medians\n",
                d.name.c_str(), d.backend.c_str(), d.variant.c_str(), o.batch, o.heads, o.context, o.layers, o.steps);
    const Figures plain = measure(runtime, o, Mode::plain);
    const Figures fused = measure(runtime, o, Mode::fused);
    const Figures rec = measure(runtime, o, Mode::recorded);
    std::printf("  %-14s %14s %16s %26s %22s\n", "launches", "begin_step us", "per layer us",
                "step of 61 layers us (est)", "wall per layer us");
    for (const auto& [name, f] :
         {std::pair{"append+decode", plain}, std::pair{"append_decode", fused}, std::pair{"recorded", rec}}) {
      std::printf("  %-14s %14.1f %16.2f %26.0f %22.2f\n", name, f.begin_step_us, f.layer_us,
                  f.begin_step_us + 61 * f.layer_us, f.wall_layer_us);
    }
    std::printf(
        "  (per layer: append + decode enqueued, the fused append_decode, or one replay of it;\n"
        "   61 layers = DeepSeek-V3, an estimate\n"
        "   from the host figures, device time not included; wall per layer: begin_step through the\n"
        "   step's synchronize over %d layers, device time included)\n",
        o.layers);
  } catch (const zemla::Error& e) {
    std::fprintf(stderr, "step_overhead: %s\n", e.what());
    return 2;
  }
  return 0;
}
