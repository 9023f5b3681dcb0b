/* zemla's C API: the embedding surface of zemla.hpp for servers written in C
 * or behind an FFI. Opaque handles, status codes, no exceptions across the
 * boundary.
 *
 * Every function returns a zemla_status; on failure the calling thread's
 * zemla_last_error() holds the message (the failing call, the API's own result
 * name, and the bad value). Thread safety: a runtime and every handle made
 * from it belong to one thread at a time; zemla_status_string and
 * zemla_last_error are safe from any thread (the message is per thread).
 * Lifetime: destroy handles before what made them: steps, prefills and
 * recorded layers before their cache; caches and tensors before their
 * runtime. A recorded layer also needs the tensors it was recorded with. */
#ifndef ZEMLA_H
#define ZEMLA_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define ZEMLA_C_API __attribute__((visibility("default")))

typedef enum zemla_status {
  ZEMLA_STATUS_SUCCESS = 0,
  ZEMLA_STATUS_INVALID_ARGUMENT = 1, /* a bad value; the message names it */
  ZEMLA_STATUS_UNSUPPORTED = 2,
  ZEMLA_STATUS_NOT_FOUND = 3, /* no such device or kernel */
  ZEMLA_STATUS_OUT_OF_RESOURCES = 4,
  ZEMLA_STATUS_DEVICE_ERROR = 5, /* the driver failed (CL_* / ZE_RESULT_* in the message) */
  ZEMLA_STATUS_INTERNAL = 6
} zemla_status;

typedef enum zemla_dtype { ZEMLA_DTYPE_BF16 = 0, ZEMLA_DTYPE_FP16 = 1 } zemla_dtype;

typedef struct zemla_runtime zemla_runtime;
typedef struct zemla_tensor zemla_tensor;
typedef struct zemla_mla_cache zemla_mla_cache;
typedef struct zemla_mla_step zemla_mla_step;
typedef struct zemla_mla_prefill zemla_mla_prefill;
typedef struct zemla_mla_recorded_layer zemla_mla_recorded_layer;
typedef struct zemla_gqa_cache zemla_gqa_cache;
typedef struct zemla_gqa_step zemla_gqa_step;
typedef struct zemla_gqa_prefill zemla_gqa_prefill;

/* The library's version, "MAJOR.MINOR.PATCH" (the CMake project's): what a
 * program loaded, whatever header it was built with. */
ZEMLA_C_API const char* zemla_version(void);
/* The embedded kernels' build identity, 16 hex digits: equal in two libraries exactly when they carry the same
 * kernel binaries (a digest of every artifact's sha256; `zemla kernels` lists them). */
ZEMLA_C_API const char* zemla_kernels_build_id(void);

ZEMLA_C_API const char* zemla_status_string(zemla_status status);
/* The last failure's message on this thread ("" if none). Valid until the next call. */
ZEMLA_C_API const char* zemla_last_error(void);

/* zemla's log messages go to stderr under ZEMLA_LOG_LEVEL until a callback is set. With `callback`
 * non-NULL every message up to `level` goes to callback(level, message, user) instead, process-wide, from
 * whichever thread logs, one call at a time (message is valid during the call only); NULL restores stderr.
 * The callback must not call zemla_set_log_callback. */
typedef enum zemla_log_level {
  ZEMLA_LOG_ERROR = 0,
  ZEMLA_LOG_WARN = 1,
  ZEMLA_LOG_INFO = 2,
  ZEMLA_LOG_DEBUG = 3
} zemla_log_level;
typedef void (*zemla_log_callback)(zemla_log_level level, const char* message, void* user);
ZEMLA_C_API zemla_status zemla_set_log_callback(zemla_log_callback callback, void* user, zemla_log_level level);

/* backend: "auto", "level_zero" or "opencl" (NULL = auto); device: index or -1. */
ZEMLA_C_API zemla_status zemla_runtime_create(const char* backend, int device, zemla_runtime** out);
/* A runtime on the caller's OpenCL objects (cl_context, cl_device_id, cl_command_queue): zemla retains them and
 * releases only its references, and enqueues everything on that queue, which must be in-order; see
 * Runtime::from_opencl in zemla.hpp for the ordering rule. */
