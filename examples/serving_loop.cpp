// A simulated serving loop on zemla's public API: requests arrive with a
// prompt and a number of tokens to generate; the pool gives them pages as
// they grow and takes them back when they finish; every step appends and
// decodes one token per running request through a DeepSeek-shaped layer
// stack. Prints throughput, pool occupancy and step times. The tensors hold
// random values: this measures the runtime, not a model.

#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <deque>
#include <optional>
#include <random>
#include <vector>
#include <zemla/zemla.hpp>

namespace {

struct Options {
  int layers = 4, heads = 16, pages = 2048, page_size = 64, steps = 200, max_batch = 32;
  double arrival = 0.5;  // mean new requests per step
  int prompt_min = 64, prompt_max = 2048, gen_min = 16, gen_max = 256;
  std::string backend = "auto";
  unsigned seed = 1;
  bool recorded = false;  // replay recorded layers instead of launching each step
};

struct Running {
  std::int64_t id;
  int remaining;
};

int run(const Options& o) {
  zemla::Runtime runtime({o.backend, -1});
  // Recording needs the largest step up front: every buffer is then made once.
  std::optional<zemla::MlaCapacity> capacity;
  if (o.recorded) capacity = zemla::MlaCapacity{o.max_batch, o.prompt_max + o.gen_max, o.heads};
  zemla::MlaCache cache(runtime,
                        {{"--decode-attention-backend", "intel_xpu", "--prefill-attention-backend", "triton",
                          "--page-size", std::to_string(o.page_size)},
                         o.layers,
                         o.pages},
                        capacity);
  std::printf("serving loop on %s (%s, %s variant): %d layers, H=%d, %d pages of %d tokens, %s launches\n",
              runtime.device().name.c_str(), runtime.device().backend.c_str(), runtime.device().variant.c_str(),
              o.layers, o.heads, o.pages, o.page_size, o.recorded ? "recorded" : "plain");
  // One set of step tensors sized for the largest batch, reused every step.
  const std::size_t b = o.max_batch, h = o.heads;
  auto rows = runtime.allocate(std::max<std::size_t>(b, o.prompt_max) * 576 * 2);
  auto q_nope = runtime.allocate(b * h * 512 * 2), q_rope = runtime.allocate(b * h * 64 * 2);
  auto out = runtime.allocate(b * h * 512 * 2), lse = runtime.allocate(b * h * 4);
  {
    std::mt19937 fill(o.seed);
    // One source big enough for every tensor it fills.
    std::vector<std::uint16_t> v(std::max({rows.bytes(), q_nope.bytes(), q_rope.bytes()}) / 2);
    for (auto& x : v) x = static_cast<std::uint16_t>(0x3c00 + fill() % 0x0400);  // bf16 in [1/128, 1/64)
    rows.upload(v.data(), rows.bytes());
    q_nope.upload(v.data(), q_nope.bytes());
    q_rope.upload(v.data(), q_rope.bytes());
  }

  std::vector<zemla::MlaRecordedLayer> recorded;
  for (int l = 0; o.recorded && l < o.layers; ++l) {
    recorded.push_back(cache.record_layer(l, {&rows, &q_nope, &q_rope, &out, &lse}, 0.0722f));
  }

  std::mt19937 rng(o.seed);
  std::poisson_distribution<int> arrivals(o.arrival);
  std::uniform_int_distribution<int> prompt(o.prompt_min, o.prompt_max), gen(o.gen_min, o.gen_max);
  std::deque<std::pair<int, int>> waiting;  // (prompt, generate)
  std::vector<Running> running;
  std::int64_t next_id = 0, tokens = 0, finished = 0;
  std::vector<double> step_ms;
  const auto t_start = std::chrono::steady_clock::now();
  for (int step = 0; step < o.steps; ++step) {
    const auto t0 = std::chrono::steady_clock::now();
    for (int a = arrivals(rng); a > 0; --a) waiting.emplace_back(prompt(rng), gen(rng));
    // Admit while the batch and the pool have room for the prompt and its output.
    while (!waiting.empty() && static_cast<int>(running.size()) < o.max_batch) {
      const auto [p, g] = waiting.front();
      if ((p + g + o.page_size - 1) / o.page_size > cache.free_pages()) break;
      waiting.pop_front();
      cache.add_request(next_id);
      auto prefill = cache.begin_prefill(next_id, p);
      for (int l = 0; l < o.layers; ++l) prefill.append(l, rows);
      running.push_back({next_id++, g});
    }
    if (!running.empty()) {
      std::vector<std::int64_t> ids;
      for (const auto& r : running) ids.push_back(r.id);
      auto s = cache.begin_step(ids, o.heads);
      for (int l = 0; l < o.layers; ++l) {
        if (o.recorded) {
          s.replay(recorded[l]);
        } else {
          s.append(l, rows);
          s.decode(l, q_nope, q_rope, out, &lse, 0.0722f);
        }
      }
      runtime.synchronize();
      tokens += static_cast<std::int64_t>(ids.size());
      for (auto& r : running) --r.remaining;
      for (const auto& r : running) {
        if (r.remaining == 0) {
          cache.release_request(r.id);
          ++finished;
        }
      }
      std::erase_if(running, [](const Running& r) { return r.remaining == 0; });
    }
    step_ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
    if (step % 20 == 0 || step + 1 == o.steps) {
      std::printf("step %4d  running %3zu  waiting %3zu  pool %5.1f%% used  step %.2f ms\n", step, running.size(),
                  waiting.size(), 100.0 * (o.pages - cache.free_pages()) / o.pages, step_ms.back());
    }
  }
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t_start).count();
  std::sort(step_ms.begin(), step_ms.end());
  std::printf(
      "done: %d steps in %.2f s: %.1f steps/s, %.0f tokens/s (decode), %lld requests finished\n"
      "step time: median %.2f ms, p99 %.2f ms (all %d layers, append + decode, host wall clock)\n",
      o.steps, seconds, o.steps / seconds, tokens / seconds, static_cast<long long>(finished),
      step_ms[step_ms.size() / 2], step_ms[std::min(step_ms.size() - 1, step_ms.size() * 99 / 100)], o.layers);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"zemla serving-loop simulation: requests arrive, grow in a paged pool, and finish"};
  Options o;
  app.add_option("--layers", o.layers)->capture_default_str();
  app.add_option("--heads", o.heads)->capture_default_str();
  app.add_option("--pages", o.pages, "Pages per layer in the pool")->capture_default_str();
  app.add_option("--page-size", o.page_size)->capture_default_str();
  app.add_option("--steps", o.steps)->capture_default_str();
  app.add_option("--max-batch", o.max_batch)->capture_default_str();
  app.add_option("--arrival", o.arrival, "Mean requests arriving per step")->capture_default_str();
  app.add_option("--prompt-min", o.prompt_min)->capture_default_str();
  app.add_option("--prompt-max", o.prompt_max)->capture_default_str();
  app.add_option("--gen-min", o.gen_min)->capture_default_str();
  app.add_option("--gen-max", o.gen_max)->capture_default_str();
  app.add_option("--backend", o.backend, "auto, level_zero or opencl")->capture_default_str();
  app.add_option("--seed", o.seed)->capture_default_str();
  app.add_flag("--recorded", o.recorded, "Record each layer once and replay it every step (fixed capacity)");
  CLI11_PARSE(app, argc, argv);
  try {
    return run(o);
  } catch (const zemla::Error& e) {
    std::fprintf(stderr, "serving_loop: %s\n", e.what());
    return 2;
  }
}
