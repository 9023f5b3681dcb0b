// zemla::MlaCache and zemla::MlaStep: the paged latent cache of every layer,
// its page pool, and one planned decode step reused across layers.

#include <algorithm>
#include <string>

#include "api/impl.hpp"
#include "host/backend_config.hpp"
#include "host/capability_registry.hpp"
#include "host/grow_only.hpp"
#include "host/mla_shape.hpp"
#include "host/page_pool.hpp"
#include "runtime/ops/kv_append.hpp"
#include "runtime/ops/mla_decode.hpp"

namespace zemla {

namespace {

constexpr const char* kCacheCall = "MlaCache";

ValidatedConfig validated(const MlaCacheOptions& o) {
  ValidatedConfig v = validate_config(parse_backend_flags(o.server_flags));
  for (const auto& d : v.diagnostics) {
    require(d.severity != Severity::error, kCacheCall, "server flags rejected (" + d.code + "): " + d.message);
  }
  require(v.config.model_arch == ModelArch::mla, kCacheCall,
          "the server flags describe a non-MLA model (--model-arch)");
  require(v.backends.decode == "intel_xpu", kCacheCall,
          "decode attention backend is '" + v.backends.decode + "'; zemla implements intel_xpu");
  return v;
}

int positive(int v, const char* name) {
  require(v > 0, kCacheCall, std::string(name) + " " + std::to_string(v) + " must be positive");
  return v;
}

}  // namespace

struct MlaCache::Impl {
  Impl(Runtime& runtime, const MlaCacheOptions& o)
      : device(*runtime.impl().device),
        config(validated(o)),
        pool(positive(o.num_pages, "num_pages"), config.config.page_size),
        decoder(device, config.config.dtype),
        appender(device),
        workspace([this](std::size_t n) { return device.allocate(n); }),
        page_table([this](std::size_t n) { return device.allocate(n); }),
        slots([this](std::size_t n) { return device.allocate(n); }) {
    positive(o.num_layers, "num_layers");
    const std::size_t layer_bytes = std::size_t(o.num_pages) * pool.page_size() * mla::kRowDim * 2;
    for (int l = 0; l < o.num_layers; ++l) layers.push_back(device.allocate(layer_bytes));
  }