ZEMLA_C_API zemla_status zemla_runtime_create_opencl(void* context, void* device, void* queue, zemla_runtime** out);
/* A runtime on the caller's Level Zero objects (ze_driver_handle_t, ze_context_handle_t, ze_device_handle_t and an
 * optional immediate ze_command_list_handle_t of that context and device, else NULL): zemla destroys none of them,
 * and appends everything to that list when given; see Runtime::from_level_zero in zemla.hpp for the ordering rule. */
ZEMLA_C_API zemla_status zemla_runtime_create_level_zero(void* driver, void* context, void* device, void* command_list,
                                                         zemla_runtime** out);
ZEMLA_C_API void zemla_runtime_destroy(zemla_runtime* runtime);
/* The device's name, NUL-terminated, truncated to `size` bytes. */
ZEMLA_C_API zemla_status zemla_runtime_device_name(const zemla_runtime* runtime, char* name, size_t size);
ZEMLA_C_API zemla_status zemla_runtime_synchronize(zemla_runtime* runtime);

ZEMLA_C_API zemla_status zemla_tensor_create(zemla_runtime* runtime, size_t bytes, zemla_tensor** out);
/* The caller's device memory (a cl_mem of the runtime's OpenCL context, or a USM pointer of its Level Zero context)
 * as a tensor of `bytes`, without a copy; the memory stays the caller's: destroying the tensor releases only zemla's
 * reference to a cl_mem and never frees a USM pointer. */
ZEMLA_C_API zemla_status zemla_tensor_wrap(zemla_runtime* runtime, void* native_buffer, size_t bytes,
                                           zemla_tensor** out);
ZEMLA_C_API void zemla_tensor_destroy(zemla_tensor* tensor);
ZEMLA_C_API zemla_status zemla_tensor_upload(zemla_tensor* tensor, const void* host, size_t bytes, size_t offset);
ZEMLA_C_API zemla_status zemla_tensor_download(const zemla_tensor* tensor, void* host, size_t bytes, size_t offset);

/* ---- Op-level MLA decode over the server's own tensors (zemla.hpp's flash_mla_decode says more) ---- */

/* Workspace bytes for any flash_mla_decode of up to num_batches requests of up to max_seq_len tokens and
 * num_heads query rows (heads x q_len) with this num_kv_splits (1 none, -1 planned, n exactly n). */
ZEMLA_C_API zemla_status zemla_flash_mla_get_workspace_size(zemla_runtime* runtime, int64_t max_seq_len,
                                                            int num_batches, int num_heads, int page_size,
                                                            int num_kv_splits, size_t* out);
/* The same bound for batch-invariant splits of split_tokens tokens (zemla_flash_mla_decode_args::split_tokens;
 * num_kv_splits -1); split_tokens 0 is the call above. */
ZEMLA_C_API zemla_status zemla_flash_mla_get_workspace_size_split(zemla_runtime* runtime, int64_t max_seq_len,
                                                                  int num_batches, int num_heads, int page_size,
                                                                  int num_kv_splits, int split_tokens, size_t* out);
/* Every tensor from the same runtime. Strides in elements, 0 = dense. dtype: q, out and a 16-bit cache;
 * kv_cache_dtype: "auto", "fp8_e4m3", "fp8_e5m2" or "fp8_ds_mla" (DeepSeek's 656-byte rows, strides in bytes,
 * bf16 only, kv_scale 1; NULL: auto). host_seq_lens: optional host copy of seq_lens
 * (batch values) from which the split plan is made without reading seq_lens back. lse may be NULL. */
