#include "api/paged_steps.hpp"

#include <algorithm>

#include "runtime/log.hpp"

namespace zemla {

ValidatedConfig validated_server_flags(const std::vector<std::string>& flags, ModelArch arch, const char* call) {
  ValidatedConfig v = validate_config(parse_backend_flags(flags));
  for (const auto& d : v.diagnostics) {
    require(d.severity != Severity::error, call,
            [&] { return "server flags rejected (" + d.code + "): " + d.message; });
  }
  // What the rules changed (a corrected page size) reaches the log, which a
  // server reads through set_log_sink; the cache also answers page_size().
  for (const auto& d : v.diagnostics) log::warn(std::string(call) + ": " + d.message + " (" + d.code + ")");
  require(v.config.model_arch == arch, call, [&] {
    return arch == ModelArch::mla ? std::string("the server flags describe a non-MLA model (--model-arch)")
                                  : std::string("the server flags describe an MLA model; pass --model-arch mha");
  });
  require(v.backends.decode == "intel_xpu", call,
          [&] { return "decode attention backend is '" + v.backends.decode + "'; zemla implements intel_xpu"; });
  return v;
}

int step_split_tokens(const ValidatedConfig& config, int num_kv_splits) {
  return config.config.deterministic_inference && num_kv_splits == -1 ? kDeterministicSplitTokens : 0;
}

void FixedSteps::check_step(std::size_t requests, int step_heads, const char* heads_name, int step_q_len,
                            const char* call) const {
  require(step_q_len == q_len, call, [&] {
    return "q_len " + std::to_string(step_q_len) + " differs from the cache's capacity.q_len " + std::to_string(q_len);
  });
  require(static_cast<int>(requests) <= max_batch, call, [&] {
    return "the step has " + std::to_string(requests) + " requests; the cache's capacity.max_batch is " +
           std::to_string(max_batch);
  });
  require(step_heads == heads, call, [&] {
    return std::string(heads_name) + " " + std::to_string(step_heads) + " differs from the cache's capacity." +
           heads_name + " " + std::to_string(heads);
  });
}

RecordedLayer::RecordedLayer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
RecordedLayer::~RecordedLayer() = default;
RecordedLayer::RecordedLayer(RecordedLayer&&) noexcept = default;
RecordedLayer& RecordedLayer::operator=(RecordedLayer&&) noexcept = default;
int RecordedLayer::layer() const { return impl_->layer; }

void RecordedLayer::Impl::replay_on(const void* step_cache, const char* call) {
  require(step_cache == cache, call,
          [&] { return "layer " + std::to_string(layer) + " was recorded on another cache"; });
  recording->replay();
}

void PagedSteps::require_current_step(std::uint64_t generation, const char* call) const {
  require(generation == step_generation_, call,
          "this step is stale: a later begin_step replaced its slots and page table (one step at a time per cache)");
}

void PagedSteps::require_current_prompt(std::uint64_t generation, const char* call) const {
  require(generation == prompt_generation_, call,
          "this prefill is stale: a later begin_prefill replaced its slots (one prompt at a time per cache)");
}

namespace {
GrowOnly<rt::Buffer> device_buffers(rt::Device& device) {
  return GrowOnly<rt::Buffer>([&device](std::size_t n) { return device.allocate(n); });
}
}  // namespace

PagedSteps::PagedSteps(rt::Device& d, int num_pages, int page_size)
    : device(d),
      pool(num_pages, page_size),
      workspace(device_buffers(d)),
      page_table(device_buffers(d)),
      slots(device_buffers(d)),
      prefill_slots(device_buffers(d)) {}

std::vector<std::int32_t> PagedSteps::lengths_after(std::span<const std::int64_t> requests, int tokens,
                                                    const char* call) const {
  require(!requests.empty(), call, "names no request");
  require(tokens > 0, call, [&] { return "tokens " + std::to_string(tokens) + " must be positive"; });
  std::vector<std::int32_t> lengths;
  lengths.reserve(requests.size());
  for (const auto id : requests) {
    const std::int64_t len = std::int64_t{pool.length(id)} + tokens;
    require(!max_context_len || len <= *max_context_len, call, [&] {
      return "request " + std::to_string(id) + " would hold " + std::to_string(len) +
             " tokens; the cache's capacity.max_context_len is " + std::to_string(*max_context_len);
    });
    lengths.push_back(static_cast<std::int32_t>(len));
  }
  return lengths;
}

int PagedSteps::ensure_step_buffers(std::span<const std::int32_t> lengths, int width, std::size_t workspace_bytes,
                                    int tokens) {
  if (width == 0) {
    width = 1;
    for (const auto len : lengths) width = std::max<int>(width, (len + pool.page_size() - 1) / pool.page_size());
  }
  workspace.ensure(workspace_bytes);
  slots.ensure(lengths.size() * std::size_t(tokens) * sizeof(std::int32_t));
  page_table.ensure(lengths.size() * std::size_t(width) * sizeof(std::int32_t));
  return width;
}

void PagedSteps::reserve(std::span<const std::int64_t> requests, int tokens, GrowOnly<rt::Buffer>& slot_buffer) {
  const auto slots64 = pool.append_tokens(requests, tokens);
  const std::vector<std::int32_t> slot_values(slots64.begin(), slots64.end());
  device.write_vector(slot_buffer.ensure(slot_values.size() * sizeof(std::int32_t)), slot_values);
}

void PagedSteps::reserve_prompt(std::int64_t request, int tokens, const char* call) {
  lengths_after({&request, 1}, tokens, call);
  reserve({&request, 1}, tokens, prefill_slots);
}

void PagedSteps::upload_page_table(std::span<const std::int64_t> requests, int width) {
  const auto table = pool.page_table(requests, width);
  device.write_vector(page_table.ensure(table.size() * sizeof(std::int32_t)), table);
}

DecodeStepPlan step_summary(const DecodePlan& plan, int heads, int q_len, std::vector<std::int32_t> lengths) {
  DecodeStepPlan summary;
  summary.batch = static_cast<int>(lengths.size());
  summary.heads = heads;
  summary.q_len = q_len;
  summary.total_splits = plan.total_splits();
  summary.needs_combine = plan.needs_combine;
  summary.workspace_bytes = plan.layout.total;
  summary.seqlens = std::move(lengths);
  return summary;
}

LayerBuffers::LayerBuffers(rt::Device& device, int num_layers, std::size_t bytes_per_layer, const char* call) {
  require_positive(num_layers, call, "num_layers");
  for (int l = 0; l < num_layers; ++l) buffers_.push_back(device.allocate(bytes_per_layer));
}

rt::Buffer& LayerBuffers::at(int layer, const char* call) const {
  require(layer >= 0 && layer < size(), call,
          [&] { return "layer " + std::to_string(layer) + " is outside [0, " + std::to_string(size()) + ")"; });
  return *buffers_[layer];
}

}  // namespace zemla
