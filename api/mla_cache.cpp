// zemla::MlaCache and zemla::MlaStep: the paged latent cache of every layer,
// its page pool, and one planned decode step reused across layers.

#include <algorithm>
#include <cmath>
#include <optional>
#include <string>

#include "api/impl.hpp"
#include "api/paged_steps.hpp"
#include "ops/kv_append/kv_append.hpp"
#include "ops/mla/mla_decode.hpp"
#include "ops/mla/mla_shape.hpp"
#include "runtime/recording.hpp"

namespace zemla {

namespace {
constexpr const char* kCacheCall = "MlaCache";
}  // namespace

struct MlaCache::Impl {
  Impl(Runtime& runtime, const MlaCacheOptions& o, const std::optional<MlaCapacity>& capacity)
      : device(*runtime.impl().device),
        config(validated_server_flags(o.server_flags, ModelArch::mla, kCacheCall)),
        steps(device, require_positive(o.num_pages, kCacheCall, "num_pages"), config.config.page_size),
        kv_format(config.kv_format),
        decoder(device, config.config.dtype, kv_format),
        appender(device, config.config.dtype, kv_format),
        layers(device, o.num_layers, std::size_t(o.num_pages) * steps.pool.page_size() * mla_row_bytes(kv_format),
               kCacheCall),
        kv_scales(std::size_t(layers.size()), 1.0f),
        recorded(std::size_t(layers.size()), false) {
    if (capacity) fix_capacity(*capacity);
  }

  void fix_capacity(const MlaCapacity& c) {
    require_q_len(c.q_len, kCacheCall);
    fixed = fix_steps(
        steps, c.max_batch, c.max_context_len, c.heads, "heads", c.q_len, kCountSlots,
        [&] { return decoder.capacity(c.max_batch, c.max_context_len, c.heads * c.q_len, step_split_tokens(config)); },
        kCacheCall);
  }

  // The plan of a step of `lengths` (this step's token included) for every
  // layer; with a fixed capacity, placed in its layout or refused.
  // `rows`: q_len x heads query rows per request.
  DecodePlan plan_step(std::span<const std::int32_t> lengths, int rows, int num_kv_splits) const {
    return fixed ? decoder.plan(lengths, rows, num_kv_splits, fixed->decode)
                 : decoder.plan(lengths, rows, num_kv_splits, step_split_tokens(config, num_kv_splits));
  }

  // Recorded launch counts: the decoder's two stages, then the append an
  // FP8 cache or a multi-token step records apart (otherwise the split
  // kernel appends).
  static constexpr std::size_t kAppendSlot = ops::MlaDecoder::kCountSlots;
  static constexpr std::size_t kCountSlots = kAppendSlot + 1;