typedef struct zemla_flash_mla_decode_args {
  const zemla_tensor* q_nope;
  const zemla_tensor* q_rope;
  const zemla_tensor* kv_cache;
  const zemla_tensor* seq_lens;
  const zemla_tensor* page_table;
  zemla_tensor* workspace;
  zemla_tensor* out;
  zemla_tensor* lse;
  int batch, heads, q_len, num_pages, page_size, max_pages;
  float sm_scale;
  int num_kv_splits;
  int split_tokens; /* > 0: batch-invariant splits of this many tokens (FlashMlaDecodeArgs::split_tokens) */
  zemla_dtype dtype;
  const char* kv_cache_dtype;
  float kv_scale;
  int64_t q_nope_stride_b, q_nope_stride_h, q_rope_stride_b, q_rope_stride_h;
  int64_t kv_stride_page, kv_stride_token, page_table_stride, out_stride_b, out_stride_h, lse_stride_b;
  const int32_t* host_seq_lens;
} zemla_flash_mla_decode_args;
ZEMLA_C_API zemla_status zemla_flash_mla_decode(zemla_runtime* runtime, const zemla_flash_mla_decode_args* args);

/* kv_append over the server's cache: num_rows rows of 576 values into their int32 slots. */
typedef struct zemla_kv_append_args {
  zemla_tensor* kv_cache;
  const zemla_tensor* rows;
  const zemla_tensor* slots;
  int num_rows, num_pages, page_size;
  zemla_dtype dtype; /* of the rows */
  const char* kv_cache_dtype;
  float kv_scale;
  int64_t kv_stride_page, kv_stride_token, rows_stride;
} zemla_kv_append_args;
ZEMLA_C_API zemla_status zemla_kv_append(zemla_runtime* runtime, const zemla_kv_append_args* args);

/* server_flags: sglang-style flags, e.g. {"--decode-attention-backend", "intel_xpu",
 * "--prefill-attention-backend", "triton", "--page-size", "64"}; validated like `zemla config`. */
ZEMLA_C_API zemla_status zemla_mla_cache_create(zemla_runtime* runtime, const char* const* server_flags, int num_flags,
                                                int num_layers, int num_pages, zemla_mla_cache** out);
/* The same with a fixed capacity (MlaCapacity): every step buffer is made now, larger steps are refused,
 * and layers can be recorded with zemla_mla_layer_record. */
ZEMLA_C_API zemla_status zemla_mla_cache_create_fixed(zemla_runtime* runtime, const char* const* server_flags,
                                                      int num_flags, int num_layers, int num_pages, int max_batch,
                                                      int64_t max_context_len, int heads, zemla_mla_cache** out);
ZEMLA_C_API void zemla_mla_cache_destroy(zemla_mla_cache* cache);
ZEMLA_C_API zemla_status zemla_mla_cache_add_request(zemla_mla_cache* cache, int64_t id);
ZEMLA_C_API zemla_status zemla_mla_cache_release_request(zemla_mla_cache* cache, int64_t id);
ZEMLA_C_API zemla_status zemla_mla_cache_free_pages(const zemla_mla_cache* cache, int* out);
/* The page size the cache uses (after sglang's correction of --page-size). */
ZEMLA_C_API zemla_status zemla_mla_cache_page_size(const zemla_mla_cache* cache, int* out);
/* Tokens request `id` holds, this step's reserved token included. */
ZEMLA_C_API zemla_status zemla_mla_cache_length(const zemla_mla_cache* cache, int64_t id, int64_t* out);
/* How the cache stores values: "bf16", "f16", "fp8_e4m3", "fp8_e5m2" or "fp8_ds_mla" (a static string). */
ZEMLA_C_API zemla_status zemla_mla_cache_kv_cache_dtype(const zemla_mla_cache* cache, const char** out);
/* An FP8 cache's scale for one layer (see MlaCache::set_kv_scale): set before the layer's first append
 * and before recording it; a 16-bit cache refuses any scale with ZEMLA_STATUS_INVALID_ARGUMENT. */
ZEMLA_C_API zemla_status zemla_mla_cache_set_kv_scale(zemla_mla_cache* cache, int layer, float scale);

/* One decode step for `count` requests (one new token each); see MlaCache::begin_step. */
ZEMLA_C_API zemla_status zemla_mla_step_begin(zemla_mla_cache* cache, const int64_t* requests, int count, int heads,
                                              zemla_mla_step** out);
/* The same with every choice of MlaCache::begin_step: num_kv_splits (-1 planned, n exactly n) and q_len, the
 * query tokens per request (1 to 8; multi-token decode for speculative verify). With q_len > 1, rows are
 * [count * q_len, 576], q_nope [count, q_len, heads, 512], q_rope [count, q_len, heads, 64], out
 * [count, q_len, heads, 512] and lse [count, q_len, heads]; query token i sees its request's tokens up to its own. */
