// zemla::MlaCache and zemla::MlaStep: the paged latent cache of every layer,
// its page pool, and one planned decode step reused across layers.

#include <algorithm>
#include <optional>
#include <string>

#include "api/impl.hpp"
#include "host/backend_config.hpp"
#include "host/capability_registry.hpp"
#include "host/grow_only.hpp"
#include "host/mla_shape.hpp"
#include "host/page_pool.hpp"
#include "runtime/ops/kv_append.hpp"
#include "runtime/ops/mla_decode.hpp"
#include "runtime/recording.hpp"

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

template <typename Int>
Int positive(Int v, const char* name) {
  require(v > 0, kCacheCall, std::string(name) + " " + std::to_string(v) + " must be positive");
  return v;
}

}  // namespace

// What a fixed capacity settles once: the page-table width, the decoder's
// fixed workspace layout, and the launch counts recorded layers read.
struct FixedCapacity {
  MlaCapacity limits;
  int table_width = 0;  // page-table row width, pages
  ops::DecodeCapacity decode;
  std::unique_ptr<rt::LaunchCounts> counts;
  static constexpr std::size_t kAppendSlot = ops::MlaDecoder::kCountSlots;
};

struct MlaCache::Impl {
  Impl(Runtime& runtime, const MlaCacheOptions& o, const std::optional<MlaCapacity>& capacity)
      : device(*runtime.impl().device),
        config(validated(o)),
        pool(positive(o.num_pages, "num_pages"), config.config.page_size),
        decoder(device, config.config.dtype),
        appender(device),
        workspace([this](std::size_t n) { return device.allocate(n); }),
        page_table([this](std::size_t n) { return device.allocate(n); }),
        slots([this](std::size_t n) { return device.allocate(n); }),
        prefill_slots([this](std::size_t n) { return device.allocate(n); }) {
    positive(o.num_layers, "num_layers");
    const std::size_t layer_bytes = std::size_t(o.num_pages) * pool.page_size() * mla::kRowDim * 2;
    for (int l = 0; l < o.num_layers; ++l) layers.push_back(device.allocate(layer_bytes));
    if (capacity) fix_capacity(*capacity);
  }

  void fix_capacity(const MlaCapacity& c) {
    fixed.emplace();
    fixed->limits = c;
    positive(c.max_batch, "capacity.max_batch");
    positive(c.max_context_len, "capacity.max_context_len");
    positive(c.heads, "capacity.heads");
    const std::int64_t width = (c.max_context_len + pool.page_size() - 1) / pool.page_size();
    require(width <= pool.num_pages(), kCacheCall, [&] {
      return "capacity.max_context_len " + std::to_string(c.max_context_len) + " needs " + std::to_string(width) +
             " pages per request; the pool has " + std::to_string(pool.num_pages());
    });
    fixed->table_width = static_cast<int>(width);
    fixed->decode = decoder.capacity(c.max_batch, c.max_context_len, c.heads);
    workspace.ensure(fixed->decode.largest.layout.total);
    page_table.ensure(std::size_t(c.max_batch) * fixed->table_width * sizeof(std::int32_t));
    slots.ensure(std::size_t(c.max_batch) * sizeof(std::int32_t));
    fixed->counts = std::make_unique<rt::LaunchCounts>(device, ops::MlaDecoder::kCountSlots + 1);
  }

  // The plan of a step of `lengths` (this step's token included) for every
  // layer; with a fixed capacity, placed in its layout or refused.
  DecodePlan plan_step(std::span<const std::int32_t> lengths, int heads, int num_kv_splits) const {
    return fixed ? decoder.plan(lengths, heads, num_kv_splits, fixed->decode)
                 : decoder.plan(lengths, heads, num_kv_splits);
  }

  rt::Device& device;
  ValidatedConfig config;
  PagePool pool;
  ops::MlaDecoder decoder;
  ops::KvAppender appender;
  std::vector<std::unique_ptr<rt::Buffer>> layers;
  // Reused by every step; grown only when a step needs more (never, with a
  // fixed capacity: recorded layers hold these). A prompt's slots have their
  // own buffer, so a long prompt never moves the step's.
  GrowOnly<rt::Buffer> workspace, page_table, slots, prefill_slots;
  std::optional<FixedCapacity> fixed;
};

struct MlaStep::Impl {
  MlaCache::Impl* cache;
  MlaStepPlan summary;
  DecodePlan plan;
  int max_pages = 0;
};

