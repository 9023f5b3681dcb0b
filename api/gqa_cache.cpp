// zemla::GqaCache and zemla::GqaStep: paged K and V caches of every layer for
// a non-MLA model, the page pool, and one planned decode step reused across
// layers. The bookkeeping is MlaCache's (api/paged_steps); the kernels are
// kv_append (once for K, once for V) and gqa_decode.

#include <optional>
#include <string>

#include "api/impl.hpp"
#include "api/paged_steps.hpp"
#include "ops/gqa/gqa_decode.hpp"
#include "ops/gqa/gqa_decode_checks.hpp"
#include "ops/kv_append/kv_append.hpp"

namespace zemla {

namespace {
constexpr const char* kCacheCall = "GqaCache";

// One token's row of a K or V cache: every KV head's head_dim values.
std::size_t row_values(const GqaCacheOptions& o) {
  require_positive(o.kv_heads, kCacheCall, "kv_heads");
  // Any query group size fits once kv_heads and head_dim pass.
  check_gqa_heads(o.kv_heads, o.kv_heads, o.head_dim, kCacheCall);
  return std::size_t(o.kv_heads) * o.head_dim;
}
}  // namespace

struct GqaCache::Impl {
  Impl(Runtime& runtime, const GqaCacheOptions& o, const std::optional<GqaCapacity>& capacity)
      : device(*runtime.impl().device),
        config(validated_server_flags(o.server_flags, ModelArch::mha, kCacheCall)),
        kv_heads(o.kv_heads),
        head_dim(o.head_dim),
        row(row_values(o)),
        steps(device, require_positive(o.num_pages, kCacheCall, "num_pages"), config.config.page_size),
        decoder(device, config.config.dtype),
        appender(device),
        k_layers(device, o.num_layers, layer_bytes(), kCacheCall),
        v_layers(device, o.num_layers, layer_bytes(), kCacheCall) {
    if (capacity) {
      check_gqa_heads(capacity->q_heads, kv_heads, head_dim, kCacheCall);
      fixed = fix_steps(
          steps, capacity->max_batch, capacity->max_context_len, capacity->q_heads, "q_heads", 1, kCountSlots,
          [&] {
            return decoder.capacity(capacity->max_batch, capacity->max_context_len, capacity->q_heads, kv_heads,
                                    head_dim, step_split_tokens(config));
          },
          kCacheCall);
    }
  }

  std::size_t layer_bytes() const { return std::size_t(steps.pool.num_pages()) * steps.pool.page_size() * row * 2; }

  // kv_append's arguments for `count` K or V rows (`k` picks the cache) at
  // the slots in `slots`.
  ops::KvAppendArgs append_args(bool k, int layer, const Tensor& rows, int count, const rt::Buffer& slots,
                                const char* call) const {
    ops::KvAppendArgs a;
    a.kv_cache = &(k ? k_layers : v_layers).at(layer, call);
    a.num_pages = steps.pool.num_pages();
    a.page_size = steps.pool.page_size();
    a.rows = buffer_of(device, &rows, call, k ? "k_rows" : "v_rows");
    a.slots = &slots;
    a.num_rows = count;
    a.row_values = static_cast<int>(row);
    return a;
  }

  // kv_append of `count` K rows and V rows at the slots in `slots`.
  void append(int layer, const Tensor& k_rows, const Tensor& v_rows, int count, const rt::Buffer& slots,
              const char* call) {
    // Both checked before either runs: a refused V leaves K unwritten too.
    const auto k = append_args(true, layer, k_rows, count, slots, call);
    const auto v = append_args(false, layer, v_rows, count, slots, call);
    appender.validate(v);
    appender.run(k);
    appender.run(v);
  }