typedef struct zemla_mla_step_options {
  int heads;
  int num_kv_splits;
  int q_len;
} zemla_mla_step_options;
ZEMLA_C_API zemla_status zemla_mla_step_begin_with(zemla_mla_cache* cache, const int64_t* requests, int count,
                                                   const zemla_mla_step_options* options, zemla_mla_step** out);
/* Keeps the first new_length tokens of request `id` (a speculative step's accepted prefix), returning pages that
 * hold none of them; ends the current step. A length outside [0, length] is ZEMLA_STATUS_INVALID_ARGUMENT. */
ZEMLA_C_API zemla_status zemla_mla_cache_truncate(zemla_mla_cache* cache, int64_t id, int64_t new_length);
ZEMLA_C_API void zemla_mla_step_destroy(zemla_mla_step* step);
/* A prompt's rows computed by another backend (MLA prefill runs outside zemla): reserves `tokens` slots after
 * request `request`'s cached tokens, then each layer's zemla_mla_prefill_append writes rows [tokens, 576] in
 * the model's dtype there. One prefill or step at a time per cache: a later begin (of either) makes it stale. */
ZEMLA_C_API zemla_status zemla_mla_prefill_begin(zemla_mla_cache* cache, int64_t request, int tokens,
                                                 zemla_mla_prefill** out);
ZEMLA_C_API void zemla_mla_prefill_destroy(zemla_mla_prefill* prefill);
ZEMLA_C_API zemla_status zemla_mla_prefill_append(zemla_mla_prefill* prefill, int layer, const zemla_tensor* rows);
/* rows: [count, 576] in the model's dtype (an FP8 cache quantizes them). */
ZEMLA_C_API zemla_status zemla_mla_step_append(zemla_mla_step* step, int layer, const zemla_tensor* rows);
/* q_nope [count, heads, 512], q_rope [count, heads, 64] -> out [count, heads, 512]; lse fp32 [count, heads] or NULL. */
ZEMLA_C_API zemla_status zemla_mla_step_decode(zemla_mla_step* step, int layer, const zemla_tensor* q_nope,
                                               const zemla_tensor* q_rope, zemla_tensor* out, zemla_tensor* lse,
                                               float sm_scale);
/* append then decode in one launch fewer, the same results: the decode reads each request's new row from `rows`
 * and writes it into the cache itself; see MlaStep::append_decode. */
ZEMLA_C_API zemla_status zemla_mla_step_append_decode(zemla_mla_step* step, int layer, const zemla_tensor* rows,
                                                      const zemla_tensor* q_nope, const zemla_tensor* q_rope,
                                                      zemla_tensor* out, zemla_tensor* lse, float sm_scale);

/* Records `layer`'s append + decode once, bound to these tensors (sized for max_batch; lse may be NULL);
 * see MlaCache::record_layer. Destroy it before the cache and the tensors. */
ZEMLA_C_API zemla_status zemla_mla_layer_record(zemla_mla_cache* cache, int layer, const zemla_tensor* rows,
                                                const zemla_tensor* q_nope, const zemla_tensor* q_rope,
                                                zemla_tensor* out, zemla_tensor* lse, float sm_scale,
                                                zemla_mla_recorded_layer** recorded);
ZEMLA_C_API void zemla_mla_recorded_layer_destroy(zemla_mla_recorded_layer* recorded);
/* The recorded layer's append + decode for this step, reading and writing the recorded tensors' first rows. */
ZEMLA_C_API zemla_status zemla_mla_step_replay(zemla_mla_step* step, zemla_mla_recorded_layer* recorded);

/* Non-MLA models (GQA / MQA / MHA): see GqaCache in zemla.hpp. server_flags describe a non-MLA model, e.g.
 * {"--model-arch", "mha", "--decode-attention-backend", "intel_xpu", "--page-size", "128"}; head_dim is
 * 64, 128 or 256. A page size the config rules correct is taken corrected: ask zemla_gqa_cache_page_size. */