MlaCache::MlaCache(Runtime& runtime, const MlaCacheOptions& options, const std::optional<MlaCapacity>& capacity)
    : impl_(std::make_unique<Impl>(runtime, options, capacity)) {}
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
// append) and uploads their slots for kv_append into `slot_buffer`.
void reserve(MlaCache::Impl& c, std::span<const std::int64_t> requests, int tokens, GrowOnly<rt::Buffer>& slot_buffer) {
  const auto slots64 = c.pool.append_tokens(requests, tokens);
  const std::vector<std::int32_t> slots(slots64.begin(), slots64.end());
  c.device.write_vector(slot_buffer.ensure(slots.size() * sizeof(std::int32_t)), slots);
}

// Every request's length after `tokens` more, checked against the capacity
// before anything changes.
std::vector<std::int32_t> lengths_after(const MlaCache::Impl& c, std::span<const std::int64_t> requests, int tokens,
                                        const char* call) {
  require(!requests.empty(), call, "names no request");
  require(tokens > 0, call, [&] { return "tokens " + std::to_string(tokens) + " must be positive"; });
  std::vector<std::int32_t> lengths;
  lengths.reserve(requests.size());
  for (const auto id : requests) {
    const std::int64_t len = std::int64_t{c.pool.length(id)} + tokens;
    require(!c.fixed || len <= c.fixed->limits.max_context_len, call, [&] {
      return "request " + std::to_string(id) + " would hold " + std::to_string(len) +
             " tokens; the cache's capacity.max_context_len is " + std::to_string(c.fixed->limits.max_context_len);
    });
    lengths.push_back(static_cast<std::int32_t>(len));
  }
  return lengths;
}

void append_rows(MlaCache::Impl& c, int layer, const Tensor& rows, int count, const rt::Buffer& slots,
                 const char* call);

}  // namespace

struct MlaPrefill::Impl {
  MlaCache::Impl* cache;
  int tokens;
};

MlaPrefill MlaCache::begin_prefill(std::int64_t request, int tokens) {
  constexpr const char* kCall = "MlaCache::begin_prefill";
  lengths_after(*impl_, {&request, 1}, tokens, kCall);
  reserve(*impl_, {&request, 1}, tokens, impl_->prefill_slots);
  return MlaPrefill(std::make_unique<MlaPrefill::Impl>(MlaPrefill::Impl{impl_.get(), tokens}));
}

