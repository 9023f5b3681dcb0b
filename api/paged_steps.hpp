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
#include "runtime/device.hpp"
#include "zemla/error.hpp"
#include "zemla/zemla.hpp"

namespace zemla {

// The flags validated like `zemla config`; an error diagnostic, another
// model architecture or a decode backend other than intel_xpu throws.
ValidatedConfig validated_server_flags(const std::vector<std::string>& flags, ModelArch arch, const char* call);

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
  // Reserves `tokens` more tokens for each request (the pool's all-or-nothing
  // append) and uploads their slots into `slot_buffer`.
  void reserve(std::span<const std::int64_t> requests, int tokens, GrowOnly<rt::Buffer>& slot_buffer);
  // A prompt of `tokens` more tokens of one request, by the same rules, its
  // slots in prefill_slots.
  void reserve_prompt(std::int64_t request, int tokens, const char* call);
  // Uploads the requests' page-table rows, `width` pages wide (0: as wide
  // as the longest needs); returns the width.
  int upload_page_table(std::span<const std::int64_t> requests, int width);

  rt::Device& device;
  PagePool pool;
  // Reused by every step; grown only when a step needs more (never, with a
  // fixed capacity: recorded launches hold these). A prompt's slots have their
  // own buffer, so a long prompt never moves the step's.
  GrowOnly<rt::Buffer> workspace, page_table, slots, prefill_slots;
  std::optional<std::int64_t> max_context_len;
};

// The public summary of a step's plan.
DecodeStepPlan step_summary(const DecodePlan& plan, int heads, std::vector<std::int32_t> lengths);

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
