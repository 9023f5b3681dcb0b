/* The C API from C: a 40-step decode of one growing request (crossing two
 * page boundaries) with 2 heads, each step checked against a plain fp64
 * attention over the host's copy of the cache (per head max |err| <=
 * 4 * 2^-8 * max |ref|, the harness/compare.hpp bf16 row tolerance). Steps
 * rotate through append then decode, the fused append_decode, and a replay
 * of the recorded layer; each reads the rows the others wrote. Then error paths:
 * status codes, their names, and messages that name the bad value. */
#define CL_TARGET_OPENCL_VERSION 300
#include <CL/cl.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "c_test_util.h"

enum { HEADS = 2, ROW = 576, LATENT = 512, ROPE = 64, STEPS = 40 };

/* What the log callback heard: messages about the mla_decode program, and
 * any above the level it was set at. */
struct heard {
  int mla_decode;
  int above_info;
};
static void on_log(zemla_log_level level, const char* message, void* user) {
  struct heard* h = (struct heard*)user;
  if (strstr(message, "mla_decode") != NULL) ++h->mla_decode;
  if (level > ZEMLA_LOG_INFO) ++h->above_info;
}

/* Checks one decode of `len` cached rows against a plain fp64 attention over the host's copy; returns the worst
 * error over its tolerance (per head max |err| <= 4 * 2^-8 * max |ref|). */
static double check_step(const uint16_t* history, int len, const uint16_t* qn, const uint16_t* qr, const uint16_t* out,
                         const float* lse, float sm_scale, const char* what) {
  double worst = 0;
  for (int h = 0; h < HEADS; ++h) {
    double s[STEPS + 1], m = -INFINITY, l = 0, ref[LATENT] = {0}, scale = 0, err = 0;
    for (int t = 0; t < len; ++t) {
      double d = 0;
      for (int c = 0; c < LATENT; ++c) d += from_bf16(qn[h * LATENT + c]) * from_bf16(history[t * ROW + c]);
      for (int c = 0; c < ROPE; ++c) d += from_bf16(qr[h * ROPE + c]) * from_bf16(history[t * ROW + LATENT + c]);
      s[t] = d * sm_scale;
      if (s[t] > m) m = s[t];
    }
    for (int t = 0; t < len; ++t) {
      const double p = exp(s[t] - m);
      l += p;
      for (int c = 0; c < LATENT; ++c) ref[c] += p * from_bf16(history[t * ROW + c]);
    }
    for (int c = 0; c < LATENT; ++c) {
      ref[c] /= l;
      if (fabs(ref[c]) > scale) scale = fabs(ref[c]);
    }
    for (int c = 0; c < LATENT; ++c) {
      const double e = fabs(from_bf16(out[h * LATENT + c]) - ref[c]);
      if (e > err) err = e;
    }
    if (err / (4 * 0x1p-8 * scale) > worst) worst = err / (4 * 0x1p-8 * scale);
    CHECK(err <= 4 * 0x1p-8 * scale, "%s (length %d) head %d: max err %g > %g", what, len, h, err, 4 * 0x1p-8 * scale);
    CHECK(fabs(lse[h] - (m + log(l))) < 1e-3, "%s (length %d) head %d: lse %g vs %g", what, len, h, lse[h], m + log(l));
  }
  return worst;
}