MlaPrefill::MlaPrefill(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
MlaPrefill::~MlaPrefill() = default;
MlaPrefill::MlaPrefill(MlaPrefill&&) noexcept = default;
MlaPrefill& MlaPrefill::operator=(MlaPrefill&&) noexcept = default;
int MlaPrefill::tokens() const { return impl_->tokens; }
void MlaPrefill::append(int layer, const Tensor& rows) {
  append_rows(*impl_->cache, layer, rows, impl_->tokens, impl_->cache->prefill_slots.current(), "MlaPrefill::append");
}

MlaStep MlaCache::begin_step(std::span<const std::int64_t> requests, int heads, int num_kv_splits) {
  constexpr const char* kCall = "MlaCache::begin_step";
  Impl& c = *impl_;
  // Everything that can refuse the step runs before the pool changes.
  if (c.fixed) {
    require(static_cast<int>(requests.size()) <= c.fixed->limits.max_batch, kCall, [&] {
      return "the step has " + std::to_string(requests.size()) + " requests; the cache's capacity.max_batch is " +
             std::to_string(c.fixed->limits.max_batch);
    });
    require(heads == c.fixed->limits.heads, kCall, [&] {
      return "heads " + std::to_string(heads) + " differs from the cache's capacity.heads " +
             std::to_string(c.fixed->limits.heads);
    });
  }
  const auto lengths = lengths_after(c, requests, 1, kCall);
  auto impl = std::make_unique<MlaStep::Impl>();
  impl->cache = &c;
  impl->plan = c.plan_step(lengths, heads, num_kv_splits);
  reserve(c, requests, 1, c.slots);

  impl->max_pages = c.fixed ? c.fixed->table_width : std::max(1, c.pool.max_pages_in_use(requests));
  const auto table = c.pool.page_table(requests, impl->max_pages);
  c.device.write_vector(c.page_table.ensure(table.size() * sizeof(std::int32_t)), table);
  c.decoder.upload_plan(impl->plan, c.workspace.ensure(impl->plan.layout.total));
  if (c.fixed) {
    // One upload serves every recorded layer of the step.
    ops::MlaDecoder::set_counts(*c.fixed->counts, impl->plan);
    ops::KvAppender::set_count(*c.fixed->counts, FixedCapacity::kAppendSlot, static_cast<int>(requests.size()));
    c.fixed->counts->upload();
  }

  impl->summary = {static_cast<int>(requests.size()), heads,  impl->plan.total_splits(), impl->plan.needs_combine,
                   impl->plan.layout.total,           lengths};
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

ops::KvAppendArgs append_args(MlaCache::Impl& c, int layer, const rt::Buffer* rows, int count, const rt::Buffer& slots,
                              const char* call) {
  ops::KvAppendArgs a;
  a.kv_cache = &layer_cache(c, layer, call);
  a.num_pages = c.pool.num_pages();
  a.page_size = c.pool.page_size();
  a.rows = rows;
  a.slots = &slots;
  a.num_rows = count;
  return a;
}

// kv_append of `count` rows at the slots the last reserve() uploaded.
void append_rows(MlaCache::Impl& c, int layer, const Tensor& rows, int count, const rt::Buffer& slots,
                 const char* call) {
  c.appender.run(append_args(c, layer, buffer_of(&rows, call, "rows"), count, slots, call));
}

ops::MlaDecodeArgs decode_args(MlaCache::Impl& c, int layer, int batch, int heads, int max_pages, const Tensor& q_nope,
                               const Tensor& q_rope, Tensor& out, Tensor* lse, float sm_scale, const char* call) {
  ops::MlaDecodeArgs a;
  a.batch = batch;
  a.heads = heads;
  a.sm_scale = sm_scale;
  a.q_nope = buffer_of(&q_nope, call, "q_nope");
  a.q_rope = buffer_of(&q_rope, call, "q_rope");
  a.kv_cache = &layer_cache(c, layer, call);
  a.num_pages = c.pool.num_pages();
  a.page_size = c.pool.page_size();
  a.page_table = &c.page_table.current();
  a.max_pages = max_pages;
  a.out = buffer_of(&out, call, "out");
  a.lse = buffer_of(lse, call, "lse");
  a.set_contiguous_strides();
  return a;
}

}  // namespace

void MlaStep::append(int layer, const Tensor& rows) {
  append_rows(*impl_->cache, layer, rows, impl_->summary.batch, impl_->cache->slots.current(), "MlaStep::append");
}

std::optional<MlaTiming> MlaStep::decode(int layer, const Tensor& q_nope, const Tensor& q_rope, Tensor& out,
                                         Tensor* lse, float sm_scale, bool timed) {
  MlaCache::Impl& c = *impl_->cache;
  const auto a = decode_args(c, layer, impl_->summary.batch, impl_->summary.heads, impl_->max_pages, q_nope, q_rope,
                             out, lse, sm_scale, "MlaStep::decode");
  // The pool built this table, so the full page check would only cost time.
  const auto t = c.decoder.run(a, impl_->plan, c.workspace.current(), timed);
  if (!t) return std::nullopt;
  return MlaTiming{t->split_ms, t->combine_ms};
}

struct MlaRecordedLayer::Impl {
  MlaCache::Impl* cache;
  int layer;
  std::unique_ptr<rt::Recording> recording;
};

MlaRecordedLayer::MlaRecordedLayer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
MlaRecordedLayer::~MlaRecordedLayer() = default;
MlaRecordedLayer::MlaRecordedLayer(MlaRecordedLayer&&) noexcept = default;
MlaRecordedLayer& MlaRecordedLayer::operator=(MlaRecordedLayer&&) noexcept = default;
int MlaRecordedLayer::layer() const { return impl_->layer; }

MlaRecordedLayer MlaCache::record_layer(int layer, const MlaLayerTensors& t, float sm_scale) {
  constexpr const char* kCall = "MlaCache::record_layer";
  Impl& c = *impl_;
  require(c.fixed.has_value(), kCall, "recording needs a cache made with an MlaCapacity");
  require(t.rows && t.q_nope && t.q_rope && t.out, kCall, "rows, q_nope, q_rope and out are required");
  const MlaCapacity& cap = c.fixed->limits;
  // Checked against the largest step: every smaller one reads and writes less.
  auto recorder = c.device.record();
  c.appender.record(*recorder, *c.fixed->counts, FixedCapacity::kAppendSlot,
                    append_args(c, layer, buffer_of(t.rows, kCall, "rows"), cap.max_batch, c.slots.current(), kCall));
  c.decoder.record(*recorder, *c.fixed->counts,
                   decode_args(c, layer, cap.max_batch, cap.heads, c.fixed->table_width, *t.q_nope, *t.q_rope, *t.out,
                               t.lse, sm_scale, kCall),
                   c.fixed->decode, c.workspace.current());
  return MlaRecordedLayer(
      std::make_unique<MlaRecordedLayer::Impl>(MlaRecordedLayer::Impl{&c, layer, recorder->close()}));
}

void MlaStep::replay(MlaRecordedLayer& recorded) {
  require(recorded.impl().cache == impl_->cache, "MlaStep::replay",
          [&] { return "layer " + std::to_string(recorded.layer()) + " was recorded on another cache"; });
  recorded.impl().recording->replay();
}

}  // namespace zemla
