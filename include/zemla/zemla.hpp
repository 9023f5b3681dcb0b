#pragma once
// zemla's public C++ API: paged decode attention for an inference server that
// embeds it. MLA (DeepSeek-style) models use MlaCache; other models (GQA,
// MQA, MHA: flash_attn_with_kvcache's decode) use GqaCache, further down.
//
//   zemla::Runtime rt;                                   // best device
//   zemla::MlaCache cache(rt, {{"--decode-attention-backend", "intel_xpu",
//                               "--prefill-attention-backend", "triton",
//                               "--page-size", "64"}, /*layers*/ 61, /*pages*/ 4096});
//   cache.add_request(7);
//   auto step = cache.begin_step(ids, heads);            // once per decode step
//   for (int layer = 0; layer < 61; ++layer) {
//     step.append_decode(layer, new_latent_rows,         // kv_append + decode
//                        q_nope, q_rope, out, &lse, sm_scale);
//   }
//   cache.release_request(7);                            // pages back to the pool
//
// Planning (split-KV work, page table, workspace) happens once in
// begin_step and is reused by every layer, as FlashMLA separates
// get_mla_metadata from flash_mla_with_kvcache.
//
// Errors are zemla::Error carrying the failing call, the API's own result
// name (ZEMLA_ERROR_*, CL_*, ZE_RESULT_*) and a message naming the bad value.
// Thread safety: one Runtime and everything made from it belong to one
// thread at a time; distinct Runtimes may be used from different threads.
// Lifetime: everything a Runtime makes (tensors, caches) must be destroyed
// before it, and a cache's steps, prefills and recorded layers before the
// cache; a recorded layer also needs the tensors it was recorded with.

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "zemla/error.hpp"
#include "zemla/export.hpp"
#include "zemla/types.hpp"

