// zemla::GqaCache and zemla::GqaStep: paged K and V caches of every layer for
// a non-MLA model, the page pool, and one planned decode step reused across
// layers. The bookkeeping is MlaCache's (api/paged_steps); the kernels are
// kv_append (once for K, once for V) and gqa_decode.

#include <string>

#include "api/impl.hpp"
#include "api/paged_steps.hpp"
#include "host/gqa_decode_checks.hpp"
#include "runtime/ops/gqa_decode.hpp"
#include "runtime/ops/kv_append.hpp"

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
  Impl(Runtime& runtime, const GqaCacheOptions& o)
      : device(*runtime.impl().device),
        config(validated_server_flags(o.server_flags, ModelArch::mha, kCacheCall)),
        kv_heads(o.kv_heads),
        head_dim(o.head_dim),
        row(row_values(o)),
        steps(device, require_positive(o.num_pages, kCacheCall, "num_pages"), config.config.page_size),
        decoder(device, config.config.dtype),
        appender(device),
        k_layers(device, o.num_layers, layer_bytes(), kCacheCall),
        v_layers(device, o.num_layers, layer_bytes(), kCacheCall) {}

  std::size_t layer_bytes() const { return std::size_t(steps.pool.num_pages()) * steps.pool.page_size() * row * 2; }

  // kv_append of `count` K rows and V rows at the slots in `slots`.
  void append(int layer, const Tensor& k_rows, const Tensor& v_rows, int count, const rt::Buffer& slots,
              const char* call) {
    for (const auto& [cache, rows, name] : {std::tuple{&k_layers, &k_rows, "k_rows"}, {&v_layers, &v_rows, "v_rows"}}) {
      ops::KvAppendArgs a;
      a.kv_cache = &cache->at(layer, call);
      a.num_pages = steps.pool.num_pages();
      a.page_size = steps.pool.page_size();
      a.rows = buffer_of(rows, call, name);
      a.slots = &slots;
      a.num_rows = count;
      a.row_values = static_cast<int>(row);
      appender.run(a);
    }
  }

  rt::Device& device;
  ValidatedConfig config;
  int kv_heads, head_dim;
  std::size_t row;
  PagedSteps steps;
  ops::GqaDecoder decoder;
  ops::KvAppender appender;
  LayerBuffers k_layers, v_layers;
};

GqaCache::GqaCache(Runtime& runtime, const GqaCacheOptions& options)
    : impl_(std::make_unique<Impl>(runtime, options)) {}
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
};

GqaPrefill GqaCache::begin_prefill(std::int64_t request, int tokens) {
  impl_->steps.reserve_prompt(request, tokens, "GqaCache::begin_prefill");
  return GqaPrefill(std::make_unique<GqaPrefill::Impl>(GqaPrefill::Impl{impl_.get(), tokens}));
}

GqaPrefill::GqaPrefill(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
GqaPrefill::~GqaPrefill() = default;
GqaPrefill::GqaPrefill(GqaPrefill&&) noexcept = default;
GqaPrefill& GqaPrefill::operator=(GqaPrefill&&) noexcept = default;
int GqaPrefill::tokens() const { return impl_->tokens; }
void GqaPrefill::append(int layer, const Tensor& k_rows, const Tensor& v_rows) {
  GqaCache::Impl& c = *impl_->cache;
  c.append(layer, k_rows, v_rows, impl_->tokens, c.steps.prefill_slots.current(), "GqaPrefill::append");
}

struct GqaStep::Impl {
  GqaCache::Impl* cache;
  DecodeStepPlan summary;
  DecodePlan plan;
  int max_pages = 0;
};

GqaStep GqaCache::begin_step(std::span<const std::int64_t> requests, int q_heads, int num_kv_splits) {
  constexpr const char* kCall = "GqaCache::begin_step";
  Impl& c = *impl_;
  check_gqa_heads(q_heads, c.kv_heads, c.head_dim, kCall);
  // Everything that can refuse the step runs before the pool changes.
  const auto lengths = c.steps.lengths_after(requests, 1, kCall);
  auto impl = std::make_unique<GqaStep::Impl>();
  impl->cache = &c;
  impl->plan = c.decoder.plan(lengths, q_heads, c.kv_heads, c.head_dim, num_kv_splits);
  c.steps.reserve(requests, 1, c.steps.slots);

  impl->max_pages = c.steps.upload_page_table(requests, 0);
  c.decoder.upload_plan(impl->plan, c.steps.workspace.ensure(impl->plan.layout.total));
  impl->summary = step_summary(impl->plan, q_heads, lengths);
  return GqaStep(std::move(impl));
}

GqaStep::GqaStep(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
GqaStep::~GqaStep() = default;
GqaStep::GqaStep(GqaStep&&) noexcept = default;
GqaStep& GqaStep::operator=(GqaStep&&) noexcept = default;

const DecodeStepPlan& GqaStep::plan() const { return impl_->summary; }

void GqaStep::append(int layer, const Tensor& k_rows, const Tensor& v_rows) {
  GqaCache::Impl& c = *impl_->cache;
  c.append(layer, k_rows, v_rows, impl_->summary.batch, c.steps.slots.current(), "GqaStep::append");
}

std::optional<DecodeStepTiming> GqaStep::decode(int layer, const Tensor& q, Tensor& out, Tensor* lse,
                                                const GqaAttention& attention, bool timed) {
  constexpr const char* kCall = "GqaStep::decode";
  GqaCache::Impl& c = *impl_->cache;
  ops::GqaDecodeArgs a;
  a.batch = impl_->summary.batch;
  a.q_heads = impl_->summary.heads;
  a.kv_heads = c.kv_heads;
  a.head_dim = c.head_dim;
  a.sm_scale = attention.sm_scale;
  a.softcap = attention.softcap;
  a.window_left = attention.window_left;
  a.num_pages = c.steps.pool.num_pages();
  a.page_size = c.steps.pool.page_size();
  a.max_pages = impl_->max_pages;
  a.set_contiguous_strides();
  a.q = buffer_of(&q, kCall, "q");
  a.k_cache = &c.k_layers.at(layer, kCall);
  a.v_cache = &c.v_layers.at(layer, kCall);
  a.page_table = &c.steps.page_table.current();
  a.out = buffer_of(&out, kCall, "out");
  a.lse = buffer_of(lse, kCall, "lse");
  const auto t = c.decoder.run(a, impl_->plan, c.steps.workspace.current(), timed);
  if (!t) return std::nullopt;
  return DecodeStepTiming{t->split_ms, t->combine_ms};
}

}  // namespace zemla