  rt::Device& device;
  ValidatedConfig config;
  PagedSteps steps;
  KvFormat kv_format;
  ops::MlaDecoder decoder;
  ops::KvAppender appender;
  LayerBuffers layers;
  std::vector<float> kv_scales;  // per layer; 1 for a 16-bit cache
  std::vector<bool> recorded;    // per layer: a recording holds its scale
  std::optional<FixedSteps> fixed;
};

struct MlaStep::Impl : StepState {
  MlaCache::Impl* cache = nullptr;
};

MlaCache::MlaCache(Runtime& runtime, const MlaCacheOptions& options, const std::optional<MlaCapacity>& capacity)
    : impl_(std::make_unique<Impl>(runtime, options, capacity)) {}
MlaCache::~MlaCache() = default;
MlaCache::MlaCache(MlaCache&&) noexcept = default;
MlaCache& MlaCache::operator=(MlaCache&&) noexcept = default;

int MlaCache::page_size() const { return impl_->steps.pool.page_size(); }
DType MlaCache::dtype() const { return impl_->config.config.dtype; }
int MlaCache::num_layers() const { return impl_->layers.size(); }
int MlaCache::num_pages() const { return impl_->steps.pool.num_pages(); }
int MlaCache::free_pages() const { return impl_->steps.pool.free_pages(); }
void MlaCache::add_request(std::int64_t id) { impl_->steps.pool.add_request(id); }
void MlaCache::release_request(std::int64_t id) { impl_->steps.pool.release(id); }
std::int64_t MlaCache::length(std::int64_t id) const { return impl_->steps.pool.length(id); }
void MlaCache::truncate(std::int64_t request, std::int64_t new_length) {
  Impl& c = *impl_;
  c.steps.pool.truncate(request, new_length);
  // The live step's and prefill's slots and tables describe the old lengths.
  c.steps.new_step();
  c.steps.new_prompt();
}

std::string MlaCache::kv_cache_dtype() const {
  return is_fp8(impl_->kv_format) ? std::string(kv_format_name(impl_->kv_format)) : std::string(dtype_name(dtype()));
}

void MlaCache::set_kv_scale(int layer, float scale) {
  constexpr const char* kCall = "MlaCache::set_kv_scale";
  Impl& c = *impl_;
  c.layers.at(layer, kCall);  // names a bad layer
  require(has_layer_scale(c.kv_format), kCall, [&] {
    return "this cache stores " + kv_cache_dtype() +
           (c.kv_format == KvFormat::fp8_ds_mla ? " rows, whose scales kv_append computes into each row"
                                                : " values, which take no scale") +
           "; set --kv-cache-dtype fp8_e4m3 or fp8_e5m2 for an FP8 cache with one scale per layer";
  });
  require(std::isfinite(scale) && scale > 0.0f, kCall,
          [&] { return "scale " + std::to_string(scale) + " must be positive and finite"; });
  require(!c.recorded[std::size_t(layer)], kCall, [&] {
    return "layer " + std::to_string(layer) + " is recorded with its scale; set scales before record_layer";
  });
  c.kv_scales[std::size_t(layer)] = scale;
}

float MlaCache::kv_scale(int layer) const {
  impl_->layers.at(layer, "MlaCache::kv_scale");
  return impl_->kv_scales[std::size_t(layer)];
}

namespace {

void append_rows(MlaCache::Impl& c, int layer, const Tensor& rows, int count, const rt::Buffer& slots,
                 const char* call);

}  // namespace

struct MlaPrefill::Impl {
  MlaCache::Impl* cache;
  int tokens;
  std::uint64_t generation;  // PagedSteps::new_prompt()
};

MlaPrefill MlaCache::begin_prefill(std::int64_t request, int tokens) {
  impl_->steps.reserve_prompt(request, tokens, "MlaCache::begin_prefill");
  return MlaPrefill(
      std::make_unique<MlaPrefill::Impl>(MlaPrefill::Impl{impl_.get(), tokens, impl_->steps.new_prompt()}));
}

MlaPrefill::MlaPrefill(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
MlaPrefill::~MlaPrefill() = default;
MlaPrefill::MlaPrefill(MlaPrefill&&) noexcept = default;
MlaPrefill& MlaPrefill::operator=(MlaPrefill&&) noexcept = default;
int MlaPrefill::tokens() const { return impl_->tokens; }
void MlaPrefill::append(int layer, const Tensor& rows) {
  impl_->cache->steps.require_current_prompt(impl_->generation, "MlaPrefill::append");
  append_rows(*impl_->cache, layer, rows, impl_->tokens, impl_->cache->steps.prefill_slots.current(),
              "MlaPrefill::append");
}

MlaStep MlaCache::begin_step(std::span<const std::int64_t> requests, int heads, int num_kv_splits, int q_len) {
  Impl& c = *impl_;
  require_q_len(q_len, "MlaCache::begin_step");
  auto impl = std::make_unique<MlaStep::Impl>();
  static_cast<StepState&>(*impl) = begin_decode_step(
      c.steps, c.decoder, c.fixed, requests, heads, "heads", q_len,
      [&](std::span<const std::int32_t> lengths) { return c.plan_step(lengths, heads * q_len, num_kv_splits); },
      [&](rt::LaunchCounts& counts, const DecodePlan& plan) {
        ops::MlaDecoder::set_counts(counts, plan);
        ops::KvAppender::set_count(counts, Impl::kAppendSlot, static_cast<int>(requests.size()) * q_len);
      },
      "MlaCache::begin_step");
  impl->cache = &c;
  return MlaStep(std::move(impl));
}

MlaStep::MlaStep(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
MlaStep::~MlaStep() = default;
MlaStep::MlaStep(MlaStep&&) noexcept = default;
MlaStep& MlaStep::operator=(MlaStep&&) noexcept = default;

const DecodeStepPlan& MlaStep::plan() const { return impl_->summary; }

namespace {

ops::KvAppendArgs append_args(MlaCache::Impl& c, int layer, const rt::Buffer* rows, int count, const rt::Buffer& slots,
                              const char* call) {
  ops::KvAppendArgs a;
  a.kv_cache = &c.layers.at(layer, call);
  a.kv_scale = c.kv_scales[std::size_t(layer)];
  a.num_pages = c.steps.pool.num_pages();
  a.page_size = c.steps.pool.page_size();
  a.rows = rows;
  a.slots = &slots;
  a.num_rows = count;
  return a;
}

// kv_append of `count` rows at the slots the last reserve() uploaded.
void append_rows(MlaCache::Impl& c, int layer, const Tensor& rows, int count, const rt::Buffer& slots,
                 const char* call) {
  c.appender.run(append_args(c, layer, buffer_of(c.device, &rows, call, "rows"), count, slots, call));
}

// One layer's launches: the decode's arguments and, when the step brings new
// rows the decode cannot append itself (an FP8 cache, whose rows kv_append
// quantizes, or several tokens per request), the rows a kv_append must
// write first. Without `rows`, the decode alone.
struct LayerLaunch {
  ops::MlaDecodeArgs decode;
  const rt::Buffer* append_rows = nullptr;
};

LayerLaunch layer_launch(MlaCache::Impl& c, int layer, int batch, int heads, int q_len, int max_pages,
                         const Tensor* rows, const Tensor& q_nope, const Tensor& q_rope, Tensor& out, Tensor* lse,
                         float sm_scale, const char* call) {
  ops::MlaDecodeArgs a;
  a.batch = batch;
  a.heads = heads * q_len;  // the kernels' query rows
  a.q_len = q_len;
  a.sm_scale = sm_scale;
  a.q_nope = buffer_of(c.device, &q_nope, call, "q_nope");
  a.q_rope = buffer_of(c.device, &q_rope, call, "q_rope");
  a.kv_cache = &c.layers.at(layer, call);
  a.kv_format = c.kv_format;
  a.kv_scale = c.kv_scales[std::size_t(layer)];
  a.num_pages = c.steps.pool.num_pages();
  a.page_size = c.steps.pool.page_size();
  a.page_table = &c.steps.page_table.current();
  a.max_pages = max_pages;
  a.out = buffer_of(c.device, &out, call, "out");
  a.lse = buffer_of(c.device, lse, call, "lse");
  const rt::Buffer* new_rows = buffer_of(c.device, rows, call, "rows");
  require_distinct(call,
                   {{"out", a.out}, {"lse", a.lse}, {"q_nope", a.q_nope}, {"q_rope", a.q_rope}, {"rows", new_rows}});
  a.set_contiguous_strides();
  // The pool put each request's new token last, at the slot append() would
  // write: the fused kernel finds it through the page table.
  const bool fused = !is_fp8(c.kv_format) && q_len == 1;
  if (fused) a.new_rows = new_rows;
  return {a, fused ? nullptr : new_rows};
}

}  // namespace

void MlaStep::append(int layer, const Tensor& rows) {
  impl_->cache->steps.require_current_step(impl_->generation, "MlaStep::append");
  append_rows(*impl_->cache, layer, rows, impl_->summary.batch * impl_->summary.q_len,
              impl_->cache->steps.slots.current(), "MlaStep::append");
}

namespace {

std::optional<DecodeStepTiming> run_decode(MlaStep::Impl& step, int layer, const Tensor* rows, const Tensor& q_nope,
                                           const Tensor& q_rope, Tensor& out, Tensor* lse, float sm_scale, bool timed,
                                           const char* call) {
  MlaCache::Impl& c = *step.cache;
  c.steps.require_current_step(step.generation, call);
  const int q_len = step.summary.q_len;
  const auto l = layer_launch(c, layer, step.summary.batch, step.summary.heads, q_len, step.max_pages, rows, q_nope,
                              q_rope, out, lse, sm_scale, call);
  if (l.append_rows) {
    c.appender.run(append_args(c, layer, l.append_rows, step.summary.batch * q_len, c.steps.slots.current(), call));
  }
  // The pool built this table, so the full page check would only cost time.
  const auto t = c.decoder.run(l.decode, step.plan, c.steps.workspace.current(), timed);
  if (!t) return std::nullopt;
  return DecodeStepTiming{t->split_ms, t->combine_ms};
}

}  // namespace

std::optional<DecodeStepTiming> MlaStep::decode(int layer, const Tensor& q_nope, const Tensor& q_rope, Tensor& out,
                                                Tensor* lse, float sm_scale, bool timed) {
  return run_decode(*impl_, layer, nullptr, q_nope, q_rope, out, lse, sm_scale, timed, "MlaStep::decode");
}

std::optional<DecodeStepTiming> MlaStep::append_decode(int layer, const Tensor& rows, const Tensor& q_nope,
                                                       const Tensor& q_rope, Tensor& out, Tensor* lse, float sm_scale,
                                                       bool timed) {
  return run_decode(*impl_, layer, &rows, q_nope, q_rope, out, lse, sm_scale, timed, "MlaStep::append_decode");
}

RecordedLayer MlaCache::record_layer(int layer, const MlaLayerTensors& t, float sm_scale) {
  constexpr const char* kCall = "MlaCache::record_layer";
  Impl& c = *impl_;
  require(c.fixed.has_value(), kCall, "recording needs a cache made with an MlaCapacity");
  require(t.rows && t.q_nope && t.q_rope && t.out, kCall, "rows, q_nope, q_rope and out are required");
  const FixedSteps& cap = *c.fixed;
  // Checked against the largest step: every smaller one reads and writes less.
  auto recorder = c.device.record();
  // Recorded as append_decode: the decode appends the new rows itself, or
  // for an FP8 cache or several tokens per request kv_append writes them first.
  const auto l = layer_launch(c, layer, cap.max_batch, cap.heads, cap.q_len, c.fixed->table_width, t.rows, *t.q_nope,
                              *t.q_rope, *t.out, t.lse, sm_scale, kCall);
  if (l.append_rows) {
    c.appender.record(*recorder, *cap.counts, Impl::kAppendSlot,
                      append_args(c, layer, l.append_rows, cap.max_batch * cap.q_len, c.steps.slots.current(), kCall));
  }
  c.decoder.record(*recorder, *c.fixed->counts, l.decode, c.fixed->decode, c.steps.workspace.current());
  c.recorded[std::size_t(layer)] = true;
  return RecordedLayer(std::make_unique<RecordedLayer::Impl>(RecordedLayer::Impl{&c, layer, recorder->close()}));
}

void MlaStep::replay(RecordedLayer& recorded) {
  impl_->cache->steps.require_current_step(impl_->generation, "MlaStep::replay");
  recorded.impl().replay_on(impl_->cache, "MlaStep::replay");
}

}  // namespace zemla