  rt::Device& device;
  ValidatedConfig config;
  PagePool pool;
  ops::MlaDecoder decoder;
  ops::KvAppender appender;
  std::vector<std::unique_ptr<rt::Buffer>> layers;
  // Reused by every step; grown only when a step needs more.
  GrowOnly<rt::Buffer> workspace, page_table, slots;
};

struct MlaStep::Impl {
  MlaCache::Impl* cache;
  MlaStepPlan summary;
  DecodePlan plan;
  std::vector<std::int32_t> host_page_table;
  int max_pages = 0;
};

MlaCache::MlaCache(Runtime& runtime, const MlaCacheOptions& options)
    : impl_(std::make_unique<Impl>(runtime, options)) {}
MlaCache::~MlaCache() = default;
MlaCache::MlaCache(MlaCache&&) noexcept = default;
MlaCache& MlaCache::operator=(MlaCache&&) noexcept = default;

int MlaCache::page_size() const { return impl_->pool.page_size(); }
DType MlaCache::dtype() const { return impl_->config.config.dtype; }
int MlaCache::num_layers() const { return static_cast<int>(impl_->layers.size()); }
int MlaCache::num_pages() const { return impl_->pool.num_pages(); }
int MlaCache::free_pages() const { return impl_->pool.free_pages(); }
void MlaCache::add_request(std::int64_t id) { impl_->pool.add_request(id); }
void MlaCache::release_request(std::int64_t id) { impl_->pool.release(id); }
std::int64_t MlaCache::length(std::int64_t id) const { return impl_->pool.length(id); }

namespace {

// Reserves `tokens` more tokens for each request (the pool's all-or-nothing
// append) and uploads their slots for kv_append.
void reserve(MlaCache::Impl& c, std::span<const std::int64_t> requests, int tokens, const char* call) {
  require(!requests.empty(), call, "names no request");
  require(tokens > 0, call, [&] { return "tokens " + std::to_string(tokens) + " must be positive"; });
  const auto slots64 = c.pool.append_tokens(requests, tokens);
  const std::vector<std::int32_t> slots(slots64.begin(), slots64.end());
  rt::Buffer& slot_buf = c.slots.ensure(slots.size() * sizeof(std::int32_t));
  c.device.write(slot_buf, slots.data(), slots.size() * sizeof(std::int32_t));
}

void append_rows(MlaCache::Impl& c, int layer, const Tensor& rows, int count, const char* call);

}  // namespace

struct MlaPrefill::Impl {
  MlaCache::Impl* cache;
  int tokens;
};

MlaPrefill MlaCache::begin_prefill(std::int64_t request, int tokens) {
  reserve(*impl_, {&request, 1}, tokens, "MlaCache::begin_prefill");
  return MlaPrefill(std::make_unique<MlaPrefill::Impl>(MlaPrefill::Impl{impl_.get(), tokens}));
}

MlaPrefill::MlaPrefill(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
MlaPrefill::~MlaPrefill() = default;
MlaPrefill::MlaPrefill(MlaPrefill&&) noexcept = default;
MlaPrefill& MlaPrefill::operator=(MlaPrefill&&) noexcept = default;
int MlaPrefill::tokens() const { return impl_->tokens; }
void MlaPrefill::append(int layer, const Tensor& rows) {
  append_rows(*impl_->cache, layer, rows, impl_->tokens, "MlaPrefill::append");
}

MlaStep MlaCache::begin_step(std::span<const std::int64_t> requests, int heads, int num_kv_splits) {
  Impl& c = *impl_;
  reserve(c, requests, 1, "MlaCache::begin_step");

  auto impl = std::make_unique<MlaStep::Impl>();
  impl->cache = &c;
  impl->max_pages = std::max(1, c.pool.max_pages_in_use(requests));
  impl->host_page_table = c.pool.page_table(requests, impl->max_pages);
  const auto seqlens = c.pool.seqlens(requests);
  impl->plan = c.decoder.plan(seqlens, heads, num_kv_splits);

  rt::Buffer& table = c.page_table.ensure(impl->host_page_table.size() * sizeof(std::int32_t));
  c.device.write(table, impl->host_page_table.data(), impl->host_page_table.size() * sizeof(std::int32_t));
  c.decoder.upload_plan(impl->plan, c.workspace.ensure(impl->plan.layout.total));

  impl->summary = {static_cast<int>(requests.size()), heads,  impl->plan.total_splits(), impl->plan.needs_combine,
                   impl->plan.layout.total,           seqlens};
  return MlaStep(std::move(impl));
}

MlaStep::MlaStep(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
MlaStep::~MlaStep() = default;
MlaStep::MlaStep(MlaStep&&) noexcept = default;
MlaStep& MlaStep::operator=(MlaStep&&) noexcept = default;

const MlaStepPlan& MlaStep::plan() const { return impl_->summary; }

namespace {

rt::Buffer& layer_cache(MlaCache::Impl& c, int layer, const char* call) {
  require(layer >= 0 && layer < static_cast<int>(c.layers.size()), call,
          "layer " + std::to_string(layer) + " is outside [0, " + std::to_string(c.layers.size()) + ")");
  return *c.layers[layer];
}

// kv_append of `count` rows at the slots the last reserve() uploaded.
void append_rows(MlaCache::Impl& c, int layer, const Tensor& rows, int count, const char* call) {
  ops::KvAppendArgs a;
  a.kv_cache = &layer_cache(c, layer, call);
  a.num_pages = c.pool.num_pages();
  a.page_size = c.pool.page_size();
  a.rows = buffer_of(&rows, call, "rows");
  a.slots = &c.slots.current();
  a.num_rows = count;
  c.appender.run(a);
}

}  // namespace

void MlaStep::append(int layer, const Tensor& rows) {
  append_rows(*impl_->cache, layer, rows, impl_->summary.batch, "MlaStep::append");
}

std::optional<MlaTiming> MlaStep::decode(int layer, const Tensor& q_nope, const Tensor& q_rope, Tensor& out,
                                         Tensor* lse, float sm_scale, bool timed) {
  MlaCache::Impl& c = *impl_->cache;
  constexpr const char* kCall = "MlaStep::decode";
  ops::MlaDecodeArgs a;
  a.batch = impl_->summary.batch;
  a.heads = impl_->summary.heads;
  a.sm_scale = sm_scale;
  a.q_nope = buffer_of(&q_nope, kCall, "q_nope");
  a.q_rope = buffer_of(&q_rope, kCall, "q_rope");
  a.kv_cache = &layer_cache(c, layer, kCall);
  a.num_pages = c.pool.num_pages();
  a.page_size = c.pool.page_size();
  a.page_table = &c.page_table.current();
  a.max_pages = impl_->max_pages;
  a.out = buffer_of(&out, kCall, "out");
  a.lse = buffer_of(lse, kCall, "lse");
  a.set_contiguous_strides();
  // The pool built this table, so the full page check would only cost time.
  const auto t = c.decoder.run(a, impl_->plan, c.workspace.current(), timed);
  if (!t) return std::nullopt;
  return MlaTiming{t->split_ms, t->combine_ms};
}

}  // namespace zemla