ZEMLA_C_API zemla_status zemla_gqa_cache_create(zemla_runtime* runtime, const char* const* server_flags, int num_flags,
                                                int num_layers, int num_pages, int kv_heads, int head_dim,
                                                zemla_gqa_cache** out);
ZEMLA_C_API void zemla_gqa_cache_destroy(zemla_gqa_cache* cache);
ZEMLA_C_API zemla_status zemla_gqa_cache_page_size(const zemla_gqa_cache* cache, int* out);
ZEMLA_C_API zemla_status zemla_gqa_cache_add_request(zemla_gqa_cache* cache, int64_t id);
ZEMLA_C_API zemla_status zemla_gqa_cache_release_request(zemla_gqa_cache* cache, int64_t id);
ZEMLA_C_API zemla_status zemla_gqa_cache_free_pages(const zemla_gqa_cache* cache, int* out);
/* One decode step for `count` requests; q_heads is a multiple of kv_heads (at most 8 per KV head). */
ZEMLA_C_API zemla_status zemla_gqa_step_begin(zemla_gqa_cache* cache, const int64_t* requests, int count, int q_heads,
                                              zemla_gqa_step** out);
ZEMLA_C_API void zemla_gqa_step_destroy(zemla_gqa_step* step);
/* A prompt's K and V rows, as zemla_mla_prefill_begin: k_rows, v_rows [tokens, kv_heads, head_dim]. */
ZEMLA_C_API zemla_status zemla_gqa_prefill_begin(zemla_gqa_cache* cache, int64_t request, int tokens,
                                                 zemla_gqa_prefill** out);
ZEMLA_C_API void zemla_gqa_prefill_destroy(zemla_gqa_prefill* prefill);
ZEMLA_C_API zemla_status zemla_gqa_prefill_append(zemla_gqa_prefill* prefill, int layer, const zemla_tensor* k_rows,
                                                  const zemla_tensor* v_rows);
/* k_rows, v_rows: [count, kv_heads, head_dim] in the cache dtype. */
ZEMLA_C_API zemla_status zemla_gqa_step_append(zemla_gqa_step* step, int layer, const zemla_tensor* k_rows,
                                               const zemla_tensor* v_rows);
/* q [count, q_heads, head_dim] -> out [count, q_heads, head_dim]; lse fp32 [count, q_heads] or NULL.
 * softcap > 0 caps the logits; window_left >= 0 is a sliding window (flash-attn's window_size[0]), -1 none. */
ZEMLA_C_API zemla_status zemla_gqa_step_decode(zemla_gqa_step* step, int layer, const zemla_tensor* q,
                                               zemla_tensor* out, zemla_tensor* lse, float sm_scale, float softcap,
                                               int window_left);

/* As zemla_gqa_cache_create, with a fixed capacity (see GqaCapacity in zemla.hpp): every step buffer allocated
 * now, a larger step refused, and layers recordable with zemla_gqa_layer_record. */
ZEMLA_C_API zemla_status zemla_gqa_cache_create_fixed(zemla_runtime* runtime, const char* const* server_flags,
                                                      int num_flags, int num_layers, int num_pages, int kv_heads,
                                                      int head_dim, int max_batch, int64_t max_context_len, int q_heads,
                                                      zemla_gqa_cache** out);
/* Records `layer`'s K and V appends and its decode once, bound to these tensors (sized for max_batch; lse may be
 * NULL); see GqaCache::record_layer. Destroy it (zemla_mla_recorded_layer_destroy) before the cache and the
 * tensors. */
ZEMLA_C_API zemla_status zemla_gqa_layer_record(zemla_gqa_cache* cache, int layer, const zemla_tensor* k_rows,
                                                const zemla_tensor* v_rows, const zemla_tensor* q, zemla_tensor* out,
                                                zemla_tensor* lse, float sm_scale, float softcap, int window_left,
                                                zemla_mla_recorded_layer** recorded);
/* The recorded layer's appends + decode for this step, reading and writing the recorded tensors' first rows. */
ZEMLA_C_API zemla_status zemla_gqa_step_replay(zemla_gqa_step* step, zemla_mla_recorded_layer* recorded);

#ifdef __cplusplus
}
#endif

#endif /* ZEMLA_H */
