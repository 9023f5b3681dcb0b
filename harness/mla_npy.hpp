#pragma once
// An MLA decode step as a directory of .npy files, the layout `zemla run
// mla-decode --load/--save` reads and writes:
//   q_nope.npy [B,H,512]  q_rope.npy [B,H,64]  kv_cache.npy [pages,page_size,576]
//   page_table.npy [B,max_pages] int  cache_seqlens.npy [B] int
//   sm_scale.npy () float32, optional (default 1/sqrt(192))
//   an FP8 cache: kv_cache.npy [pages,page_size,576] uint8 codes and
//   kv_scale.npy () float32, optional (default 1)
//   out.npy [B,H,512] float32 and lse.npy [B,H] float32: outputs, and when
//   present in a loaded directory, the expected result to check against.
// Tensors are float32 (each value exactly representable in the run dtype),
// float16, or uint16 holding bf16 bits. Every error names the file.

#include <filesystem>
#include <optional>

#include "mla_problem.hpp"

namespace zemla {

// `dtype`: the run dtype; without one it follows kv_cache.npy (float16 ->
// fp16, anything else -> bf16). `kv_format` FP8: kv_cache.npy holds the
// format's codes as uint8 (NumPy has no FP8 dtype, so the caller names the
// format) and the optional kv_scale.npy () the cache's scale (default 1);
// every value is the code's value times the scale, and a NaN or infinity
// code is refused like any non-finite input.
MlaProblem load_mla_problem(const std::filesystem::path& dir, std::optional<DType> dtype,
                            KvFormat kv_format = KvFormat::same);

// out.npy (and lse.npy if present) from `dir`, checked against the problem's
// shape; nullopt when the directory has no out.npy.
std::optional<DecodeResult> load_mla_expected(const std::filesystem::path& dir, const MlaProblem& problem,
                                              bool& has_lse);

// Makes `dir` ready for save_mla_problem/save_mla_result before any work:
// creates it if needed, and refuses (naming the path) a path that cannot be
// a directory, or a directory that already holds a file of the names they
// write. zemla never overwrites a file, so --save into the --load directory
// (or a second --save into one) is refused, not silently rewritten.
void prepare_save_dir(const std::filesystem::path& dir);

// Inputs in the run dtype's own bits (uint16 bf16 or float16) so a reload is
// exact; creates `dir` if needed.
void save_mla_problem(const std::filesystem::path& dir, const MlaProblem& problem);
void save_mla_result(const std::filesystem::path& dir, const MlaProblem& problem, const DecodeResult& result);

}  // namespace zemla
