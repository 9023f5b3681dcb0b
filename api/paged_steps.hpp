#pragma once
// What the public caches (MlaCache, GqaCache) share: the server-flag check,
// the page pool with the buffers every decode step rewrites, and the rules
// that refuse a step before the pool changes. The kernels they drive differ;
// the bookkeeping around them does not.

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "host/backend_config.hpp"
#include "host/decode_planner.hpp"
#include "host/grow_only.hpp"
#include "host/page_pool.hpp"
#include "ops/split_kv/split_kv_decoder.hpp"
#include "runtime/device.hpp"
#include "runtime/recording.hpp"
#include "zemla/error.hpp"
#include "zemla/zemla.hpp"

namespace zemla {

// The flags validated like `zemla config`; an error diagnostic, another
// model architecture or a decode backend other than intel_xpu throws.
ValidatedConfig validated_server_flags(const std::vector<std::string>& flags, ModelArch arch, const char* call);

// The split size a cache's step plans with: under sglang's
// --enable-deterministic-inference, batch-invariant splits of
// kDeterministicSplitTokens whenever the step leaves the split count to the
// planner (num_kv_splits -1); 0 otherwise. `num_kv_splits` -1 also gives
// what a fixed capacity is sized for.
int step_split_tokens(const ValidatedConfig& config, int num_kv_splits = -1);

template <typename Int>
Int require_positive(Int v, const char* call, const std::string& name) {
  require(v > 0, call, [&] { return name + " " + std::to_string(v) + " must be positive"; });
  return v;
}

class PagedSteps {
 public:
  PagedSteps(rt::Device& device, int num_pages, int page_size);

  // Every request's length after `tokens` more, checked against
  // max_context_len (when set) before anything changes.
  std::vector<std::int32_t> lengths_after(std::span<const std::int64_t> requests, int tokens, const char* call) const;
  // Grows every buffer a step of these `lengths` (this step's token
  // included) needs, before the pool changes: an allocation that fails then
  // leaves every request as it was. `width` is the page-table width (0: as
  // wide as the longest request needs); returns the width settled on.
  // `tokens`: new tokens per request (their slots).
  int ensure_step_buffers(std::span<const std::int32_t> lengths, int width, std::size_t workspace_bytes, int tokens);
  // Reserves `tokens` more tokens for each request (the pool's all-or-nothing
  // append) and uploads their slots into `slot_buffer`.
  void reserve(std::span<const std::int64_t> requests, int tokens, GrowOnly<rt::Buffer>& slot_buffer);
  // A prompt of `tokens` more tokens of one request, by the same rules, its
  // slots in prefill_slots.
  void reserve_prompt(std::int64_t request, int tokens, const char* call);
  // Uploads the requests' page-table rows, `width` pages wide (what
  // ensure_step_buffers settled on).
  void upload_page_table(std::span<const std::int64_t> requests, int width);

  // Each begin_step and begin_prefill replaces the slots and tables of the
  // one before it, so only the newest step (prompt) handle may run: an older
  // one would write its rows into the new one's slots. Their generations
  // tell them apart.
  std::uint64_t new_step() { return ++step_generation_; }
  std::uint64_t new_prompt() { return ++prompt_generation_; }
  void require_current_step(std::uint64_t generation, const char* call) const;
  void require_current_prompt(std::uint64_t generation, const char* call) const;

  rt::Device& device;
  PagePool pool;
  // Reused by every step; grown only when a step needs more (never, with a
  // fixed capacity: recorded launches hold these). A prompt's slots have their
  // own buffer, so a long prompt never moves the step's.
  GrowOnly<rt::Buffer> workspace, page_table, slots, prefill_slots;
  std::optional<std::int64_t> max_context_len;

 private:
  std::uint64_t step_generation_ = 0, prompt_generation_ = 0;
};

// What a fixed capacity settles once, for either cache: its limits, the
// page-table width, the decoder's fixed workspace layout, and the launch
// counts that recorded layers read.
struct FixedSteps {
  int max_batch = 0;
  std::int64_t max_context_len = 0;
  int heads = 0;        // query heads of every step
  int q_len = 1;        // query tokens per request of every step
  int table_width = 0;  // page-table row width, pages
  ops::DecodeCapacity decode;
  std::unique_ptr<rt::LaunchCounts> counts;

