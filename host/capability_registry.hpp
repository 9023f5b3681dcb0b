#pragma once
// What each attention backend can do: the one table that config validation
// reads (sglang keeps these facts in several scattered lists).

#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "dtype.hpp"

namespace zemla {

struct BackendCapabilities {
  std::string_view name;
  bool executed_by_zemla;  // zemla runs its kernels; else a partner the server runs
  bool mla_decode;
  bool mla_prefill;
  bool mha_decode;
  bool mha_prefill;
  bool chunked_prefill;
  bool speculative_mla_decode;  // multi-token (draft/verify) decode on MLA models
  // Its limits: the most tokens one verify step scores per request, and
  // whether tree drafts (top-k > 1, a custom mask) are served; 0 / false:
  // no limit (a partner backend's own rules).
  int max_speculative_mla_tokens;
  bool speculative_mla_tree_drafts;
  std::span<const int> mla_decode_page_sizes;  // empty: any page size
  std::span<const int> mha_decode_page_sizes;  // empty: any page size
  int fallback_page_size;                      // what an unsupported page size is forced to
  std::span<const DType> dtypes;
  bool fp8_mla_kv_cache;  // --kv-cache-dtype fp8_e4m3 / fp8_e5m2 with MLA decode
  bool fp8_mha_kv_cache;  // likewise with non-MLA decode
  // --kv-cache-dtype fp8_ds_mla (DeepSeek's 656-byte rows, host/fp8.hpp):
  // vLLM's spelling, which sglang does not know; MLA decode with bf16 only.
  bool fp8_ds_mla_kv_cache;
};

std::span<const BackendCapabilities> backend_registry();
const BackendCapabilities* find_backend(std::string_view name);
// "intel_xpu, triton": for error messages.
std::string known_backend_names();

}  // namespace zemla