int main(void) {
  if (strcmp(zemla_version(), ZEMLA_EXPECTED_VERSION) != 0) {
    printf("FAIL: zemla_version() is '%s', the build's is '%s'\n", zemla_version(), ZEMLA_EXPECTED_VERSION);
    return 1;
  }
  struct heard heard = {0, 0};
  OK(zemla_set_log_callback(on_log, &heard, ZEMLA_LOG_INFO));
  const char* kernels_id = zemla_kernels_build_id();
  CHECK(strlen(kernels_id) == 16 && strspn(kernels_id, "0123456789abcdef") == 16, "kernels build id '%s'", kernels_id);
  zemla_runtime* rt = NULL;
  OK(zemla_runtime_create("opencl", 0, &rt));
  char name[128];
  OK(zemla_runtime_device_name(rt, name, sizeof name));
  printf("device: %s\n", name);

  const char* flags[] = {
      "--decode-attention-backend", "intel_xpu", "--prefill-attention-backend", "triton", "--page-size", "16"};
  zemla_mla_cache* cache = NULL;
  /* A fixed capacity, so that odd steps can replay the recorded layer. */
  OK(zemla_mla_cache_create_fixed(rt, flags, 6, 1, 8, 1, STEPS + 1, HEADS, &cache));
  OK(zemla_mla_cache_add_request(cache, 42));

  static uint16_t history[STEPS * ROW];
  uint16_t qn[HEADS * LATENT], qr[HEADS * ROPE], out[HEADS * LATENT];
  float lse[HEADS];
  zemla_tensor *rows_t, *qn_t, *qr_t, *out_t, *lse_t;
  OK(zemla_tensor_create(rt, sizeof(uint16_t) * ROW, &rows_t));
  OK(zemla_tensor_create(rt, sizeof qn, &qn_t));
  OK(zemla_tensor_create(rt, sizeof qr, &qr_t));
  OK(zemla_tensor_create(rt, sizeof out, &out_t));
  OK(zemla_tensor_create(rt, sizeof lse, &lse_t));
  const float sm_scale = 0.0721687836f;
  const int64_t id = 42;
  zemla_mla_recorded_layer* recorded = NULL;
  OK(zemla_mla_layer_record(cache, 0, rows_t, qn_t, qr_t, out_t, lse_t, sm_scale, &recorded));
  double worst = 0;
  for (int step = 0; step < STEPS; ++step) {
    zemla_mla_step* st = NULL;
    OK(zemla_mla_step_begin(cache, &id, 1, HEADS, &st));
    for (int c = 0; c < ROW; ++c) history[step * ROW + c] = to_bf16(uniform());
    OK(zemla_tensor_upload(rows_t, history + step * ROW, sizeof(uint16_t) * ROW, 0));
    for (int i = 0; i < HEADS * LATENT; ++i) qn[i] = to_bf16(uniform());
    for (int i = 0; i < HEADS * ROPE; ++i) qr[i] = to_bf16(uniform());
    OK(zemla_tensor_upload(qn_t, qn, sizeof qn, 0));
    OK(zemla_tensor_upload(qr_t, qr, sizeof qr, 0));
    if (step % 3 == 0) {
      OK(zemla_mla_step_append(st, 0, rows_t));
      OK(zemla_mla_step_decode(st, 0, qn_t, qr_t, out_t, lse_t, sm_scale));
    } else if (step % 3 == 1) {
      OK(zemla_mla_step_append_decode(st, 0, rows_t, qn_t, qr_t, out_t, lse_t, sm_scale));
    } else {
      OK(zemla_mla_step_replay(st, recorded));
    }
    OK(zemla_tensor_download(out_t, out, sizeof out, 0));
    OK(zemla_tensor_download(lse_t, lse, sizeof lse, 0));
    zemla_mla_step_destroy(st);

    const double ratio = check_step(history, step + 1, qn, qr, out, lse, sm_scale, "step");
    if (ratio > worst) worst = ratio;
  }
  printf("40 steps checked, worst err / tolerance %.3f\n", worst);
  /* The callback heard which mla_decode program the runtime built, and nothing above its level. */
  CHECK(heard.mla_decode >= 1, "the log callback heard no mla_decode message");
  CHECK(heard.above_info == 0, "the log callback got %d messages above INFO", heard.above_info);
  zemla_status bad_level = zemla_set_log_callback(on_log, &heard, (zemla_log_level)9);
  CHECK(bad_level == ZEMLA_STATUS_INVALID_ARGUMENT && strstr(zemla_last_error(), "level=9"), "log level 9: %s",
        zemla_last_error());
  OK(zemla_set_log_callback(NULL, NULL, ZEMLA_LOG_WARN)); /* back to stderr */

  /* A prompt written through the C prefill (another backend computed it): the first 20 rows of the history
   * into a request of a second cache, then one decode step appending row 20, checked as the steps were. */
  {
    zemla_mla_cache* prompts = NULL;
    OK(zemla_mla_cache_create(rt, flags, 6, 1, 8, &prompts));
    OK(zemla_mla_cache_add_request(prompts, 7));
    zemla_tensor* prompt_t = NULL;
    OK(zemla_tensor_create(rt, sizeof(uint16_t) * ROW * 20, &prompt_t));
    OK(zemla_tensor_upload(prompt_t, history, sizeof(uint16_t) * ROW * 20, 0));
    zemla_mla_prefill* pf = NULL;
    OK(zemla_mla_prefill_begin(prompts, 7, 20, &pf));
    zemla_status s = zemla_mla_prefill_append(pf, 0, rows_t); /* one row where 20 are needed */
    CHECK(s == ZEMLA_STATUS_INVALID_ARGUMENT && strstr(zemla_last_error(), "rows"), "short prompt rows: %s",
          zemla_last_error());
    OK(zemla_mla_prefill_append(pf, 0, prompt_t));
    zemla_mla_prefill_destroy(pf);
    int64_t prompt_len = 0;
    OK(zemla_mla_cache_length(prompts, 7, &prompt_len));
    CHECK(prompt_len == 20, "length after a 20-token prefill: %lld", (long long)prompt_len);
    const int64_t seven = 7;
    zemla_mla_step* st = NULL;
    OK(zemla_mla_step_begin(prompts, &seven, 1, HEADS, &st));
    OK(zemla_tensor_upload(rows_t, history + 20 * ROW, sizeof(uint16_t) * ROW, 0));
    OK(zemla_mla_step_append_decode(st, 0, rows_t, qn_t, qr_t, out_t, lse_t, sm_scale));
    uint16_t prompt_out[HEADS * LATENT]; /* out and lse keep the last step's, for the op-level check below */
    float prompt_lse[HEADS];
    OK(zemla_tensor_download(out_t, prompt_out, sizeof prompt_out, 0));
    OK(zemla_tensor_download(lse_t, prompt_lse, sizeof prompt_lse, 0));
    check_step(history, 21, qn, qr, prompt_out, prompt_lse, sm_scale, "after the C prefill");
    zemla_mla_step_destroy(st);
    CHECK(zemla_mla_prefill_begin(NULL, 7, 1, &pf) == ZEMLA_STATUS_INVALID_ARGUMENT && pf == NULL,
          "a NULL cache is refused");
    zemla_tensor_destroy(prompt_t);
    zemla_mla_cache_destroy(prompts);
  }

  /* The op-level call on tensors the test owns, as a server with its own pool: the same 40 rows in a cache
   * whose page table lists its pages in reverse, the last step's queries. The output is the last step's,
   * within the reference tolerance of its largest value. */
  {
    enum { PAGES = (STEPS + 15) / 16 };
    static uint16_t kv_rows[PAGES * 16 * ROW];
    int32_t table[PAGES], lens[1] = {STEPS};
    for (int p = 0; p < PAGES; ++p) table[p] = PAGES - 1 - p;
    for (int t = 0; t < STEPS; ++t) memcpy(kv_rows + (table[t / 16] * 16 + t % 16) * ROW, history + t * ROW, 2 * ROW);
    zemla_tensor *kv_own, *lens_t, *table_t, *ws_t, *out_own;
    size_t ws_bytes = 0;
    OK(zemla_flash_mla_get_workspace_size(rt, STEPS, 1, HEADS, 16, -1, &ws_bytes));
    OK(zemla_tensor_create(rt, sizeof kv_rows, &kv_own));
    OK(zemla_tensor_upload(kv_own, kv_rows, sizeof kv_rows, 0));
    OK(zemla_tensor_create(rt, sizeof lens, &lens_t));
    OK(zemla_tensor_upload(lens_t, lens, sizeof lens, 0));
    OK(zemla_tensor_create(rt, sizeof table, &table_t));
    OK(zemla_tensor_upload(table_t, table, sizeof table, 0));
    OK(zemla_tensor_create(rt, ws_bytes, &ws_t));
    OK(zemla_tensor_create(rt, sizeof out, &out_own));
    zemla_flash_mla_decode_args a;
    memset(&a, 0, sizeof a);
    a.q_nope = qn_t;
    a.q_rope = qr_t;
    a.kv_cache = kv_own;
    a.seq_lens = lens_t;
    a.page_table = table_t;
    a.workspace = ws_t;
    a.out = out_own;
    a.batch = 1;
    a.heads = HEADS;
    a.q_len = 1;
    a.num_pages = PAGES;
    a.page_size = 16;
    a.max_pages = PAGES;
    a.sm_scale = sm_scale;
    a.num_kv_splits = -1;
    a.kv_scale = 1.0f;
    OK(zemla_flash_mla_decode(rt, &a));
    uint16_t own[HEADS * LATENT];
    OK(zemla_tensor_download(out_own, own, sizeof own, 0));
    double err = 0, scale = 0;
    for (int i = 0; i < HEADS * LATENT; ++i) {
      const double e = fabs(from_bf16(own[i]) - from_bf16(out[i]));
      if (e > err) err = e;
      if (fabs(from_bf16(out[i])) > scale) scale = fabs(from_bf16(out[i]));
    }
    CHECK(err <= 4 * 0x1p-8 * scale, "flash_mla_decode on owned tensors: max diff %g from the step's output", err);
    /* Batch-invariant splits of 16 tokens (3 for the 40 rows), in the workspace their own bound sizes. */
    size_t split_ws_bytes = 0;
    OK(zemla_flash_mla_get_workspace_size_split(rt, STEPS, 1, HEADS, 16, -1, 16, &split_ws_bytes));
    zemla_tensor* split_ws;
    OK(zemla_tensor_create(rt, split_ws_bytes, &split_ws));
    a.workspace = split_ws;
    a.split_tokens = 16;
    OK(zemla_flash_mla_decode(rt, &a));
    OK(zemla_tensor_download(out_own, own, sizeof own, 0));
    err = 0;
    for (int i = 0; i < HEADS * LATENT; ++i) {
      const double e = fabs(from_bf16(own[i]) - from_bf16(out[i]));
      if (e > err) err = e;
    }
    CHECK(err <= 4 * 0x1p-8 * scale, "batch-invariant splits: max diff %g from the step's output", err);
    a.split_tokens = 0;
    a.workspace = ws_t;
    zemla_tensor_destroy(split_ws);
    a.dtype = (zemla_dtype)7;
    zemla_status bad_dtype = zemla_flash_mla_decode(rt, &a);
    CHECK(bad_dtype == ZEMLA_STATUS_INVALID_ARGUMENT && strstr(zemla_last_error(), "dtype 7"), "dtype 7: %s",
          zemla_last_error());
    a.dtype = ZEMLA_DTYPE_BF16;
    zemla_tensor* small_ws;
    OK(zemla_tensor_create(rt, 64, &small_ws));
    a.workspace = small_ws;
    zemla_status s = zemla_flash_mla_decode(rt, &a);
    CHECK(s == ZEMLA_STATUS_INVALID_ARGUMENT && strstr(zemla_last_error(), "the plan needs"), "small workspace: %s",
          zemla_last_error());
    zemla_tensor_destroy(small_ws);
    zemla_tensor_destroy(kv_own);
    zemla_tensor_destroy(lens_t);
    zemla_tensor_destroy(table_t);
    zemla_tensor_destroy(ws_t);
    zemla_tensor_destroy(out_own);
  }

  /* Error paths: the status, its name, and a message naming the value. */
  zemla_mla_step* st = NULL;
  OK(zemla_mla_step_begin(cache, &id, 1, HEADS, &st));
  zemla_status s = zemla_mla_step_decode(st, 5, qn_t, qr_t, out_t, NULL, sm_scale);
  CHECK(s == ZEMLA_STATUS_INVALID_ARGUMENT, "layer 5 gave %s", zemla_status_string(s));
  CHECK(strstr(zemla_last_error(), "layer 5 is outside [0, 1)") != NULL, "message: %s", zemla_last_error());
  s = zemla_mla_step_decode(st, 0, qn_t, NULL, out_t, NULL, sm_scale);
  CHECK(s == ZEMLA_STATUS_INVALID_ARGUMENT && strstr(zemla_last_error(), "q_rope is NULL"), "NULL q_rope: %s",
        zemla_last_error());
  s = zemla_mla_step_decode(st, 0, qn_t, qr_t, out_t, NULL, -1.0f);
  CHECK(s == ZEMLA_STATUS_INVALID_ARGUMENT && strstr(zemla_last_error(), "sm_scale"), "sm_scale: %s",
        zemla_last_error());
  s = zemla_mla_step_append_decode(st, 0, lse_t, qn_t, qr_t, out_t, NULL, sm_scale);
  CHECK(s == ZEMLA_STATUS_INVALID_ARGUMENT && strstr(zemla_last_error(), "new_rows holds 8 bytes"), "small rows: %s",
        zemla_last_error());
  zemla_mla_step_destroy(st);
  const int64_t two[] = {42, 43};
  OK(zemla_mla_cache_add_request(cache, 43));
  s = zemla_mla_step_begin(cache, two, 2, HEADS, &st);
  CHECK(s == ZEMLA_STATUS_INVALID_ARGUMENT && st == NULL && strstr(zemla_last_error(), "capacity.max_batch is 1"),
        "step beyond the capacity: %s", zemla_last_error());
  OK(zemla_mla_cache_release_request(cache, 43));
  s = zemla_mla_cache_release_request(cache, 7);
  CHECK(s == ZEMLA_STATUS_INVALID_ARGUMENT && strstr(zemla_last_error(), "7"), "unknown id: %s", zemla_last_error());
  /* MLA prefill on intel_xpu: sglang's rule refuses it. */
  const char* bad_flags[] = {"--attention-backend", "intel_xpu", "--model-arch", "mla"};
  zemla_mla_cache* bad = NULL;
  s = zemla_mla_cache_create(rt, bad_flags, 4, 1, 8, &bad);
  CHECK(s == ZEMLA_STATUS_INVALID_ARGUMENT && bad == NULL, "MLA prefill on intel_xpu gave %s", zemla_status_string(s));

  /* The cache's facts, and an FP8 cache's per-layer scale. */
  int page_size = 0;
  int64_t length = 0;
  const char* kv_dtype = NULL;
  OK(zemla_mla_cache_page_size(cache, &page_size));
  CHECK(page_size == 16, "page size %d", page_size);
  OK(zemla_mla_cache_length(cache, 42, &length));
  CHECK(length == STEPS + 1, "length %lld after %d steps", (long long)length, STEPS + 1); /* the error-path step too */
  OK(zemla_mla_cache_kv_cache_dtype(cache, &kv_dtype));
  CHECK(strcmp(kv_dtype, "bf16") == 0, "kv cache dtype %s", kv_dtype);
  s = zemla_mla_cache_set_kv_scale(cache, 0, 2.0f);
  CHECK(s == ZEMLA_STATUS_INVALID_ARGUMENT && strstr(zemla_last_error(), "take no scale"), "scale on bf16: %s",
        zemla_last_error());
  const char* fp8_flags[] = {"--page-size", "64", "--kv-cache-dtype", "fp8_e4m3"};
  zemla_mla_cache* fp8 = NULL;
  OK(zemla_mla_cache_create(rt, fp8_flags, 4, 2, 4, &fp8));
  OK(zemla_mla_cache_kv_cache_dtype(fp8, &kv_dtype));
  CHECK(strcmp(kv_dtype, "fp8_e4m3") == 0, "kv cache dtype %s", kv_dtype);
  OK(zemla_mla_cache_set_kv_scale(fp8, 1, 0.5f));
  s = zemla_mla_cache_set_kv_scale(fp8, 0, -1.0f);
  CHECK(s == ZEMLA_STATUS_INVALID_ARGUMENT && strstr(zemla_last_error(), "scale -1"), "negative scale: %s",
        zemla_last_error());
  s = zemla_mla_cache_set_kv_scale(fp8, 2, 1.0f);
  CHECK(s == ZEMLA_STATUS_INVALID_ARGUMENT && strstr(zemla_last_error(), "layer 2"), "layer 2: %s", zemla_last_error());
  s = zemla_mla_cache_length(fp8, 99, &length);
  CHECK(s == ZEMLA_STATUS_INVALID_ARGUMENT, "length of an unknown request gave %s", zemla_status_string(s));
  zemla_mla_cache_destroy(fp8);

  /* Multi-token decode: a 2-token step, then the second token given back. */
  zemla_mla_cache* spec = NULL;
  const char* spec_flags[] = {"--page-size", "16"};
  OK(zemla_mla_cache_create(rt, spec_flags, 2, 1, 4, &spec));
  OK(zemla_mla_cache_add_request(spec, 5));
  const int64_t five = 5;
  const zemla_mla_step_options two_tokens = {HEADS, -1, 2};
  zemla_mla_step* mst = NULL;
  OK(zemla_mla_step_begin_with(spec, &five, 1, &two_tokens, &mst));
  zemla_tensor *rows2, *qn2, *qr2, *out2;
  OK(zemla_tensor_create(rt, sizeof(uint16_t) * 2 * ROW, &rows2));
  OK(zemla_tensor_create(rt, sizeof qn * 2, &qn2));
  OK(zemla_tensor_create(rt, sizeof qr * 2, &qr2));
  OK(zemla_tensor_create(rt, sizeof out * 2, &out2));
  OK(zemla_mla_step_append_decode(mst, 0, rows2, qn2, qr2, out2, NULL, sm_scale));
  OK(zemla_mla_cache_length(spec, 5, &length));
  CHECK(length == 2, "length after a 2-token step: %lld", (long long)length);
  OK(zemla_mla_cache_truncate(spec, 5, 1));
  OK(zemla_mla_cache_length(spec, 5, &length));
  CHECK(length == 1, "length after truncate: %lld", (long long)length);
  s = zemla_mla_step_decode(mst, 0, qn2, qr2, out2, NULL, sm_scale);
  CHECK(s == ZEMLA_STATUS_INVALID_ARGUMENT && strstr(zemla_last_error(), "stale"), "step after truncate: %s",
        zemla_last_error());
  s = zemla_mla_cache_truncate(spec, 5, 3);
  CHECK(s == ZEMLA_STATUS_INVALID_ARGUMENT && strstr(zemla_last_error(), "outside [0, 1]"), "truncate past: %s",
        zemla_last_error());
  zemla_mla_step_destroy(mst);
  const zemla_mla_step_options nine_tokens = {HEADS, -1, 9};
  zemla_mla_step* refused = NULL;
  s = zemla_mla_step_begin_with(spec, &five, 1, &nine_tokens, &refused);
  CHECK(s == ZEMLA_STATUS_INVALID_ARGUMENT && refused == NULL, "q_len 9: %s", zemla_last_error());
  zemla_tensor_destroy(rows2);
  zemla_tensor_destroy(qn2);
  zemla_tensor_destroy(qr2);
  zemla_tensor_destroy(out2);
  zemla_mla_cache_destroy(spec);
  CHECK(strcmp(zemla_status_string(ZEMLA_STATUS_DEVICE_ERROR), "ZEMLA_STATUS_DEVICE_ERROR") == 0, "status name");

  OK(zemla_mla_cache_release_request(cache, 42));
  int free_pages = 0;
  OK(zemla_mla_cache_free_pages(cache, &free_pages));
  CHECK(free_pages == 8, "free pages after release: %d", free_pages);
  zemla_mla_recorded_layer_destroy(recorded);
  zemla_tensor_destroy(rows_t);
  zemla_tensor_destroy(qn_t);
  zemla_tensor_destroy(qr_t);
  zemla_tensor_destroy(out_t);
  zemla_tensor_destroy(lse_t);
  zemla_mla_cache_destroy(cache);
  zemla_runtime_destroy(rt);

  /* A runtime on the caller's OpenCL objects: a tensor wrapping the caller's cl_mem is written through zemla and
   * read by the caller on its own queue; both outlive the runtime. */
  {
    cl_platform_id platform;
    cl_device_id device;
    cl_int err = clGetPlatformIDs(1, &platform, NULL);
    err |= clGetDeviceIDs(platform, CL_DEVICE_TYPE_ALL, 1, &device, NULL);
    cl_context context = clCreateContext(NULL, 1, &device, NULL, NULL, &err);
    cl_command_queue queue = clCreateCommandQueueWithProperties(context, device, NULL, &err);
    cl_mem mem = clCreateBuffer(context, CL_MEM_READ_WRITE, 64, NULL, &err);
    CHECK(err == CL_SUCCESS, "the test's own OpenCL objects: %d", err);
    zemla_runtime* shared = NULL;
    OK(zemla_runtime_create_opencl(context, device, queue, &shared));
    zemla_tensor* wrapped = NULL;
    zemla_status s = zemla_tensor_wrap(shared, mem, 65, &wrapped);
    CHECK(s == ZEMLA_STATUS_INVALID_ARGUMENT && wrapped == NULL && strstr(zemla_last_error(), "holds 64 bytes"),
          "wrapping 65 of 64 bytes: %s", zemla_last_error());
    OK(zemla_tensor_wrap(shared, mem, 64, &wrapped));
    const char text[64] = "written through zemla";
    OK(zemla_tensor_upload(wrapped, text, sizeof text, 0));
    zemla_tensor_destroy(wrapped);
    zemla_runtime_destroy(shared);
    char back[64] = {0};
    err = clEnqueueReadBuffer(queue, mem, CL_TRUE, 0, sizeof back, back, 0, NULL, NULL);
    CHECK(err == CL_SUCCESS && strcmp(back, text) == 0, "the caller's buffer after the runtime: %d '%s'", err, back);
    clReleaseMemObject(mem);
    clReleaseCommandQueue(queue);
    clReleaseContext(context);
  }
  if (failures == 0) printf("PASS\n");
  return failures == 0 ? 0 : 1;
}
