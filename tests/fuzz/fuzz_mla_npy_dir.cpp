// libFuzzer target: the CLI's .npy path end to end (issue 22). Arbitrary
// bytes are cut into the files of an MLA decode step directory, written to a
// scratch directory and loaded as `zemla run mla-decode --load` loads them:
// load_mla_problem, then the planner and the decode's own checks over the
// problem's dense layout. Any input may be refused with zemla::Error;
// nothing may crash, and an accepted problem must be consistent: each tensor
// the size its shape says, each length within its table row and its pages
// in the pool, each 16-bit value finite, sm_scale positive and finite.
//
// Each directory is loaded twice: as a 16-bit cache and as fp8_ds_mla
// rows (--kv-dtype fp8_ds_mla), whose staged values must be finite too.
//
// Input: records of [file id (u8, mod 6)][length (u16, little-endian)]
// [bytes]; a later record of a file replaces an earlier one. The corpus
// entries are real directories packed this way (pack_npy_dir.py).

#include <unistd.h>

#include <array>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>

#include "harness/mla_npy.hpp"
#include "host/decode_planner.hpp"
#include "ops/mla/mla_decode_checks.hpp"
#include "zemla/error.hpp"

namespace {

namespace fs = std::filesystem;

constexpr std::array<const char*, 6> kFiles = {"q_nope.npy",     "q_rope.npy",        "kv_cache.npy",
                                               "page_table.npy", "cache_seqlens.npy", "sm_scale.npy"};

// The scratch directory, made on first use and removed when the fuzzer exits.
struct Scratch {
  fs::path dir = fs::temp_directory_path() / ("zemla-fuzz-npy-dir-" + std::to_string(::getpid()));
  Scratch() { fs::create_directories(dir); }
  ~Scratch() {
    std::error_code ec;
    fs::remove_all(dir, ec);
  }
};

const fs::path& scratch() {
  static const Scratch s;
  return s.dir;
}

// Loads the directory as a cache of `kv_format` (a 16-bit one, or
// fp8_ds_mla rows, whose values are then the bf16 ones the kernels stage)
// and, if accepted, checks what the loader promises.
void check_loaded(const fs::path& dir, zemla::KvFormat kv_format) {
  const bool ds_mla = kv_format == zemla::KvFormat::fp8_ds_mla;
  zemla::MlaProblem p;
  zemla::DecodePlan plan;
  try {
    p = zemla::load_mla_problem(dir, std::nullopt, kv_format);
    zemla::MlaDecodeGeometry g;
    g.batch = p.batch;
    g.heads = p.rows();
    g.q_len = p.q_len;
    g.sm_scale = p.sm_scale;
    g.num_pages = p.num_pages;
    g.page_size = p.page_size;
    g.max_pages = p.max_pages;
    g.kv_format = p.kv_format;
    g.set_contiguous_strides();
    g.q_nope_bytes = static_cast<std::int64_t>(p.q_nope.size()) * 2;
    g.q_rope_bytes = static_cast<std::int64_t>(p.q_rope.size()) * 2;
    g.kv_cache_bytes =
        ds_mla ? static_cast<std::int64_t>(p.kv_fp8.size()) : static_cast<std::int64_t>(p.kv_cache.size()) * 2;
    g.page_table_bytes = static_cast<std::int64_t>(p.page_table.size()) * 4;
    g.out_bytes = std::int64_t{p.batch} * p.rows() * zemla::mla::kLatentDim * 2;
    g.lse_bytes = std::int64_t{p.batch} * p.rows() * 4;
    plan = zemla::plan_decode({p.seqlens, p.rows(), 8, -1});
    g.workspace_bytes = static_cast<std::int64_t>(plan.layout.total);
    zemla::check_mla_decode(g, plan);
    zemla::check_page_table(g, plan, p.page_table);
  } catch (const zemla::Error&) {
    return;
  }
  // Accepted: the promises, checked independently of the loader.
  const auto rows = static_cast<std::size_t>(p.batch) * p.rows();
  if (p.q_nope.size() != rows * zemla::mla::kLatentDim || p.q_rope.size() != rows * zemla::mla::kRopeDim) std::abort();
  const auto tokens = static_cast<std::size_t>(p.num_pages) * p.page_size;
  if (p.kv_cache.size() != tokens * zemla::mla::kRowDim) std::abort();
  if (ds_mla && p.kv_fp8.size() != tokens * zemla::mla::kDsRowBytes) std::abort();
  if (p.page_table.size() != static_cast<std::size_t>(p.batch) * p.max_pages) std::abort();
  if (p.seqlens.size() != static_cast<std::size_t>(p.batch)) std::abort();
  if (!(std::isfinite(p.sm_scale) && p.sm_scale > 0)) std::abort();
  for (const auto* v : {&p.q_nope, &p.q_rope, &p.kv_cache}) {
    for (const std::uint16_t bits : *v) {
      if (!std::isfinite(zemla::to_float(p.dtype, bits))) std::abort();
    }
  }
  for (int b = 0; b < p.batch; ++b) {
    const std::int64_t len = p.seqlens[b];
    if (len < 0 || len > std::int64_t{p.max_pages} * p.page_size) std::abort();
    for (std::int64_t i = 0; i * p.page_size < len; ++i) {
      const auto page = p.page_table[static_cast<std::size_t>(b) * p.max_pages + i];
      if (page < 0 || page >= p.num_pages) std::abort();
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::map<int, std::string> files;
  for (std::size_t at = 0; at + 3 <= size;) {
    const int id = data[at] % static_cast<int>(kFiles.size());
    const std::size_t len = std::min<std::size_t>(data[at + 1] | (data[at + 2] << 8), size - at - 3);
    files[id].assign(reinterpret_cast<const char*>(data + at + 3), len);
    at += 3 + len;
  }
  const fs::path& dir = scratch();
  for (std::size_t i = 0; i < kFiles.size(); ++i) {
    fs::remove(dir / kFiles[i]);
    if (const auto it = files.find(static_cast<int>(i)); it != files.end()) {
      std::ofstream(dir / kFiles[i], std::ios::binary) << it->second;
    }
  }

  check_loaded(dir, zemla::KvFormat::same);
  check_loaded(dir, zemla::KvFormat::fp8_ds_mla);
  return 0;
}
