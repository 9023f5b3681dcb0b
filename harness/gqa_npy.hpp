#pragma once
// A non-MLA decode step (GQA / MQA / MHA) as a directory of .npy files, the
// layout `zemla run gqa-decode --load/--save` reads and writes, as
// flash_attn_with_kvcache takes its paged caches:
//   q.npy [B,Hq,D]  k_cache.npy, v_cache.npy [pages,page_size,Hkv,D]
//   page_table.npy [B,max_pages] int  cache_seqlens.npy [B] int
//   optional: sm_scale.npy () (default 1/sqrt(D)), softcap.npy () (0: off),
//   window_left.npy () int (-1: no window)
//   out.npy [B,Hq,D] float32 and lse.npy [B,Hq] float32: outputs, and when
//   present in a loaded directory, the expected result to check against.
// Tensors as harness/npy_dir.hpp reads them; every error names the file.

#include <filesystem>
#include <optional>

#include "mla_problem.hpp"
#include "reference.hpp"

namespace zemla {

// `dtype`: the run dtype; without one it follows k_cache.npy (float16 ->
// fp16, anything else -> bf16).
reference::GqaProblem load_gqa_problem(const std::filesystem::path& dir, std::optional<DType> dtype);

// out.npy (and lse.npy if present) from `dir`, checked against the
// problem's shape; nullopt when the directory has no out.npy.
std::optional<DecodeResult> load_gqa_expected(const std::filesystem::path& dir, const reference::GqaProblem& problem,
                                              bool& has_lse);

// As prepare_save_dir (mla_npy.hpp), for the GQA files.
void prepare_gqa_save_dir(const std::filesystem::path& dir);

// Inputs in the run dtype's own bits, the attention parameters, and the result.
void save_gqa_problem(const std::filesystem::path& dir, const reference::GqaProblem& problem);
void save_gqa_result(const std::filesystem::path& dir, const reference::GqaProblem& problem,
                     const DecodeResult& result);

}  // namespace zemla