namespace zemla {

// zemla's log messages (which binary a device loaded, why a backend was
// skipped, a program cache miss): to stderr under ZEMLA_LOG_LEVEL until a
// program sets a sink. set_log_sink sends every message up to `level` to
// `sink` instead, process-wide, from whichever thread logs, one call at a
// time; it must not call set_log_sink itself. An empty sink restores stderr.
// A sink that throws loses that message; the call that logged goes on.
enum class LogLevel { error = 0, warn = 1, info = 2, debug = 3 };
using LogSink = std::function<void(LogLevel level, std::string_view message)>;
ZEMLA_API void set_log_sink(LogSink sink, LogLevel level = LogLevel::info);

struct DeviceSelection {
  std::string backend = "auto";  // auto | level_zero | opencl
  int index = -1;                // within the backend; -1 = best
};

struct DeviceDescription {
  std::string name;
  std::string backend;  // "level_zero" or "opencl"
  std::string variant;  // kernel variant it runs: "portable", "intel_sg", "intel_xmx" or "nv_mma"
  int compute_units = 0;
  std::uint64_t global_mem_bytes = 0;
};

class Tensor;

// The library's version ("MAJOR.MINOR.PATCH") and its embedded kernels'
// build identity (zemla.h's zemla_kernels_build_id): what a program loaded,
// whatever header it was built with.
ZEMLA_API std::string version();
ZEMLA_API std::string kernels_build_id();

// A caller's OpenCL objects, for a Runtime that shares them: cl_context,
// cl_device_id and cl_command_queue, as void* so this header needs no
// OpenCL header.
struct OpenClHandles {
  void* context = nullptr;
  void* device = nullptr;
  void* queue = nullptr;
};

// The caller's Level Zero handles: ze_driver_handle_t, ze_context_handle_t,
// ze_device_handle_t (a root device or a tile) and, optionally, an immediate
// ze_command_list_handle_t made on that context and device.
struct LevelZeroHandles {
  void* driver = nullptr;
  void* context = nullptr;
  void* device = nullptr;
  void* command_list = nullptr;
};

class ZEMLA_API Runtime {
 public:
  explicit Runtime(const DeviceSelection& selection = {});
  // A Runtime on the caller's OpenCL context, device and command queue, so
  // a server that also runs other OpenCL work (or SYCL / oneDNN over
  // OpenCL) shares one context with zemla. Ownership: zemla retains each
  // handle and releases only its own reference, so the caller's objects
  // live on after the Runtime. Ordering: every copy and launch zemla makes
  // is enqueued on that queue, which must be in-order (an out-of-order one
  // is refused), so work the caller enqueued before a zemla call runs
  // before it and work enqueued after runs after; the caller waits for
  // results as for its own (clFinish, or a blocking read on the queue).
  // Destroying the Runtime finishes the queue. Timing needs a queue made
  // with CL_QUEUE_PROFILING_ENABLE.
  static Runtime from_opencl(const OpenClHandles& handles);
  // A Runtime on the caller's Level Zero driver, context and device, the
  // handles a SYCL, oneDNN or PyTorch-XPU program gets from its queue.
  // Ownership: Level Zero counts no references, so zemla destroys none of
  // these handles and frees no memory it did not allocate; they must
  // outlive the Runtime and every Tensor it made. zemla's own allocations,
  // modules and events live in the caller's context and go with the Runtime.
  // Ordering with the caller's immediate command list: every copy and
  // launch is appended to it, each followed by a barrier, so the caller's
  // commands before a zemla call run before it and those after run after;
  // the caller waits for results as for its own work; destroying the
  // Runtime waits on the host until the list has run them. A recorded step
  // (MlaCache's graph replay) runs on a queue of zemla's: it waits on the
  // host for the caller's list before it starts and for itself before the
  // call returns. Without a list, zemla appends to an immediate list of its
  // own on the caller's context: the caller makes its own writes visible
  // before a zemla call (a host wait on its queue) and waits for zemla's
  // results with synchronize(). The list must be an immediate list of that
  // context and device (Level Zero 1.4 cannot check it; a regular list never
  // runs what zemla appends, and synchronize() would then wait forever).
  static Runtime from_level_zero(const LevelZeroHandles& handles);
  ~Runtime();
  Runtime(Runtime&&) noexcept;
  Runtime& operator=(Runtime&&) noexcept;

  DeviceDescription device() const;
  // Device memory; contents undefined until written.
  Tensor allocate(std::size_t bytes);
  // The caller's own device memory as a Tensor of `bytes`, without a copy:
  // on OpenCL a cl_mem of this Runtime's context (the Tensor holds one
  // reference and releases only that; the memory stays the caller's); on
  // Level Zero a USM pointer (device, shared or host) of this Runtime's
  // context, never freed by zemla, which must outlive the Tensor. Refused
  // when the memory from the pointer is smaller than `bytes`, or belongs to
  // another context or device (where the driver describes its allocations).
  Tensor wrap(void* native_buffer, std::size_t bytes);
  // Waits for every enqueued operation.
  void synchronize();

  struct Impl;
  Impl& impl() const { return *impl_; }