  ops::GqaDecodeArgs decode_args(int layer, int batch, int q_heads, int max_pages, const Tensor& q, Tensor& out,
                                 Tensor* lse, const GqaAttention& attention, const char* call) {
    ops::GqaDecodeArgs a;
    a.batch = batch;
    a.q_heads = q_heads;
    a.kv_heads = kv_heads;
    a.head_dim = head_dim;
    a.sm_scale = attention.sm_scale;
    a.softcap = attention.softcap;
    a.window_left = attention.window_left;
    a.num_pages = steps.pool.num_pages();
    a.page_size = steps.pool.page_size();
    a.max_pages = max_pages;
    a.set_contiguous_strides();
    a.q = buffer_of(device, &q, call, "q");
    a.k_cache = &k_layers.at(layer, call);
    a.v_cache = &v_layers.at(layer, call);
    a.page_table = &steps.page_table.current();
    a.out = buffer_of(device, &out, call, "out");
    a.lse = buffer_of(device, lse, call, "lse");
    require_distinct(call, {{"out", a.out}, {"lse", a.lse}, {"q", a.q}});
    return a;
  }

  // Recorded launch counts: the decoder's two stages, then the appends.
  static constexpr std::size_t kAppendSlot = ops::SplitKvDecoder::kCountSlots;
  static constexpr std::size_t kCountSlots = kAppendSlot + 1;

