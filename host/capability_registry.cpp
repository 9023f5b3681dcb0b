#include "capability_registry.hpp"

namespace zemla {

namespace {
// sglang's intel_xpu backend: flash_mla_decode accepts these page sizes for MLA
// decode and flash_attn_with_kvcache these for the non-MLA path; anything else
// is forced to 128 with a warning.
constexpr int kXpuMlaPageSizes[] = {16, 32, 64, 128};
constexpr int kXpuMhaPageSizes[] = {64, 128};
constexpr DType kBothDtypes[] = {DType::bf16, DType::f16};

constexpr BackendCapabilities kRegistry[] = {
    {.name = "intel_xpu",
     .executed_by_zemla = true,
     .mla_decode = true,
     .mla_prefill = false,  // sglang: "only supported on decode for MLA models"
     .mha_decode = true,
     .mha_prefill = true,
     .chunked_prefill = true,
     // Upstream asserts at run time; zemla's kernels verify a linear chain of
     // up to 8 tokens (ops/mla/mla_decode_checks.hpp's kMaxQLen), causally masked.
     .speculative_mla_decode = true,
     .max_speculative_mla_tokens = 8,
     .speculative_mla_tree_drafts = false,
     .mla_decode_page_sizes = kXpuMlaPageSizes,
     .mha_decode_page_sizes = kXpuMhaPageSizes,
     .fallback_page_size = 128,
     .dtypes = kBothDtypes,
     .fp8_mla_kv_cache = true,      // read natively by zemla's MLA kernels
     .fp8_mha_kv_cache = false,     // zemla's GQA kernels read 16-bit caches only
     .fp8_ds_mla_kv_cache = true},  // zemla's MLA kernels read it too
    {.name = "triton",
     .executed_by_zemla = false,
     .mla_decode = true,
     .mla_prefill = true,
     .mha_decode = true,
     .mha_prefill = true,
     .chunked_prefill = true,
     .speculative_mla_decode = true,
     .max_speculative_mla_tokens = 0,
     .speculative_mla_tree_drafts = true,
     .mla_decode_page_sizes = {},
     .mha_decode_page_sizes = {},
     .fallback_page_size = 1,
     .dtypes = kBothDtypes,
     .fp8_mla_kv_cache = true,
     .fp8_mha_kv_cache = true,
     .fp8_ds_mla_kv_cache = false},  // sglang's Triton kernels have no such layout
};
}  // namespace

std::span<const BackendCapabilities> backend_registry() { return kRegistry; }

const BackendCapabilities* find_backend(std::string_view name) {
  for (const auto& backend : kRegistry) {
    if (backend.name == name) return &backend;
  }
  return nullptr;
}

std::string known_backend_names() {
  std::string names;
  for (const auto& backend : kRegistry) {
    if (!names.empty()) names += ", ";
    names += backend.name;
  }
  return names;
}

}  // namespace zemla