 private:
  explicit Runtime(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// A device buffer. Tensors are plain bytes: the API documents each
// argument's shape and element type.
class ZEMLA_API Tensor {
 public:
  Tensor();
  ~Tensor();
  Tensor(Tensor&&) noexcept;
  Tensor& operator=(Tensor&&) noexcept;

  std::size_t bytes() const;
  void upload(const void* host, std::size_t bytes, std::size_t offset = 0);
  void download(void* host, std::size_t bytes, std::size_t offset = 0) const;

  struct Impl;
  Impl* impl() const { return impl_.get(); }

 private:
  friend class Runtime;
  std::unique_ptr<Impl> impl_;
};

// The largest decode step a cache serves, given when the cache is made
// (without one, buffers grow as steps need them). With it, every buffer a step uses
// is allocated when the cache is made (nothing is allocated while serving),
// a larger step is refused before it changes anything, and layers can be
// recorded (MlaCache::record_layer).
struct MlaCapacity {
  int max_batch = 0;                 // requests per step
  std::int64_t max_context_len = 0;  // tokens per request, this step's included
  int heads = 0;                     // every step's head count
  int q_len = 1;                     // every step's query tokens per request (begin_step)
};

struct MlaCacheOptions {
  // sglang-style server flags; validated by the same rules as `zemla config`
  // (an invalid config throws, naming the diagnostic). The page size and
  // dtype come from them (--page-size, --dtype), and the cache's storage
  // (--kv-cache-dtype auto, fp8_e4m3, fp8_e5m2 or fp8_ds_mla).
  std::vector<std::string> server_flags;
  int num_layers = 1;
  int num_pages = 0;  // per layer
};

// The tensors one recorded layer reads and writes, fixed for the
// recording's life like a CUDA graph's static buffers: each step the server
// writes its inputs into them and reads its outputs from them. Sized for the
// cache's capacity; a step uses their first `batch` rows.
struct MlaLayerTensors {
  const Tensor* rows = nullptr;    // [max_batch, 576]: the step's new latent rows
  const Tensor* q_nope = nullptr;  // [max_batch, heads, 512]
  const Tensor* q_rope = nullptr;  // [max_batch, heads, 64]
  Tensor* out = nullptr;           // [max_batch, heads, 512]
  Tensor* lse = nullptr;           // fp32 [max_batch, heads], optional
};

// What begin_step planned, shared by every layer of the step.
struct DecodeStepPlan {
  int batch = 0;
  int heads = 0;  // query heads
  int q_len = 1;  // query tokens per request
  int total_splits = 0;
  bool needs_combine = false;
  std::size_t workspace_bytes = 0;
  std::vector<std::int32_t> seqlens;  // per request, including this step's token
};

struct DecodeStepTiming {
  double split_ms = 0;
  double combine_ms = 0;
};
using MlaStepPlan = DecodeStepPlan;
using MlaTiming = DecodeStepTiming;

class MlaStep;
class MlaPrefill;
class RecordedLayer;

// A paged latent cache for every layer, the pool that hands its pages to
// requests, and the decode kernels.
class ZEMLA_API MlaCache {
 public:
  MlaCache(Runtime& runtime, const MlaCacheOptions& options, const std::optional<MlaCapacity>& capacity = {});
  ~MlaCache();
  MlaCache(MlaCache&&) noexcept;
  MlaCache& operator=(MlaCache&&) noexcept;

  int page_size() const;
  DType dtype() const;
  int num_layers() const;
  int num_pages() const;
  int free_pages() const;

  void add_request(std::int64_t id);
  // Returns the request's pages to the pool. Unknown ids throw.
  void release_request(std::int64_t id);
  std::int64_t length(std::int64_t id) const;

  // How the cache stores its values: "bf16" or "f16" (the model's dtype), or
  // "fp8_e4m3" / "fp8_e5m2" with --kv-cache-dtype among the server flags:
  // one byte per value, each cached value the stored one times its layer's
  // scale. append() quantizes rows in the model's dtype (times 1 / scale,
  // round to nearest even, saturated to the format's largest finite value);
  // the decode kernels read FP8 rows directly. "fp8_ds_mla": DeepSeek's
  // 656-byte rows (e4m3 latent values with a scale per 128 of them, which
  // append() computes, then the bf16 rope values); no layer scale.
  std::string kv_cache_dtype() const;
  // An FP8 cache's per-layer scale (sglang's k_scale; 1 until set). Set it
  // before the layer's first append and before record_layer, which keeps
  // the scale it was recorded with (a later change is refused). A 16-bit
  // cache refuses any scale.
  void set_kv_scale(int layer, float scale);
  float kv_scale(int layer) const;

  // Starts a decode step: reserves one new token for each request (its slot
  // is where append() writes), builds the page table and plans the split-KV
  // work once for all layers. A pool too full for the new tokens throws and
  // leaves every request unchanged. One step at a time per cache: once a
  // later begin_step succeeds, every call on an earlier step throws (its
  // slots and tables are the new step's now); likewise begin_prefill for an
  // earlier MlaPrefill.
  //
  // Multi-token decode (speculative verify, DeepSeek MTP): q_len new tokens
  // per request, 1 to 8. append() then takes q_len rows per request
  // (request-major: [batch * q_len, 576]), decode() q_nope [batch, q_len,
  // heads, 512] and q_rope [batch, q_len, heads, 64] and writes out [batch,
  // q_len, heads, 512] and lse [batch, q_len, heads]; query token i sees the
  // request's tokens up to its own. After verification, truncate() keeps the
  // accepted prefix. num_kv_splits: -1 planned, n exactly n where lengths
  // allow.
  MlaStep begin_step(std::span<const std::int64_t> requests, int heads, int num_kv_splits = -1, int q_len = 1);

  // Shortens a request to `new_length` tokens (speculative decoding keeps
  // the accepted draft tokens and gives back the rest), returning pages that
  // hold none of them to the pool. All or nothing: a length outside [0,
  // length] throws and changes nothing. It ends the current step and
  // prefill (their slots and tables no longer describe the cache): calls on
  // them throw afterwards.
  void truncate(std::int64_t request, std::int64_t new_length);

  // Reserves `tokens` more tokens of one request (a prompt, whose latent
  // rows another backend computed) for MlaPrefill::append to fill, layer by
  // layer. Same all-or-nothing rule as begin_step.
  MlaPrefill begin_prefill(std::int64_t request, int tokens);

  // Records layer `layer`'s kv_append and decode launches once, bound to
  // `tensors`, for MlaStep::replay to run every step: on Level Zero a
  // regular command list replayed with one submission, whose launch sizes
  // and tables come from device memory the step wrote once for all layers;
  // on OpenCL the same launches made again from the recorded arguments.
  // Needs a cache made with an MlaCapacity. The tensors and the cache must outlive
  // the recording.
  RecordedLayer record_layer(int layer, const MlaLayerTensors& tensors, float sm_scale);

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

class ZEMLA_API MlaStep {
 public:
  ~MlaStep();
  MlaStep(MlaStep&&) noexcept;
  MlaStep& operator=(MlaStep&&) noexcept;

  const DecodeStepPlan& plan() const;
  // rows: [batch, 576] of the cache dtype (c_kv then k_rope), one new token
  // per request, written into `layer`'s cache at this step's slots.
  void append(int layer, const Tensor& rows);
  // q_nope [batch, heads, 512], q_rope [batch, heads, 64] (cache dtype) ->
  // out [batch, heads, 512] (cache dtype), lse [batch, heads] fp32 (optional).
  // With `timed`, waits and returns device times.
  std::optional<DecodeStepTiming> decode(int layer, const Tensor& q_nope, const Tensor& q_rope, Tensor& out,
                                         Tensor* lse, float sm_scale, bool timed = false);
  // append(layer, rows) then decode(layer, ...) in one launch fewer: the
  // decode reads each request's new token from `rows` and writes it into
  // the cache itself. Same results, bit for bit, as the two calls.
  std::optional<DecodeStepTiming> append_decode(int layer, const Tensor& rows, const Tensor& q_nope,
                                                const Tensor& q_rope, Tensor& out, Tensor* lse, float sm_scale,
                                                bool timed = false);
  // append + decode of a recorded layer (recorded as append_decode) for this step: the same results as
  // append(layer, rows) then decode(layer, ...) on the recorded tensors.
  void replay(RecordedLayer& recorded);

  struct Impl;

 private:
  friend class MlaCache;
  explicit MlaStep(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// A layer's launches recorded once (MlaCache::record_layer,
// GqaCache::record_layer) and replayed by the step of the cache that made it.
class ZEMLA_API RecordedLayer {
 public:
  ~RecordedLayer();
  RecordedLayer(RecordedLayer&&) noexcept;
  RecordedLayer& operator=(RecordedLayer&&) noexcept;

  int layer() const;

  struct Impl;
  Impl& impl() const { return *impl_; }

 private:
  friend class MlaCache;
  friend class GqaCache;
  explicit RecordedLayer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};
using MlaRecordedLayer = RecordedLayer;

class ZEMLA_API MlaPrefill {
 public:
  ~MlaPrefill();
  MlaPrefill(MlaPrefill&&) noexcept;
  MlaPrefill& operator=(MlaPrefill&&) noexcept;

  int tokens() const;
  // rows: [tokens, 576] of the cache dtype, written into `layer`'s cache.
  void append(int layer, const Tensor& rows);

  struct Impl;

 private:
  friend class MlaCache;
  explicit MlaPrefill(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// ---- The op-level MLA decode over the server's own buffers ----
//
// sgl-kernel-xpu's two calls, for a server that keeps its own paged pool,
// page tables and allocator: flash_mla_get_workspace_size, then
// flash_mla_decode on tensors the server owns (every tensor must come from
// `runtime`). Stateless apart from the runtime: each call plans the split-KV
// work from the lengths and writes the plan into the caller's workspace.
//
// Workspace bytes that suffice for any flash_mla_decode of up to
// `num_batches` requests no longer than `max_seq_len` tokens, `num_heads`
// query rows (heads x q_len) and this `num_kv_splits` on this runtime's
// device (the split plan depends on its compute units). page_size is
// sgl-kernel-xpu's argument; the bound does not depend on it.
ZEMLA_API std::size_t flash_mla_get_workspace_size(Runtime& runtime, std::int64_t max_seq_len, int num_batches,
                                                   int num_heads, int page_size, int num_kv_splits = 1,
                                                   int split_tokens = 0);
// The exact bytes for these lengths.
ZEMLA_API std::size_t flash_mla_get_workspace_size(Runtime& runtime, std::span<const std::int32_t> seq_lens,
                                                   int num_heads, int num_kv_splits = 1, int split_tokens = 0);

struct FlashMlaDecodeArgs {
  const Tensor* q_nope = nullptr;      // [batch, q_len, heads, 512] (q_len 1: [batch, heads, 512])
  const Tensor* q_rope = nullptr;      // [batch, q_len, heads, 64]
  const Tensor* kv_cache = nullptr;    // [num_pages, page_size, 576]: bf16/fp16, or FP8 bytes
  const Tensor* seq_lens = nullptr;    // int32 [batch], each request's tokens (its q_len query tokens last)
  const Tensor* page_table = nullptr;  // int32 [batch, page_table_stride], max_pages used of each row
  Tensor* workspace = nullptr;         // flash_mla_get_workspace_size bytes or more
  Tensor* out = nullptr;               // [batch, q_len, heads, 512] in the dtype
  Tensor* lse = nullptr;               // optional fp32 [batch, q_len, heads], natural log
  int batch = 0;
  int heads = 0;  // query heads per token
  int q_len = 1;  // query tokens per request, 1 to 8 (speculative verify)
  int num_pages = 0;
  int page_size = 0;  // 16, 32, 64 or 128
  int max_pages = 0;  // page-table entries each request may use
  float sm_scale = 0;
  // 1: no split (sglang's pin on Intel); -1: zemla plans; n: exactly n per
  // request where its length allows.
  int num_kv_splits = 1;
  // Batch-invariant splits: > 0 (a multiple of 16, with num_kv_splits -1)
  // cuts every request into splits of this many tokens, so its result is
  // bit-identical whatever else is in the batch, while long requests still
  // split; the reason sglang pins num_kv_splits = 1 on Intel goes away.
  int split_tokens = 0;
  DType dtype = DType::bf16;  // q, out and a 16-bit cache
  // or "fp8_e4m3" / "fp8_e5m2" (sglang's spellings), or "fp8_ds_mla" (vLLM's:
  // 656-byte rows, strides in bytes, bf16 only, kv_scale 1)
  std::string kv_cache_dtype = "auto";
  float kv_scale = 1.0f;  // an FP8 cache's scale
  // Strides in elements; 0 = dense. A request's q_len x heads query rows are
  // token-major with the head stride between them.
  std::int64_t q_nope_stride_b = 0, q_nope_stride_h = 0, q_rope_stride_b = 0, q_rope_stride_h = 0;
  std::int64_t kv_stride_page = 0, kv_stride_token = 0, page_table_stride = 0;
  std::int64_t out_stride_b = 0, out_stride_h = 0, lse_stride_b = 0;
  // Optional host copy of seq_lens: the plan is then made from it, with no
  // device read. Without it, flash_mla_decode reads seq_lens back first (a
  // wait for the device).
  std::span<const std::int32_t> host_seq_lens;
};

// Checks every argument (a clear error naming the bad value; a workspace
// too small names the bytes needed), plans, and enqueues the decode.
ZEMLA_API void flash_mla_decode(Runtime& runtime, const FlashMlaDecodeArgs& args);

// kv_append over the server's cache: rows [num_rows, 576] in `dtype` into
// the slots (int32, page * page_size + offset) of a [num_pages, page_size,
// 576] cache; a 16-bit cache copies, an FP8 one quantizes with kv_scale.
struct KvAppendOpArgs {
  Tensor* kv_cache = nullptr;
  const Tensor* rows = nullptr;
  const Tensor* slots = nullptr;
  int num_rows = 0;
  int num_pages = 0;
  int page_size = 0;
  DType dtype = DType::bf16;
  std::string kv_cache_dtype = "auto";
  float kv_scale = 1.0f;
  std::int64_t kv_stride_page = 0, kv_stride_token = 0, rows_stride = 0;  // elements; 0 = dense
};
ZEMLA_API void kv_append(Runtime& runtime, const KvAppendOpArgs& args);

// ---- Non-MLA models: paged GQA / MQA / MHA decode ----
//
//   zemla::GqaCache cache(rt, {{"--model-arch", "mha", "--decode-attention-backend", "intel_xpu",
//                               "--page-size", "128"}, /*layers*/ 32, /*pages*/ 2048,
//                              /*kv_heads*/ 8, /*head_dim*/ 128});
//   cache.add_request(7);
//   auto step = cache.begin_step(ids, /*q_heads*/ 32);
//   for (int layer = 0; layer < 32; ++layer) {
//     step.append(layer, k_rows, v_rows);
//     step.decode(layer, q, out, &lse, {sm_scale});
//   }
//
// The same page pool, step planning and split-KV work as MlaCache, with
// separate K and V pools per layer as sglang's MHA pool stores them.

struct GqaCacheOptions {
  // sglang-style server flags for a non-MLA model (--model-arch mha),
  // validated like `zemla config`: on intel_xpu the page size is 64 or 128,
  // and a smaller one is corrected to 128 (page_size() tells).
  std::vector<std::string> server_flags;
  int num_layers = 1;
  int num_pages = 0;  // per layer, for K and for V
  int kv_heads = 0;
  int head_dim = 0;  // 64, 128 or 256
};

// flash_attn_with_kvcache's options for one layer's decode.
struct GqaAttention {
  float sm_scale = 0;
  float softcap = 0;     // > 0: scores become softcap * tanh(score * sm_scale / softcap)
  int window_left = -1;  // >= 0: a token sees only the window_left keys before it and itself
};

// The largest decode step a GqaCache serves, as MlaCapacity for MlaCache:
// every step buffer allocated when the cache is made, larger steps refused
// before they change anything, and layers recordable (record_layer).
struct GqaCapacity {
  int max_batch = 0;                 // requests per step
  std::int64_t max_context_len = 0;  // tokens per request, this step's included
  int q_heads = 0;                   // every step's query head count
};

// The tensors one recorded GQA layer reads and writes, fixed for the
// recording's life; sized for the cache's capacity, a step uses their
// first `batch` rows.
struct GqaLayerTensors {
  const Tensor* k_rows = nullptr;  // [max_batch, kv_heads, head_dim]: the step's new K rows
  const Tensor* v_rows = nullptr;  // [max_batch, kv_heads, head_dim]: the step's new V rows
  const Tensor* q = nullptr;       // [max_batch, q_heads, head_dim]
  Tensor* out = nullptr;           // [max_batch, q_heads, head_dim]
  Tensor* lse = nullptr;           // fp32 [max_batch, q_heads], optional
};

class GqaStep;
class GqaPrefill;

// Paged K and V caches for every layer, the pool that hands their pages to
// requests (a page holds page_size tokens of every KV head), and the decode
// kernels. Rules as MlaCache: one step at a time, all-or-nothing reservation.
class ZEMLA_API GqaCache {
 public:
  GqaCache(Runtime& runtime, const GqaCacheOptions& options, const std::optional<GqaCapacity>& capacity = {});
  ~GqaCache();
  GqaCache(GqaCache&&) noexcept;
  GqaCache& operator=(GqaCache&&) noexcept;

  int page_size() const;
  DType dtype() const;
  int num_layers() const;
  int num_pages() const;
  int free_pages() const;
  int kv_heads() const;
  int head_dim() const;

  void add_request(std::int64_t id);
  void release_request(std::int64_t id);
  std::int64_t length(std::int64_t id) const;

  // Reserves one new token per request and plans the step for every layer;
  // q_heads is a multiple of kv_heads, at most 8 query heads per KV head.
  GqaStep begin_step(std::span<const std::int64_t> requests, int q_heads, int num_kv_splits = -1);
  // Reserves `tokens` more tokens of one request (a prompt whose K and V
  // another backend computed) for GqaPrefill::append to fill.
  GqaPrefill begin_prefill(std::int64_t request, int tokens);

  // Records layer `layer`'s K and V appends and its decode once, bound to
  // `tensors`, for GqaStep::replay to run every step (as
  // MlaCache::record_layer). Needs a cache made with a GqaCapacity; the
  // tensors and the cache must outlive the recording.
  RecordedLayer record_layer(int layer, const GqaLayerTensors& tensors, const GqaAttention& attention);

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

class ZEMLA_API GqaStep {
 public:
  ~GqaStep();
  GqaStep(GqaStep&&) noexcept;
  GqaStep& operator=(GqaStep&&) noexcept;

  const DecodeStepPlan& plan() const;
  // k_rows, v_rows: [batch, kv_heads, head_dim] of the cache dtype, one new
  // token per request, written into `layer`'s K and V caches.
  void append(int layer, const Tensor& k_rows, const Tensor& v_rows);
  // q [batch, q_heads, head_dim] (cache dtype) -> out [batch, q_heads,
  // head_dim] (cache dtype), lse [batch, q_heads] fp32 (optional). With
  // `timed`, waits and returns device times.
  std::optional<DecodeStepTiming> decode(int layer, const Tensor& q, Tensor& out, Tensor* lse,
                                         const GqaAttention& attention, bool timed = false);
  // The recorded layer's appends and decode for this step: the same results
  // as append then decode on the recorded tensors.
  void replay(RecordedLayer& recorded);

  struct Impl;

 private:
  friend class GqaCache;
  explicit GqaStep(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

class ZEMLA_API GqaPrefill {
 public:
  ~GqaPrefill();
  GqaPrefill(GqaPrefill&&) noexcept;
  GqaPrefill& operator=(GqaPrefill&&) noexcept;

  int tokens() const;
  // k_rows, v_rows: [tokens, kv_heads, head_dim] of the cache dtype.
  void append(int layer, const Tensor& k_rows, const Tensor& v_rows);

  struct Impl;

 private:
  friend class GqaCache;
  explicit GqaPrefill(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace zemla