  rt::Device& device;
  ValidatedConfig config;
  int kv_heads, head_dim;
  std::size_t row;
  PagedSteps steps;
  ops::GqaDecoder decoder;
  ops::KvAppender appender;
  LayerBuffers k_layers, v_layers;
  std::optional<FixedSteps> fixed;
};

GqaCache::GqaCache(Runtime& runtime, const GqaCacheOptions& options, const std::optional<GqaCapacity>& capacity)
    : impl_(std::make_unique<Impl>(runtime, options, capacity)) {}
GqaCache::~GqaCache() = default;
GqaCache::GqaCache(GqaCache&&) noexcept = default;
GqaCache& GqaCache::operator=(GqaCache&&) noexcept = default;

int GqaCache::page_size() const { return impl_->steps.pool.page_size(); }
DType GqaCache::dtype() const { return impl_->config.config.dtype; }
int GqaCache::num_layers() const { return impl_->k_layers.size(); }
int GqaCache::num_pages() const { return impl_->steps.pool.num_pages(); }
int GqaCache::free_pages() const { return impl_->steps.pool.free_pages(); }
int GqaCache::kv_heads() const { return impl_->kv_heads; }
int GqaCache::head_dim() const { return impl_->head_dim; }
void GqaCache::add_request(std::int64_t id) { impl_->steps.pool.add_request(id); }
void GqaCache::release_request(std::int64_t id) { impl_->steps.pool.release(id); }
std::int64_t GqaCache::length(std::int64_t id) const { return impl_->steps.pool.length(id); }

struct GqaPrefill::Impl {
  GqaCache::Impl* cache;
  int tokens;
  std::uint64_t generation;  // PagedSteps::new_prompt()
};

GqaPrefill GqaCache::begin_prefill(std::int64_t request, int tokens) {
  impl_->steps.reserve_prompt(request, tokens, "GqaCache::begin_prefill");
  return GqaPrefill(
      std::make_unique<GqaPrefill::Impl>(GqaPrefill::Impl{impl_.get(), tokens, impl_->steps.new_prompt()}));
}

GqaPrefill::GqaPrefill(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
GqaPrefill::~GqaPrefill() = default;
GqaPrefill::GqaPrefill(GqaPrefill&&) noexcept = default;
GqaPrefill& GqaPrefill::operator=(GqaPrefill&&) noexcept = default;
int GqaPrefill::tokens() const { return impl_->tokens; }
void GqaPrefill::append(int layer, const Tensor& k_rows, const Tensor& v_rows) {
  GqaCache::Impl& c = *impl_->cache;
  c.steps.require_current_prompt(impl_->generation, "GqaPrefill::append");
  c.append(layer, k_rows, v_rows, impl_->tokens, c.steps.prefill_slots.current(), "GqaPrefill::append");
}

struct GqaStep::Impl : StepState {
  GqaCache::Impl* cache = nullptr;
};

GqaStep GqaCache::begin_step(std::span<const std::int64_t> requests, int q_heads, int num_kv_splits) {
  constexpr const char* kCall = "GqaCache::begin_step";
  Impl& c = *impl_;
  check_gqa_heads(q_heads, c.kv_heads, c.head_dim, kCall);
  auto impl = std::make_unique<GqaStep::Impl>();
  static_cast<StepState&>(*impl) = begin_decode_step(
      c.steps, c.decoder, c.fixed, requests, q_heads, "q_heads", 1,
      [&](std::span<const std::int32_t> lengths) {
        return c.fixed ? c.decoder.plan(lengths, q_heads, c.kv_heads, c.head_dim, num_kv_splits, c.fixed->decode)
                       : c.decoder.plan(lengths, q_heads, c.kv_heads, c.head_dim, num_kv_splits,
                                        step_split_tokens(c.config, num_kv_splits));
      },
      [&](rt::LaunchCounts& counts, const DecodePlan& plan) {
        ops::GqaDecoder::set_counts(counts, plan);
        ops::KvAppender::set_count(counts, Impl::kAppendSlot, static_cast<int>(requests.size()));
      },
      kCall);
  impl->cache = &c;
  return GqaStep(std::move(impl));
}

GqaStep::GqaStep(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
GqaStep::~GqaStep() = default;
GqaStep::GqaStep(GqaStep&&) noexcept = default;
GqaStep& GqaStep::operator=(GqaStep&&) noexcept = default;

const DecodeStepPlan& GqaStep::plan() const { return impl_->summary; }

void GqaStep::append(int layer, const Tensor& k_rows, const Tensor& v_rows) {
  GqaCache::Impl& c = *impl_->cache;
  c.steps.require_current_step(impl_->generation, "GqaStep::append");
  c.append(layer, k_rows, v_rows, impl_->summary.batch, c.steps.slots.current(), "GqaStep::append");
}

std::optional<DecodeStepTiming> GqaStep::decode(int layer, const Tensor& q, Tensor& out, Tensor* lse,
                                                const GqaAttention& attention, bool timed) {
  GqaCache::Impl& c = *impl_->cache;
  c.steps.require_current_step(impl_->generation, "GqaStep::decode");
  const auto a = c.decode_args(layer, impl_->summary.batch, impl_->summary.heads, impl_->max_pages, q, out, lse,
                               attention, "GqaStep::decode");
  const auto t = c.decoder.run(a, impl_->plan, c.steps.workspace.current(), timed);
  if (!t) return std::nullopt;
  return DecodeStepTiming{t->split_ms, t->combine_ms};
}

RecordedLayer GqaCache::record_layer(int layer, const GqaLayerTensors& t, const GqaAttention& attention) {
  constexpr const char* kCall = "GqaCache::record_layer";
  Impl& c = *impl_;
  require(c.fixed.has_value(), kCall, "recording needs a cache made with a GqaCapacity");
  require(t.k_rows && t.v_rows && t.q && t.out, kCall, "k_rows, v_rows, q and out are required");
  const FixedSteps& cap = *c.fixed;
  // Checked against the largest step: every smaller one reads and writes less.
  auto recorder = c.device.record();
  for (const bool k : {true, false}) {
    c.appender.record(
        *recorder, *cap.counts, Impl::kAppendSlot,
        c.append_args(k, layer, *(k ? t.k_rows : t.v_rows), cap.max_batch, c.steps.slots.current(), kCall));
  }
  c.decoder.record(
      *recorder, *cap.counts,
      c.decode_args(layer, cap.max_batch, cap.heads, cap.table_width, *t.q, *t.out, t.lse, attention, kCall),
      cap.decode, c.steps.workspace.current());
  return RecordedLayer(std::make_unique<RecordedLayer::Impl>(RecordedLayer::Impl{&c, layer, recorder->close()}));
}

void GqaStep::replay(RecordedLayer& recorded) {
  impl_->cache->steps.require_current_step(impl_->generation, "GqaStep::replay");
  recorded.impl().replay_on(impl_->cache, "GqaStep::replay");
}

}  // namespace zemla
