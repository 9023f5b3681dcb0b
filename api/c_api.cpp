// The C API over the C++ one: every entry point catches, maps the result
// name to a zemla_status and keeps the message per thread.

#include <algorithm>
#include <cstring>
#include <new>
#include <optional>
#include <string>
#include <type_traits>
#include <vector>

#include "host/dtype.hpp"
#include "zemla/zemla.h"
#include "zemla/zemla.hpp"
#include "zemla_kernels/manifest.hpp"

struct zemla_runtime {
  zemla::Runtime runtime;
};
struct zemla_tensor {
  zemla::Tensor tensor;
};
struct zemla_mla_cache {
  zemla::MlaCache cache;
};
struct zemla_mla_step {
  zemla::MlaStep step;
};
// A recorded layer of either cache (zemla::RecordedLayer); its step refuses another cache's.
struct zemla_mla_recorded_layer {
  zemla::RecordedLayer recorded;
};
struct zemla_gqa_cache {
  zemla::GqaCache cache;
};
struct zemla_gqa_step {
  zemla::GqaStep step;
};
struct zemla_mla_prefill {
  zemla::MlaPrefill prefill;
};
struct zemla_gqa_prefill {
  zemla::GqaPrefill prefill;
};

namespace {

thread_local std::string last_error;

zemla_status status_of(zemla::ErrorKind kind) {
  switch (kind) {
    case zemla::ErrorKind::invalid_argument:
      return ZEMLA_STATUS_INVALID_ARGUMENT;
    case zemla::ErrorKind::unsupported:
      return ZEMLA_STATUS_UNSUPPORTED;
    case zemla::ErrorKind::not_found:
      return ZEMLA_STATUS_NOT_FOUND;
    case zemla::ErrorKind::out_of_resources:
      return ZEMLA_STATUS_OUT_OF_RESOURCES;
    case zemla::ErrorKind::device:
      break;
  }
  return ZEMLA_STATUS_DEVICE_ERROR;
}

template <typename F>
zemla_status guarded(F&& f) {
  try {
    f();
    last_error.clear();
    return ZEMLA_STATUS_SUCCESS;
  } catch (const zemla::Error& e) {
    last_error = e.what();
    return status_of(e.kind());
  } catch (const std::bad_alloc&) {
    last_error = "host memory exhausted";
    return ZEMLA_STATUS_OUT_OF_RESOURCES;
  } catch (const std::exception& e) {
    last_error = e.what();
    return ZEMLA_STATUS_INTERNAL;
  }
}

zemla_status null_argument(const char* call, const char* name) {
  last_error = std::string(call) + ": " + name + " is NULL";
  return ZEMLA_STATUS_INVALID_ARGUMENT;
}

#define ZEMLA_NOT_NULL(call, p) \
  if ((p) == nullptr) return null_argument(call, #p)

// The flags as strings; a NULL entry throws naming its index.
std::vector<std::string> flag_list(const char* call, const char* const* server_flags, int num_flags) {
  std::vector<std::string> flags;
  for (int i = 0; i < num_flags; ++i) {
    zemla::require(server_flags[i] != nullptr, call, "server_flags[" + std::to_string(i) + "] is NULL");
    flags.emplace_back(server_flags[i]);
  }
  return flags;
}

// The checks every cache constructor shares, then `make(flags)` for the handle.
template <typename Handle, typename Make>
zemla_status create_cache(const char* call, zemla_runtime* runtime, const char* const* server_flags, int num_flags,
                          Handle** out, Make&& make) {
  ZEMLA_NOT_NULL(call, runtime);
  ZEMLA_NOT_NULL(call, out);
  *out = nullptr;
  if (num_flags > 0 && server_flags == nullptr) return null_argument(call, "server_flags");
  return guarded([&] { *out = new Handle{make(flag_list(call, server_flags, num_flags))}; });
}

zemla_status create_mla_cache(const char* call, zemla_runtime* runtime, const char* const* server_flags, int num_flags,
                              int num_layers, int num_pages, const std::optional<zemla::MlaCapacity>& capacity,
                              zemla_mla_cache** out) {
  return create_cache(call, runtime, server_flags, num_flags, out, [&](std::vector<std::string> flags) {
    return zemla::MlaCache(runtime->runtime, {std::move(flags), num_layers, num_pages}, capacity);
  });
}

// One decode step of `count` requests, for either cache.
// `more`: what follows heads in the cache's begin_step (num_kv_splits, q_len).
template <typename Step, typename Cache, typename... More>
zemla_status begin_step(const char* call, Cache* cache, const int64_t* requests, int count, int heads, Step** out,
                        More... more) {
  ZEMLA_NOT_NULL(call, cache);
  ZEMLA_NOT_NULL(call, requests);
  ZEMLA_NOT_NULL(call, out);
  *out = nullptr;
  return guarded([&] {
    zemla::require(count > 0, call, "count " + std::to_string(count) + " must be positive");
    *out = new Step{cache->cache.begin_step({requests, static_cast<std::size_t>(count)}, heads, more...)};
  });
}

// The dtypes and FP8 scale of an op's C arguments: a NULL cache dtype means
// the model's, as the C header says.
template <typename CArgs, typename Args>
void set_storage(const CArgs& c, Args& a) {
  // Read as the enum's integer: a C caller may pass any int, and loading an
  // out-of-range value through the enum type is undefined in C++.
  std::underlying_type_t<zemla_dtype> dtype = 0;
  std::memcpy(&dtype, &c.dtype, sizeof dtype);
  zemla::require(dtype == ZEMLA_DTYPE_BF16 || dtype == ZEMLA_DTYPE_FP16, "zemla_dtype",
                 [&] { return "dtype " + std::to_string(dtype) + " is not ZEMLA_DTYPE_BF16 or ZEMLA_DTYPE_FP16"; });
  a.dtype = dtype == ZEMLA_DTYPE_FP16 ? zemla::DType::f16 : zemla::DType::bf16;
  a.kv_cache_dtype = c.kv_cache_dtype ? c.kv_cache_dtype : "auto";
  a.kv_scale = c.kv_scale;
}

}  // namespace

extern "C" {

const char* zemla_version(void) { return ZEMLA_VERSION; }

const char* zemla_kernels_build_id(void) { return zemla::kernels::build_id().data(); }

const char* zemla_status_string(zemla_status s) {
  switch (s) {
    case ZEMLA_STATUS_SUCCESS:
      return "ZEMLA_STATUS_SUCCESS";
    case ZEMLA_STATUS_INVALID_ARGUMENT:
      return "ZEMLA_STATUS_INVALID_ARGUMENT";
    case ZEMLA_STATUS_UNSUPPORTED:
      return "ZEMLA_STATUS_UNSUPPORTED";
    case ZEMLA_STATUS_NOT_FOUND:
      return "ZEMLA_STATUS_NOT_FOUND";
    case ZEMLA_STATUS_OUT_OF_RESOURCES:
      return "ZEMLA_STATUS_OUT_OF_RESOURCES";
    case ZEMLA_STATUS_DEVICE_ERROR:
      return "ZEMLA_STATUS_DEVICE_ERROR";
    case ZEMLA_STATUS_INTERNAL:
      return "ZEMLA_STATUS_INTERNAL";
  }
  return "ZEMLA_STATUS_UNKNOWN";
}

const char* zemla_last_error(void) { return last_error.c_str(); }

zemla_status zemla_set_log_callback(zemla_log_callback callback, void* user, zemla_log_level level) {
  // Read as its integer: a level from C outside the enum is refused, not undefined.
  const int value = static_cast<int>(level);
  return guarded([&] {
    zemla::require(callback == nullptr || (value >= ZEMLA_LOG_ERROR && value <= ZEMLA_LOG_DEBUG),
                   "zemla_set_log_callback",
                   "level=" + std::to_string(value) + " is not a zemla_log_level (0 error .. 3 debug)");
    if (callback == nullptr) return zemla::set_log_sink({}, zemla::LogLevel::warn);
    zemla::set_log_sink(
        [callback, user](zemla::LogLevel l, std::string_view m) {
          const std::string text(m);  // NUL-terminated for C
          callback(static_cast<zemla_log_level>(l), text.c_str(), user);
        },
        static_cast<zemla::LogLevel>(value));
  });
}

zemla_status zemla_runtime_create(const char* backend, int device, zemla_runtime** out) {
  ZEMLA_NOT_NULL("zemla_runtime_create", out);
  *out = nullptr;
  return guarded([&] { *out = new zemla_runtime{zemla::Runtime({backend ? backend : "auto", device})}; });
}

zemla_status zemla_runtime_create_opencl(void* context, void* device, void* queue, zemla_runtime** out) {
  ZEMLA_NOT_NULL("zemla_runtime_create_opencl", out);
  *out = nullptr;
  return guarded([&] { *out = new zemla_runtime{zemla::Runtime::from_opencl({context, device, queue})}; });
}

zemla_status zemla_runtime_create_level_zero(void* driver, void* context, void* device, void* command_list,
                                             zemla_runtime** out) {
  ZEMLA_NOT_NULL("zemla_runtime_create_level_zero", out);
  *out = nullptr;
  return guarded([&] {
    *out = new zemla_runtime{zemla::Runtime::from_level_zero({driver, context, device, command_list})};
  });
}

void zemla_runtime_destroy(zemla_runtime* runtime) { delete runtime; }

zemla_status zemla_runtime_device_name(const zemla_runtime* runtime, char* name, size_t size) {
  ZEMLA_NOT_NULL("zemla_runtime_device_name", runtime);
  ZEMLA_NOT_NULL("zemla_runtime_device_name", name);
  return guarded([&] {
    zemla::require(size > 0, "zemla_runtime_device_name", "size is 0");
    const std::string n = runtime->runtime.device().name;
    std::strncpy(name, n.c_str(), size - 1);
    name[size - 1] = '\0';
  });
}

zemla_status zemla_runtime_synchronize(zemla_runtime* runtime) {
  ZEMLA_NOT_NULL("zemla_runtime_synchronize", runtime);
  return guarded([&] { runtime->runtime.synchronize(); });
}

zemla_status zemla_tensor_create(zemla_runtime* runtime, size_t bytes, zemla_tensor** out) {
  ZEMLA_NOT_NULL("zemla_tensor_create", runtime);
  ZEMLA_NOT_NULL("zemla_tensor_create", out);
  *out = nullptr;
  return guarded([&] { *out = new zemla_tensor{runtime->runtime.allocate(bytes)}; });
}

zemla_status zemla_tensor_wrap(zemla_runtime* runtime, void* native_buffer, size_t bytes, zemla_tensor** out) {
  ZEMLA_NOT_NULL("zemla_tensor_wrap", out);
  *out = nullptr;
  ZEMLA_NOT_NULL("zemla_tensor_wrap", runtime);
  return guarded([&] { *out = new zemla_tensor{runtime->runtime.wrap(native_buffer, bytes)}; });
}

void zemla_tensor_destroy(zemla_tensor* tensor) { delete tensor; }

zemla_status zemla_tensor_upload(zemla_tensor* tensor, const void* host, size_t bytes, size_t offset) {
  ZEMLA_NOT_NULL("zemla_tensor_upload", tensor);
  ZEMLA_NOT_NULL("zemla_tensor_upload", host);
  return guarded([&] { tensor->tensor.upload(host, bytes, offset); });
}

zemla_status zemla_tensor_download(const zemla_tensor* tensor, void* host, size_t bytes, size_t offset) {
  ZEMLA_NOT_NULL("zemla_tensor_download", tensor);
  ZEMLA_NOT_NULL("zemla_tensor_download", host);
  return guarded([&] { tensor->tensor.download(host, bytes, offset); });
}

zemla_status zemla_mla_cache_create(zemla_runtime* runtime, const char* const* server_flags, int num_flags,
                                    int num_layers, int num_pages, zemla_mla_cache** out) {
  return create_mla_cache("zemla_mla_cache_create", runtime, server_flags, num_flags, num_layers, num_pages,
                          std::nullopt, out);
}

zemla_status zemla_mla_cache_create_fixed(zemla_runtime* runtime, const char* const* server_flags, int num_flags,
                                          int num_layers, int num_pages, int max_batch, int64_t max_context_len,
                                          int heads, zemla_mla_cache** out) {
  return create_mla_cache("zemla_mla_cache_create_fixed", runtime, server_flags, num_flags, num_layers, num_pages,
                          zemla::MlaCapacity{max_batch, max_context_len, heads}, out);
}

void zemla_mla_cache_destroy(zemla_mla_cache* cache) { delete cache; }

zemla_status zemla_mla_cache_add_request(zemla_mla_cache* cache, int64_t id) {
  ZEMLA_NOT_NULL("zemla_mla_cache_add_request", cache);
  return guarded([&] { cache->cache.add_request(id); });
}

zemla_status zemla_mla_cache_release_request(zemla_mla_cache* cache, int64_t id) {
  ZEMLA_NOT_NULL("zemla_mla_cache_release_request", cache);
  return guarded([&] { cache->cache.release_request(id); });
}

zemla_status zemla_mla_cache_free_pages(const zemla_mla_cache* cache, int* out) {
  ZEMLA_NOT_NULL("zemla_mla_cache_free_pages", cache);
  ZEMLA_NOT_NULL("zemla_mla_cache_free_pages", out);
  return guarded([&] { *out = cache->cache.free_pages(); });
}

zemla_status zemla_mla_cache_page_size(const zemla_mla_cache* cache, int* out) {
  ZEMLA_NOT_NULL("zemla_mla_cache_page_size", cache);
  ZEMLA_NOT_NULL("zemla_mla_cache_page_size", out);
  return guarded([&] { *out = cache->cache.page_size(); });
}

zemla_status zemla_mla_cache_length(const zemla_mla_cache* cache, int64_t id, int64_t* out) {
  ZEMLA_NOT_NULL("zemla_mla_cache_length", cache);
  ZEMLA_NOT_NULL("zemla_mla_cache_length", out);
  return guarded([&] { *out = cache->cache.length(id); });
}

zemla_status zemla_mla_cache_kv_cache_dtype(const zemla_mla_cache* cache, const char** out) {
  ZEMLA_NOT_NULL("zemla_mla_cache_kv_cache_dtype", cache);
  ZEMLA_NOT_NULL("zemla_mla_cache_kv_cache_dtype", out);
  return guarded([&] {
    // The C API hands out static strings only: one of these names.
    static constexpr const char* kNames[] = {"bf16", "f16", "fp8_e4m3", "fp8_e5m2", "fp8_ds_mla"};
    const std::string name = cache->cache.kv_cache_dtype();
    const auto* it = std::find_if(std::begin(kNames), std::end(kNames), [&](const char* n) { return name == n; });
    if (it == std::end(kNames))
      throw zemla::Error("zemla_mla_cache_kv_cache_dtype", zemla::kUnsupported, "no C name for the dtype " + name);
    *out = *it;
  });
}

zemla_status zemla_mla_cache_set_kv_scale(zemla_mla_cache* cache, int layer, float scale) {
  ZEMLA_NOT_NULL("zemla_mla_cache_set_kv_scale", cache);
  return guarded([&] { cache->cache.set_kv_scale(layer, scale); });
}

zemla_status zemla_flash_mla_get_workspace_size(zemla_runtime* runtime, int64_t max_seq_len, int num_batches,
                                                int num_heads, int page_size, int num_kv_splits, size_t* out) {
  ZEMLA_NOT_NULL("zemla_flash_mla_get_workspace_size", runtime);
  ZEMLA_NOT_NULL("zemla_flash_mla_get_workspace_size", out);
  return guarded([&] {
    *out = zemla::flash_mla_get_workspace_size(runtime->runtime, max_seq_len, num_batches, num_heads, page_size,
                                               num_kv_splits);
  });
}

zemla_status zemla_flash_mla_get_workspace_size_split(zemla_runtime* runtime, int64_t max_seq_len, int num_batches,
                                                      int num_heads, int page_size, int num_kv_splits, int split_tokens,
                                                      size_t* out) {
  ZEMLA_NOT_NULL("zemla_flash_mla_get_workspace_size_split", runtime);
  ZEMLA_NOT_NULL("zemla_flash_mla_get_workspace_size_split", out);
  return guarded([&] {
    *out = zemla::flash_mla_get_workspace_size(runtime->runtime, max_seq_len, num_batches, num_heads, page_size,
                                               num_kv_splits, split_tokens);
  });
}

zemla_status zemla_flash_mla_decode(zemla_runtime* runtime, const zemla_flash_mla_decode_args* c) {
  ZEMLA_NOT_NULL("zemla_flash_mla_decode", runtime);
  ZEMLA_NOT_NULL("zemla_flash_mla_decode", c);
  return guarded([&] {
    const auto tensor = [](auto* t) { return t ? &t->tensor : nullptr; };
    zemla::FlashMlaDecodeArgs a;
    a.q_nope = tensor(c->q_nope);
    a.q_rope = tensor(c->q_rope);
    a.kv_cache = tensor(c->kv_cache);
    a.seq_lens = tensor(c->seq_lens);
    a.page_table = tensor(c->page_table);
    a.workspace = tensor(c->workspace);
    a.out = tensor(c->out);
    a.lse = tensor(c->lse);
    a.batch = c->batch;
    a.heads = c->heads;
    a.q_len = c->q_len;
    a.num_pages = c->num_pages;
    a.page_size = c->page_size;
    a.max_pages = c->max_pages;
    a.sm_scale = c->sm_scale;
    a.num_kv_splits = c->num_kv_splits;
    a.split_tokens = c->split_tokens;
    set_storage(*c, a);
    a.q_nope_stride_b = c->q_nope_stride_b;
    a.q_nope_stride_h = c->q_nope_stride_h;
    a.q_rope_stride_b = c->q_rope_stride_b;
    a.q_rope_stride_h = c->q_rope_stride_h;
    a.kv_stride_page = c->kv_stride_page;
    a.kv_stride_token = c->kv_stride_token;
    a.page_table_stride = c->page_table_stride;
    a.out_stride_b = c->out_stride_b;
    a.out_stride_h = c->out_stride_h;
    a.lse_stride_b = c->lse_stride_b;
    if (c->host_seq_lens != nullptr && c->batch > 0) {
      a.host_seq_lens = {c->host_seq_lens, static_cast<std::size_t>(c->batch)};
    }
    zemla::flash_mla_decode(runtime->runtime, a);
  });
}

zemla_status zemla_kv_append(zemla_runtime* runtime, const zemla_kv_append_args* c) {
  ZEMLA_NOT_NULL("zemla_kv_append", runtime);
  ZEMLA_NOT_NULL("zemla_kv_append", c);
  return guarded([&] {
    zemla::KvAppendOpArgs a;
    a.kv_cache = c->kv_cache ? &c->kv_cache->tensor : nullptr;
    a.rows = c->rows ? &c->rows->tensor : nullptr;
    a.slots = c->slots ? &c->slots->tensor : nullptr;
    a.num_rows = c->num_rows;
    a.num_pages = c->num_pages;
    a.page_size = c->page_size;
    set_storage(*c, a);
    a.kv_stride_page = c->kv_stride_page;
    a.kv_stride_token = c->kv_stride_token;
    a.rows_stride = c->rows_stride;
    zemla::kv_append(runtime->runtime, a);
  });
}

zemla_status zemla_mla_step_begin(zemla_mla_cache* cache, const int64_t* requests, int count, int heads,
                                  zemla_mla_step** out) {
  return begin_step("zemla_mla_step_begin", cache, requests, count, heads, out);
}

zemla_status zemla_mla_step_begin_with(zemla_mla_cache* cache, const int64_t* requests, int count,
                                       const zemla_mla_step_options* options, zemla_mla_step** out) {
  ZEMLA_NOT_NULL("zemla_mla_step_begin_with", options);
  return begin_step("zemla_mla_step_begin_with", cache, requests, count, options->heads, out, options->num_kv_splits,
                    options->q_len);
}

zemla_status zemla_mla_cache_truncate(zemla_mla_cache* cache, int64_t id, int64_t new_length) {
  ZEMLA_NOT_NULL("zemla_mla_cache_truncate", cache);
  return guarded([&] { cache->cache.truncate(id, new_length); });
}

void zemla_mla_step_destroy(zemla_mla_step* step) { delete step; }

zemla_status zemla_mla_prefill_begin(zemla_mla_cache* cache, int64_t request, int tokens, zemla_mla_prefill** out) {
  ZEMLA_NOT_NULL("zemla_mla_prefill_begin", out);
  *out = nullptr;
  ZEMLA_NOT_NULL("zemla_mla_prefill_begin", cache);
  return guarded([&] { *out = new zemla_mla_prefill{cache->cache.begin_prefill(request, tokens)}; });
}

void zemla_mla_prefill_destroy(zemla_mla_prefill* prefill) { delete prefill; }

zemla_status zemla_mla_prefill_append(zemla_mla_prefill* prefill, int layer, const zemla_tensor* rows) {
  ZEMLA_NOT_NULL("zemla_mla_prefill_append", prefill);
  ZEMLA_NOT_NULL("zemla_mla_prefill_append", rows);
  return guarded([&] { prefill->prefill.append(layer, rows->tensor); });
}

zemla_status zemla_mla_step_append(zemla_mla_step* step, int layer, const zemla_tensor* rows) {
  ZEMLA_NOT_NULL("zemla_mla_step_append", step);
  ZEMLA_NOT_NULL("zemla_mla_step_append", rows);
  return guarded([&] { step->step.append(layer, rows->tensor); });
}

zemla_status zemla_mla_step_decode(zemla_mla_step* step, int layer, const zemla_tensor* q_nope,
                                   const zemla_tensor* q_rope, zemla_tensor* out, zemla_tensor* lse, float sm_scale) {
  ZEMLA_NOT_NULL("zemla_mla_step_decode", step);
  ZEMLA_NOT_NULL("zemla_mla_step_decode", q_nope);
  ZEMLA_NOT_NULL("zemla_mla_step_decode", q_rope);
  ZEMLA_NOT_NULL("zemla_mla_step_decode", out);
  return guarded([&] {
    step->step.decode(layer, q_nope->tensor, q_rope->tensor, out->tensor, lse ? &lse->tensor : nullptr, sm_scale);
  });
}

zemla_status zemla_mla_step_append_decode(zemla_mla_step* step, int layer, const zemla_tensor* rows,
                                          const zemla_tensor* q_nope, const zemla_tensor* q_rope, zemla_tensor* out,
                                          zemla_tensor* lse, float sm_scale) {
  ZEMLA_NOT_NULL("zemla_mla_step_append_decode", step);
  ZEMLA_NOT_NULL("zemla_mla_step_append_decode", rows);
  ZEMLA_NOT_NULL("zemla_mla_step_append_decode", q_nope);
  ZEMLA_NOT_NULL("zemla_mla_step_append_decode", q_rope);
  ZEMLA_NOT_NULL("zemla_mla_step_append_decode", out);
  return guarded([&] {
    step->step.append_decode(layer, rows->tensor, q_nope->tensor, q_rope->tensor, out->tensor,
                             lse ? &lse->tensor : nullptr, sm_scale);
  });
}

zemla_status zemla_mla_layer_record(zemla_mla_cache* cache, int layer, const zemla_tensor* rows,
                                    const zemla_tensor* q_nope, const zemla_tensor* q_rope, zemla_tensor* out,
                                    zemla_tensor* lse, float sm_scale, zemla_mla_recorded_layer** recorded) {
  ZEMLA_NOT_NULL("zemla_mla_layer_record", cache);
  ZEMLA_NOT_NULL("zemla_mla_layer_record", rows);
  ZEMLA_NOT_NULL("zemla_mla_layer_record", q_nope);
  ZEMLA_NOT_NULL("zemla_mla_layer_record", q_rope);
  ZEMLA_NOT_NULL("zemla_mla_layer_record", out);
  ZEMLA_NOT_NULL("zemla_mla_layer_record", recorded);
  *recorded = nullptr;
  return guarded([&] {
    const zemla::MlaLayerTensors t{&rows->tensor, &q_nope->tensor, &q_rope->tensor, &out->tensor,
                                   lse ? &lse->tensor : nullptr};
    *recorded = new zemla_mla_recorded_layer{cache->cache.record_layer(layer, t, sm_scale)};
  });
}

void zemla_mla_recorded_layer_destroy(zemla_mla_recorded_layer* recorded) { delete recorded; }

zemla_status zemla_mla_step_replay(zemla_mla_step* step, zemla_mla_recorded_layer* recorded) {
  ZEMLA_NOT_NULL("zemla_mla_step_replay", step);
  ZEMLA_NOT_NULL("zemla_mla_step_replay", recorded);
  return guarded([&] { step->step.replay(recorded->recorded); });
}

zemla_status zemla_gqa_cache_create(zemla_runtime* runtime, const char* const* server_flags, int num_flags,
                                    int num_layers, int num_pages, int kv_heads, int head_dim, zemla_gqa_cache** out) {
  return create_cache(
      "zemla_gqa_cache_create", runtime, server_flags, num_flags, out, [&](std::vector<std::string> flags) {
        return zemla::GqaCache(runtime->runtime, {std::move(flags), num_layers, num_pages, kv_heads, head_dim});
      });
}

zemla_status zemla_gqa_cache_create_fixed(zemla_runtime* runtime, const char* const* server_flags, int num_flags,
                                          int num_layers, int num_pages, int kv_heads, int head_dim, int max_batch,
                                          int64_t max_context_len, int q_heads, zemla_gqa_cache** out) {
  return create_cache(
      "zemla_gqa_cache_create_fixed", runtime, server_flags, num_flags, out, [&](std::vector<std::string> flags) {
        return zemla::GqaCache(runtime->runtime, {std::move(flags), num_layers, num_pages, kv_heads, head_dim},
                               zemla::GqaCapacity{max_batch, max_context_len, q_heads});
      });
}

void zemla_gqa_cache_destroy(zemla_gqa_cache* cache) { delete cache; }

zemla_status zemla_gqa_layer_record(zemla_gqa_cache* cache, int layer, const zemla_tensor* k_rows,
                                    const zemla_tensor* v_rows, const zemla_tensor* q, zemla_tensor* out,
                                    zemla_tensor* lse, float sm_scale, float softcap, int window_left,
                                    zemla_mla_recorded_layer** recorded) {
  ZEMLA_NOT_NULL("zemla_gqa_layer_record", cache);
  ZEMLA_NOT_NULL("zemla_gqa_layer_record", k_rows);
  ZEMLA_NOT_NULL("zemla_gqa_layer_record", v_rows);
  ZEMLA_NOT_NULL("zemla_gqa_layer_record", q);
  ZEMLA_NOT_NULL("zemla_gqa_layer_record", out);
  ZEMLA_NOT_NULL("zemla_gqa_layer_record", recorded);
  *recorded = nullptr;
  return guarded([&] {
    const zemla::GqaLayerTensors t{&k_rows->tensor, &v_rows->tensor, &q->tensor, &out->tensor,
                                   lse ? &lse->tensor : nullptr};
    *recorded = new zemla_mla_recorded_layer{cache->cache.record_layer(layer, t, {sm_scale, softcap, window_left})};
  });
}

zemla_status zemla_gqa_step_replay(zemla_gqa_step* step, zemla_mla_recorded_layer* recorded) {
  ZEMLA_NOT_NULL("zemla_gqa_step_replay", step);
  ZEMLA_NOT_NULL("zemla_gqa_step_replay", recorded);
  return guarded([&] { step->step.replay(recorded->recorded); });
}

zemla_status zemla_gqa_cache_page_size(const zemla_gqa_cache* cache, int* out) {
  ZEMLA_NOT_NULL("zemla_gqa_cache_page_size", cache);
  ZEMLA_NOT_NULL("zemla_gqa_cache_page_size", out);
  return guarded([&] { *out = cache->cache.page_size(); });
}

zemla_status zemla_gqa_cache_add_request(zemla_gqa_cache* cache, int64_t id) {
  ZEMLA_NOT_NULL("zemla_gqa_cache_add_request", cache);
  return guarded([&] { cache->cache.add_request(id); });
}

zemla_status zemla_gqa_cache_release_request(zemla_gqa_cache* cache, int64_t id) {
  ZEMLA_NOT_NULL("zemla_gqa_cache_release_request", cache);
  return guarded([&] { cache->cache.release_request(id); });
}

zemla_status zemla_gqa_cache_free_pages(const zemla_gqa_cache* cache, int* out) {
  ZEMLA_NOT_NULL("zemla_gqa_cache_free_pages", cache);
  ZEMLA_NOT_NULL("zemla_gqa_cache_free_pages", out);
  return guarded([&] { *out = cache->cache.free_pages(); });
}

zemla_status zemla_gqa_step_begin(zemla_gqa_cache* cache, const int64_t* requests, int count, int q_heads,
                                  zemla_gqa_step** out) {
  return begin_step("zemla_gqa_step_begin", cache, requests, count, q_heads, out);
}

void zemla_gqa_step_destroy(zemla_gqa_step* step) { delete step; }

zemla_status zemla_gqa_prefill_begin(zemla_gqa_cache* cache, int64_t request, int tokens, zemla_gqa_prefill** out) {
  ZEMLA_NOT_NULL("zemla_gqa_prefill_begin", out);
  *out = nullptr;
  ZEMLA_NOT_NULL("zemla_gqa_prefill_begin", cache);
  return guarded([&] { *out = new zemla_gqa_prefill{cache->cache.begin_prefill(request, tokens)}; });
}

void zemla_gqa_prefill_destroy(zemla_gqa_prefill* prefill) { delete prefill; }

zemla_status zemla_gqa_prefill_append(zemla_gqa_prefill* prefill, int layer, const zemla_tensor* k_rows,
                                      const zemla_tensor* v_rows) {
  ZEMLA_NOT_NULL("zemla_gqa_prefill_append", prefill);
  ZEMLA_NOT_NULL("zemla_gqa_prefill_append", k_rows);
  ZEMLA_NOT_NULL("zemla_gqa_prefill_append", v_rows);
  return guarded([&] { prefill->prefill.append(layer, k_rows->tensor, v_rows->tensor); });
}

zemla_status zemla_gqa_step_append(zemla_gqa_step* step, int layer, const zemla_tensor* k_rows,
                                   const zemla_tensor* v_rows) {
  ZEMLA_NOT_NULL("zemla_gqa_step_append", step);
  ZEMLA_NOT_NULL("zemla_gqa_step_append", k_rows);
  ZEMLA_NOT_NULL("zemla_gqa_step_append", v_rows);
  return guarded([&] { step->step.append(layer, k_rows->tensor, v_rows->tensor); });
}

zemla_status zemla_gqa_step_decode(zemla_gqa_step* step, int layer, const zemla_tensor* q, zemla_tensor* out,
                                   zemla_tensor* lse, float sm_scale, float softcap, int window_left) {
  ZEMLA_NOT_NULL("zemla_gqa_step_decode", step);
  ZEMLA_NOT_NULL("zemla_gqa_step_decode", q);
  ZEMLA_NOT_NULL("zemla_gqa_step_decode", out);
  return guarded([&] {
    step->step.decode(layer, q->tensor, out->tensor, lse ? &lse->tensor : nullptr, {sm_scale, softcap, window_left});
  });
}

}  // extern "C"
