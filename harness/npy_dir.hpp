#pragma once
// A decode step as a directory of .npy files: what every op's --load/--save
// layout shares (harness/mla_npy.hpp, harness/gqa_npy.hpp). Reading names
// the file and the element in every error (ZEMLA_ERROR_INVALID_ARGUMENT);
// float tensors may be float32/float64 (each value exactly representable in
// the run dtype), float16, or uint16 holding bf16 bits, and must be finite.

#include <cstdint>
#include <filesystem>
#include <initializer_list>
#include <string>
#include <vector>

#include "host/dtype.hpp"
#include "npy.hpp"

namespace zemla {

class NpyDir {
 public:
  // `call` names the loader in errors ("load_mla_problem").
  NpyDir(std::filesystem::path dir, const char* call);

  const std::filesystem::path& path() const { return dir_; }
  bool has(const std::string& file) const;
  // The file's array; refused when it is missing or malformed.
  npy::Array read(const std::string& file) const;

  [[noreturn]] void fail(const std::string& file, const std::string& what) const;
  // Refused unless `a` has shape `want`, which the message spells as `spelled`.
  void expect_shape(const npy::Array& a, const std::string& file, const std::vector<std::int64_t>& want,
                    const std::string& spelled) const;

  // A float tensor in `dtype`'s bits (see above).
  std::vector<std::uint16_t> to_dtype(const npy::Array& a, const std::string& file, DType dtype) const;
  // int32 or int64 values that fit int32.
  std::vector<std::int32_t> to_int32(const npy::Array& a, const std::string& file) const;
  std::vector<float> to_float32(const npy::Array& a, const std::string& file) const;
  // A 0-d float32 or float64 (np.save of a Python float) value.
  double scalar(const npy::Array& a, const std::string& file) const;
  // The 0-d `file`'s value, refused unless positive and finite; `fallback`
  // when the directory has no such file (sm_scale.npy, kv_scale.npy).
  float positive_scalar(const std::string& file, float fallback) const;
  // The shapes of page_table.npy [batch, max_pages >= 1] and
  // cache_seqlens.npy [batch], `batch` read from `batch_file`; returns
  // max_pages.
  int paging_shapes(const npy::Array& table, const npy::Array& lens, std::int64_t batch,
                    const std::string& batch_file) const;
  // Cross-file consistency of cache_seqlens.npy and page_table.npy: each
  // length fits its page-table row, and every page a request uses is one of
  // `num_pages` in `cache_file`.
  void check_paging(const std::vector<std::int32_t>& seqlens, const std::vector<std::int32_t>& page_table,
                    int max_pages, int page_size, int num_pages, const std::string& cache_file) const;

 private:
  std::filesystem::path dir_;
  const char* call_;
};

// "[b, h, d]" for flat index i of a C-order array.
std::string npy_index_string(const npy::Array& a, std::size_t i);

// Makes `dir` ready for a --save before any work: creates it if needed, and
// refuses (naming the path) a path that cannot be a directory, or a
// directory that already holds one of `names`. zemla never overwrites a
// file, so --save into the --load directory is refused, not rewritten.
void prepare_npy_save_dir(const std::filesystem::path& dir, std::initializer_list<const char*> names);

}  // namespace zemla
