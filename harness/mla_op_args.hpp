#pragma once
// flash_mla_decode's arguments for a harness MlaProblem: its shape, scale
// and cache format; the tensors are the caller's to set, who holds them.
// Header only: the harness library does not link the public API, the
// programs that use this do.

#include <string>

#include "harness/mla_problem.hpp"
#include "zemla/zemla.hpp"

namespace zemla {

inline FlashMlaDecodeArgs flash_mla_args(const MlaProblem& p, int num_kv_splits) {
  FlashMlaDecodeArgs a;
  a.batch = p.batch;
  a.heads = p.heads;
  a.q_len = p.q_len;
  a.num_pages = p.num_pages;
  a.page_size = p.page_size;
  a.max_pages = p.max_pages;
  a.sm_scale = p.sm_scale;
  a.num_kv_splits = num_kv_splits;
  a.dtype = p.dtype;
  a.kv_cache_dtype = is_fp8(p.kv_format) ? std::string(kv_format_name(p.kv_format)) : "auto";
  a.kv_scale = p.kv_scale;
  return a;
}

}  // namespace zemla