  // Refuses a step beyond the limits before the pool changes; `heads_name`
  // is the capacity field's name in messages ("heads", "q_heads").
  void check_step(std::size_t requests, int step_heads, const char* heads_name, int step_q_len, const char* call) const;
};

// Checks a capacity (positive, within the pool), sizes every per-step buffer
// of `steps` for it so that no step allocates, and returns what recorded
// launches need. `decode_capacity` is the op decoder's capacity for these
// limits, asked for once they are checked.
template <typename DecodeCapacityOf>
FixedSteps fix_steps(PagedSteps& steps, int max_batch, std::int64_t max_context_len, int heads, const char* heads_name,
                     int q_len, std::size_t count_slots, const DecodeCapacityOf& decode_capacity, const char* call) {
  FixedSteps f;
  f.max_batch = require_positive(max_batch, call, "capacity.max_batch");
  f.q_len = require_positive(q_len, call, "capacity.q_len");
  f.max_context_len = require_positive(max_context_len, call, "capacity.max_context_len");
  f.heads = require_positive(heads, call, std::string("capacity.") + heads_name);
  const std::int64_t width = (max_context_len + steps.pool.page_size() - 1) / steps.pool.page_size();
  require(width <= steps.pool.num_pages(), call, [&] {
    return "capacity.max_context_len " + std::to_string(max_context_len) + " needs " + std::to_string(width) +
           " pages per request; the pool has " + std::to_string(steps.pool.num_pages());
  });
  f.table_width = static_cast<int>(width);
  f.decode = decode_capacity();
  steps.workspace.ensure(f.decode.largest.layout.total);
  steps.page_table.ensure(std::size_t(max_batch) * f.table_width * sizeof(std::int32_t));
  steps.slots.ensure(std::size_t(max_batch) * q_len * sizeof(std::int32_t));
  steps.max_context_len = max_context_len;
  f.counts = std::make_unique<rt::LaunchCounts>(steps.device, count_slots);
  return f;
}

// A recorded layer: the cache that made it, and its launches.
struct RecordedLayer::Impl {
  const void* cache;  // the MlaCache::Impl or GqaCache::Impl it was recorded on
  int layer;
  std::unique_ptr<rt::Recording> recording;

  // Replays it for a step of `step_cache`; a step of another cache is refused.
  void replay_on(const void* step_cache, const char* call);
};

// The public summary of a step's plan.
DecodeStepPlan step_summary(const DecodePlan& plan, int heads, int q_len, std::vector<std::int32_t> lengths);

// What begin_step settles for every layer of a step, whichever the op; each
// op's step handle (MlaStep::Impl, GqaStep::Impl) is one of these.
struct StepState {
  std::uint64_t generation = 0;  // PagedSteps::new_step()
  DecodeStepPlan summary;
  DecodePlan plan;
  int max_pages = 0;
};

// The begin_step every split-KV op shares (q_len new tokens per request),
// ordered so that a refused step
// changes nothing: the capacity check, the lengths, the plan
// (`plan_step(lengths)`) and every buffer first; then the pool's
// reservation, the page table, the plan's tables and, with a fixed capacity,
// the launch counts recorded layers read (`set_counts(counts, plan)`), one
// upload for every layer.
template <typename Decoder, typename PlanStep, typename SetCounts>
StepState begin_decode_step(PagedSteps& steps, Decoder& decoder, const std::optional<FixedSteps>& fixed,
                            std::span<const std::int64_t> requests, int heads, const char* heads_name, int q_len,
                            const PlanStep& plan_step, const SetCounts& set_counts, const char* call) {
  if (fixed) fixed->check_step(requests.size(), heads, heads_name, q_len, call);
  const auto lengths = steps.lengths_after(requests, q_len, call);
  StepState s;
  s.plan = plan_step(lengths);
  s.max_pages = steps.ensure_step_buffers(lengths, fixed ? fixed->table_width : 0, s.plan.layout.total, q_len);
  steps.reserve(requests, q_len, steps.slots);
  s.generation = steps.new_step();
  steps.upload_page_table(requests, s.max_pages);
  decoder.upload_plan(s.plan, steps.workspace.current());  // grown by ensure_step_buffers
  if (fixed) {
    set_counts(*fixed->counts, s.plan);
    fixed->counts->upload();
  }
  s.summary = step_summary(s.plan, heads, q_len, lengths);
  return s;
}

// One device buffer per layer, checked by index.
class LayerBuffers {
 public:
  LayerBuffers(rt::Device& device, int num_layers, std::size_t bytes_per_layer, const char* call);
  rt::Buffer& at(int layer, const char* call) const;
  int size() const { return static_cast<int>(buffers_.size()); }

 private:
  std::vector<std::unique_ptr<rt::Buffer>> buffers_;
};

}  // namespace zemla
