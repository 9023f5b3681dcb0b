/* The GQA half of the C API from C: an MQA model (1 KV head, 4 query heads,
 * head_dim 64) serves one growing request for 150 steps, crossing two
 * 64-token pages, with soft-capping and a 100-token sliding window; each
 * step is checked against a plain fp64 attention over the host's copy of
 * K and V (per head max |err| <= 4 * 2^-8 * max |ref|, the harness/compare.hpp bf16
 * row tolerance; LSE within 1e-3). Even steps append and decode; odd steps
 * replay the recorded layer, each reading the rows the other wrote. Then the
 * corrected page size and error paths. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "c_test_util.h"

enum { Q_HEADS = 4, DIM = 64, STEPS = 150, WINDOW = 100 };
static const float kSoftcap = 5.0f;

int main(void) {
  rng_state = 0x9e3779b97f4a7c15ull;
  zemla_runtime* rt = NULL;
  OK(zemla_runtime_create("opencl", 0, &rt));
  const char* flags[] = {"--model-arch", "mha", "--decode-attention-backend", "intel_xpu", "--page-size", "64"};
  zemla_gqa_cache* cache = NULL;
  /* A fixed capacity, so that odd steps can replay the recorded layer. */
  OK(zemla_gqa_cache_create_fixed(rt, flags, 6, 1, 4, 1, DIM, 1, STEPS + 2, Q_HEADS, &cache));
  OK(zemla_gqa_cache_add_request(cache, 9));

  static uint16_t k_hist[STEPS * DIM], v_hist[STEPS * DIM];
  uint16_t q[Q_HEADS * DIM], out[Q_HEADS * DIM];
  float lse[Q_HEADS];
  zemla_tensor *k_t, *v_t, *q_t, *out_t, *lse_t;
  OK(zemla_tensor_create(rt, sizeof(uint16_t) * DIM, &k_t));
  OK(zemla_tensor_create(rt, sizeof(uint16_t) * DIM, &v_t));
  OK(zemla_tensor_create(rt, sizeof q, &q_t));
  OK(zemla_tensor_create(rt, sizeof out, &out_t));
  OK(zemla_tensor_create(rt, sizeof lse, &lse_t));
  const float sm_scale = 0.125f;
  const int64_t id = 9;
  zemla_mla_recorded_layer* recorded = NULL;
  OK(zemla_gqa_layer_record(cache, 0, k_t, v_t, q_t, out_t, lse_t, sm_scale, kSoftcap, WINDOW, &recorded));
  double worst = 0;
  for (int step = 0; step < STEPS; ++step) {
    zemla_gqa_step* st = NULL;
    OK(zemla_gqa_step_begin(cache, &id, 1, Q_HEADS, &st));
    for (int c = 0; c < DIM; ++c) {
      k_hist[step * DIM + c] = to_bf16(4 * uniform()); /* large logits, so the cap matters */
      v_hist[step * DIM + c] = to_bf16(uniform());
    }
    for (int i = 0; i < Q_HEADS * DIM; ++i) q[i] = to_bf16(uniform());
    OK(zemla_tensor_upload(k_t, k_hist + step * DIM, sizeof(uint16_t) * DIM, 0));
    OK(zemla_tensor_upload(v_t, v_hist + step * DIM, sizeof(uint16_t) * DIM, 0));
    OK(zemla_tensor_upload(q_t, q, sizeof q, 0));
    if (step % 2 == 0) {
      OK(zemla_gqa_step_append(st, 0, k_t, v_t));
      OK(zemla_gqa_step_decode(st, 0, q_t, out_t, lse_t, sm_scale, kSoftcap, WINDOW));
    } else {
      OK(zemla_gqa_step_replay(st, recorded));
    }
    OK(zemla_tensor_download(out_t, out, sizeof out, 0));
    OK(zemla_tensor_download(lse_t, lse, sizeof lse, 0));
    zemla_gqa_step_destroy(st);

    const int len = step + 1, first = len - 1 - WINDOW > 0 ? len - 1 - WINDOW : 0;
    for (int h = 0; h < Q_HEADS; ++h) {
      double s[STEPS], m = -INFINITY, l = 0, ref[DIM] = {0}, scale = 0, err = 0;
      for (int t = first; t < len; ++t) {
        double d = 0;
        for (int c = 0; c < DIM; ++c) d += from_bf16(q[h * DIM + c]) * from_bf16(k_hist[t * DIM + c]);
        s[t] = kSoftcap * tanh(d * sm_scale / kSoftcap);
        if (s[t] > m) m = s[t];
      }
      for (int t = first; t < len; ++t) {
        const double p = exp(s[t] - m);
        l += p;
        for (int c = 0; c < DIM; ++c) ref[c] += p * from_bf16(v_hist[t * DIM + c]);
      }
      for (int c = 0; c < DIM; ++c) {
        ref[c] /= l;
        if (fabs(ref[c]) > scale) scale = fabs(ref[c]);
      }
      for (int c = 0; c < DIM; ++c) {
        const double e = fabs(from_bf16(out[h * DIM + c]) - ref[c]);
        if (e > err) err = e;
      }
      if (err / (4 * 0x1p-8 * scale) > worst) worst = err / (4 * 0x1p-8 * scale);
      CHECK(err <= 4 * 0x1p-8 * scale, "step %d head %d: max err %g > %g", step, h, err, 4 * 0x1p-8 * scale);
      CHECK(fabs(lse[h] - (m + log(l))) < 1e-3, "step %d head %d: lse %g vs %g", step, h, lse[h], m + log(l));
    }
  }
  printf("%d steps checked, worst err / tolerance %.3f\n", STEPS, worst);

  /* A prompt written through the C prefill: the first STEPS - 1 rows into a request of a second cache, then a
   * step appending the last row, with the last step's queries: its output is the last step's (checked above
   * against the reference), within that tolerance. */
  {
    zemla_gqa_cache* prompts = NULL;
    OK(zemla_gqa_cache_create(rt, flags, 6, 1, 4, 1, DIM, &prompts));
    OK(zemla_gqa_cache_add_request(prompts, 5));
    zemla_tensor *pk, *pv;
    OK(zemla_tensor_create(rt, sizeof(uint16_t) * DIM * (STEPS - 1), &pk));
    OK(zemla_tensor_create(rt, sizeof(uint16_t) * DIM * (STEPS - 1), &pv));
    OK(zemla_tensor_upload(pk, k_hist, sizeof(uint16_t) * DIM * (STEPS - 1), 0));
    OK(zemla_tensor_upload(pv, v_hist, sizeof(uint16_t) * DIM * (STEPS - 1), 0));
    zemla_gqa_prefill* pf = NULL;
    OK(zemla_gqa_prefill_begin(prompts, 5, STEPS - 1, &pf));
    zemla_status ps = zemla_gqa_prefill_append(pf, 0, pk, v_t); /* one V row where STEPS - 1 are needed */
    CHECK(ps == ZEMLA_STATUS_INVALID_ARGUMENT && strstr(zemla_last_error(), "rows"), "short V rows: %s",
          zemla_last_error());
    OK(zemla_gqa_prefill_append(pf, 0, pk, pv));
    zemla_gqa_prefill_destroy(pf);
    const int64_t five = 5;
    zemla_gqa_step* pst = NULL;
    OK(zemla_gqa_step_begin(prompts, &five, 1, Q_HEADS, &pst));
    OK(zemla_gqa_step_append(pst, 0, k_t, v_t)); /* k_t, v_t still hold the last row */
    OK(zemla_gqa_step_decode(pst, 0, q_t, out_t, lse_t, sm_scale, kSoftcap, WINDOW));
    uint16_t prompt_out[Q_HEADS * DIM];
    OK(zemla_tensor_download(out_t, prompt_out, sizeof prompt_out, 0));
    double scale = 0, diff = 0;
    for (int i = 0; i < Q_HEADS * DIM; ++i) {
      if (fabs(from_bf16(out[i])) > scale) scale = fabs(from_bf16(out[i]));
      const double d = fabs(from_bf16(prompt_out[i]) - from_bf16(out[i]));
      if (d > diff) diff = d;
    }
    CHECK(diff <= 4 * 0x1p-8 * scale, "after the C prefill: max diff %g from the last step's output", diff);
    zemla_gqa_step_destroy(pst);
    zemla_tensor_destroy(pk);
    zemla_tensor_destroy(pv);
    zemla_gqa_cache_destroy(prompts);
  }

  /* Error paths: the status and a message naming the value. */
  zemla_gqa_step* st = NULL;
  zemla_status s = zemla_gqa_step_begin(cache, &id, 1, 9, &st);
  CHECK(s == ZEMLA_STATUS_INVALID_ARGUMENT && st == NULL &&
            strstr(zemla_last_error(), "q_heads / kv_heads = 9 exceeds 8 query heads per KV head"),
        "q_heads 9: %s", zemla_last_error());
  OK(zemla_gqa_step_begin(cache, &id, 1, Q_HEADS, &st));
  s = zemla_gqa_step_decode(st, 2, q_t, out_t, NULL, sm_scale, 0.0f, -1);
  CHECK(s == ZEMLA_STATUS_INVALID_ARGUMENT && strstr(zemla_last_error(), "layer 2 is outside [0, 1)"), "layer 2: %s",
        zemla_last_error());
  s = zemla_gqa_step_append(st, 0, k_t, NULL);
  CHECK(s == ZEMLA_STATUS_INVALID_ARGUMENT && strstr(zemla_last_error(), "v_rows is NULL"), "NULL v_rows: %s",
        zemla_last_error());
  zemla_gqa_step_destroy(st);

  /* The config rules correct page size 32 to 128 for a non-MLA model on intel_xpu. */
  const char* corrected_flags[] = {"--model-arch", "mha",         "--decode-attention-backend",
                                   "intel_xpu",    "--page-size", "32"};
  zemla_gqa_cache* corrected = NULL;
  OK(zemla_gqa_cache_create(rt, corrected_flags, 6, 1, 2, 2, 128, &corrected));
  int page_size = 0;
  OK(zemla_gqa_cache_page_size(corrected, &page_size));
  CHECK(page_size == 128, "corrected page size: %d", page_size);
  zemla_gqa_cache_destroy(corrected);
  zemla_gqa_cache* bad = NULL;
  s = zemla_gqa_cache_create(rt, flags, 6, 1, 2, 2, 80, &bad);
  CHECK(s == ZEMLA_STATUS_INVALID_ARGUMENT && bad == NULL && strstr(zemla_last_error(), "head_dim 80"),
        "head_dim 80: %s", zemla_last_error());

  OK(zemla_gqa_cache_release_request(cache, 9));
  int free_pages = 0;
  OK(zemla_gqa_cache_free_pages(cache, &free_pages));
  CHECK(free_pages == 4, "free pages after release: %d", free_pages);
  zemla_mla_recorded_layer_destroy(recorded);
  zemla_tensor_destroy(k_t);
  zemla_tensor_destroy(v_t);
  zemla_tensor_destroy(q_t);
  zemla_tensor_destroy(out_t);
  zemla_tensor_destroy(lse_t);
  zemla_gqa_cache_destroy(cache);
  zemla_runtime_destroy(rt);
  if (failures == 0) printf("PASS\n");
  return failures == 0 ? 0 : 1;
}
