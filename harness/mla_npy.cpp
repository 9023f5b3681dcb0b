#include "mla_npy.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <sstream>
#include <string>

#include "npy.hpp"
#include "npy_dir.hpp"
#include "zemla/error.hpp"

namespace zemla {

namespace {

namespace fs = std::filesystem;
constexpr const char* kCall = "load_mla_problem";

std::string str(std::int64_t v) { return std::to_string(v); }
std::string fstr(float v) {
  std::ostringstream os;
  os << v;
  return os.str();
}

// A query-shaped array's dimensions: [batch, heads, last], or [batch, q_len,
// heads, last] for multi-token decode.
std::vector<std::int64_t> query_dims(const MlaProblem& p, std::int64_t last) {
  if (p.q_len == 1) return {p.batch, p.heads, last};
  return {p.batch, p.q_len, p.heads, last};
}

// An FP8 cache from uint8 codes: kv_fp8 holds them, kv_cache their values
// widened to the run dtype (exact: every FP8 value is a bf16 and an fp16
// value), kv_scale the scale from kv_scale.npy.
void read_fp8_cache(const NpyDir& dir, const npy::Array& kv, KvFormat format, MlaProblem& p) {
  if (kv.elem != npy::Elem::u8) {
    dir.fail("kv_cache.npy", "dtype " + std::string(npy::descr(kv.elem)) + "; an " +
                                 std::string(kv_format_name(format)) + " cache is uint8 |u1 codes");
  }
  p.kv_format = format;
  p.kv_fp8.assign(kv.data.begin(), kv.data.end());
  p.kv_cache.resize(p.kv_fp8.size());
  for (std::size_t i = 0; i < p.kv_fp8.size(); ++i) {
    const float v = fp8_to_float(format, p.kv_fp8[i]);
    if (!std::isfinite(v)) {
      dir.fail("kv_cache.npy", "element " + npy_index_string(kv, i) + " = code " + str(p.kv_fp8[i]) + " is " +
                                   (std::isnan(v) ? "a NaN" : "an infinity") + " in " +
                                   std::string(kv_format_name(format)));
    }
    p.kv_cache[i] = from_float(p.dtype, v);
  }
  p.kv_scale = dir.positive_scalar("kv_scale.npy", 1.0f);
}

// An fp8_ds_mla cache from its 656-byte rows: kv_fp8 holds them, kv_cache
// the bf16 values the kernels stage from them (dequantize_ds_mla_row). A
// file is refused where a row holds what no kv_append writes: a block
// scale that is not positive and finite, e4m3's NaN code, a code whose
// value times its scale overflows, or a rope value that is not finite.
void read_ds_mla_cache(const NpyDir& dir, const npy::Array& kv, MlaProblem& p) {
  if (kv.elem != npy::Elem::u8) {
    dir.fail("kv_cache.npy",
             "dtype " + std::string(npy::descr(kv.elem)) + "; an fp8_ds_mla cache is uint8 |u1 bytes, 656 per token");
  }
  if (p.dtype != DType::bf16) {
    dir.fail("kv_cache.npy", "is an fp8_ds_mla cache, whose rope values are bf16; it runs with bf16 queries, not " +
                                 std::string(dtype_name(p.dtype)));
  }
  p.kv_format = KvFormat::fp8_ds_mla;
  p.kv_scale = 1.0f;
  p.kv_fp8.assign(kv.data.begin(), kv.data.end());
  const std::size_t rows = p.kv_fp8.size() / mla::kDsRowBytes;
  p.kv_cache.resize(rows * mla::kRowDim);
  for (std::size_t r = 0; r < rows; ++r) {
    const std::uint8_t* row = &p.kv_fp8[r * mla::kDsRowBytes];
    const auto at = [&](int byte) { return npy_index_string(kv, r * mla::kDsRowBytes + std::size_t(byte)); };
    for (int b = 0; b < mla::kLatentDim / mla::kDsBlock; ++b) {
      float scale;
      std::memcpy(&scale, row + mla::kDsScaleOffset + 4 * b, 4);
      if (!(std::isfinite(scale) && scale > 0.0f)) {
        dir.fail("kv_cache.npy", "bytes from " + at(mla::kDsScaleOffset + 4 * b) + " hold block " + str(b) +
                                     "'s scale " + fstr(scale) + "; a scale must be positive and finite");
      }
    }
    for (int i = 0; i < mla::kLatentDim; ++i) {
      if ((row[i] & 0x7f) == 0x7f)
        dir.fail("kv_cache.npy", "element " + at(i) + " = code " + str(row[i]) + " is a NaN in e4m3");
    }
    dequantize_ds_mla_row(row, &p.kv_cache[r * mla::kRowDim]);
    for (int i = 0; i < mla::kRowDim; ++i) {
      if (std::isfinite(bf16_to_float(p.kv_cache[r * mla::kRowDim + std::size_t(i)]))) continue;
      if (i < mla::kLatentDim) {
        dir.fail("kv_cache.npy",
                 "element " + at(i) + " = code " + str(row[i]) + " times its block's scale overflows bf16");
      }
      dir.fail("kv_cache.npy", "bytes from " + at(mla::kDsRopeOffset + 2 * (i - mla::kLatentDim)) +
                                   " hold a rope value that is not finite");
    }
  }
}

}  // namespace

MlaProblem load_mla_problem(const fs::path& path, std::optional<DType> dtype, KvFormat kv_format) {
  const NpyDir dir(path, kCall);
  const auto q_nope = dir.read("q_nope.npy");
  const auto q_rope = dir.read("q_rope.npy");
  const auto kv = dir.read("kv_cache.npy");
  const auto table = dir.read("page_table.npy");
  const auto lens = dir.read("cache_seqlens.npy");

  // [batch, heads, 512], or [batch, q_len, heads, 512] for multi-token decode.
  const bool multi = q_nope.shape.size() == 4;
  if ((q_nope.shape.size() != 3 && !multi) || q_nope.shape.back() != mla::kLatentDim ||
      std::any_of(q_nope.shape.begin(), q_nope.shape.end() - 1, [](std::int64_t d) { return d < 1; })) {
    dir.fail("q_nope.npy", "has shape " + q_nope.shape_string() +
                               "; expected [batch >= 1, heads >= 1, 512] or [batch >= 1, q_len >= 1, heads >= 1, 512]");
  }
  MlaProblem p;
  p.dtype = dtype.value_or(kv.elem == npy::Elem::f16 ? DType::f16 : DType::bf16);
  p.batch = static_cast<int>(q_nope.shape[0]);
  p.q_len = multi ? static_cast<int>(q_nope.shape[1]) : 1;
  p.heads = static_cast<int>(q_nope.shape[multi ? 2 : 1]);
  dir.expect_shape(q_rope, "q_rope.npy", query_dims(p, mla::kRopeDim),
                   multi ? "[batch, q_len, heads, 64] from q_nope.npy" : "[batch, heads, 64] from q_nope.npy");
  const int row_elements = mla_row_elements(kv_format);
  if (kv.shape.size() != 3 || kv.shape[2] != row_elements || kv.shape[0] < 1 || kv.shape[1] < 1) {
    dir.fail("kv_cache.npy", "has shape " + kv.shape_string() + "; expected [pages >= 1, page_size >= 1, " +
                                 str(row_elements) + "]" +
                                 (kv_format == KvFormat::fp8_ds_mla ? " (fp8_ds_mla's 656-byte rows)" : ""));
  }
  p.num_pages = static_cast<int>(kv.shape[0]);
  p.page_size = static_cast<int>(kv.shape[1]);
  p.max_pages = dir.paging_shapes(table, lens, p.batch, "q_nope.npy");

  p.q_nope = dir.to_dtype(q_nope, "q_nope.npy", p.dtype);
  p.q_rope = dir.to_dtype(q_rope, "q_rope.npy", p.dtype);
  if (kv_format == KvFormat::fp8_ds_mla) {
    read_ds_mla_cache(dir, kv, p);
  } else if (is_fp8(kv_format)) {
    read_fp8_cache(dir, kv, kv_format, p);
  } else {
    if (kv.elem == npy::Elem::u8) {
      dir.fail("kv_cache.npy", "holds uint8 values, FP8 codes; name their format (--kv-dtype fp8_e4m3 or fp8_e5m2)");
    }
    p.kv_cache = dir.to_dtype(kv, "kv_cache.npy", p.dtype);
  }
  p.page_table = dir.to_int32(table, "page_table.npy");
  p.seqlens = dir.to_int32(lens, "cache_seqlens.npy");

  dir.check_paging(p.seqlens, p.page_table, p.max_pages, p.page_size, p.num_pages, "kv_cache.npy");

  p.sm_scale = dir.positive_scalar("sm_scale.npy", default_sm_scale());
  return p;
}

std::optional<DecodeResult> load_mla_expected(const fs::path& path, const MlaProblem& p, bool& has_lse) {
  has_lse = false;
  const NpyDir dir(path, kCall);
  if (!dir.has("out.npy")) return std::nullopt;
  DecodeResult r;
  const auto out = dir.read("out.npy");
  dir.expect_shape(out, "out.npy", query_dims(p, mla::kLatentDim),
                   p.q_len > 1 ? "[batch, q_len, heads, 512]" : "[batch, heads, 512]");
  r.out = dir.to_float32(out, "out.npy");
  if (dir.has("lse.npy")) {
    const auto lse = dir.read("lse.npy");
    auto lse_dims = query_dims(p, 0);
    lse_dims.pop_back();
    dir.expect_shape(lse, "lse.npy", lse_dims, p.q_len > 1 ? "[batch, q_len, heads]" : "[batch, heads]");
    r.lse = dir.to_float32(lse, "lse.npy");
    has_lse = true;
  } else {
    r.lse.assign(std::size_t(p.batch) * p.rows(), 0.0f);
  }
  return r;
}

void prepare_save_dir(const fs::path& dir) {
  prepare_npy_save_dir(dir, {"q_nope.npy", "q_rope.npy", "kv_cache.npy", "kv_scale.npy", "page_table.npy",
                             "cache_seqlens.npy", "sm_scale.npy", "out.npy", "lse.npy"});
}

void save_mla_problem(const fs::path& dir, const MlaProblem& p) {
  fs::create_directories(dir);
  const auto elem = p.dtype == DType::bf16 ? npy::Elem::u16 : npy::Elem::f16;
  const std::int64_t b = p.batch;
  npy::write_file(dir / "q_nope.npy", npy::make<std::uint16_t>(elem, query_dims(p, mla::kLatentDim), p.q_nope));
  npy::write_file(dir / "q_rope.npy", npy::make<std::uint16_t>(elem, query_dims(p, mla::kRopeDim), p.q_rope));
  if (is_fp8(p.kv_format)) {
    // The codes (fp8_ds_mla: the 656-byte rows), and the scale they are
    // multiplied by where there is one; --load takes them back with the
    // same --kv-dtype.
    const std::int64_t row = mla_row_elements(p.kv_format);
    npy::write_file(dir / "kv_cache.npy",
                    npy::make<std::uint8_t>(npy::Elem::u8, {p.num_pages, p.page_size, row}, p.kv_fp8));
    if (has_layer_scale(p.kv_format)) {
      npy::write_file(dir / "kv_scale.npy",
                      npy::make<float>(npy::Elem::f32, {}, std::span<const float>(&p.kv_scale, 1)));
    }
  } else {
    npy::write_file(dir / "kv_cache.npy",
                    npy::make<std::uint16_t>(elem, {p.num_pages, p.page_size, mla::kRowDim}, p.kv_cache));
  }
  npy::write_file(dir / "page_table.npy", npy::make<std::int32_t>(npy::Elem::i32, {b, p.max_pages}, p.page_table));
  npy::write_file(dir / "cache_seqlens.npy", npy::make<std::int32_t>(npy::Elem::i32, {b}, p.seqlens));
  const float scale = p.sm_scale;
  npy::write_file(dir / "sm_scale.npy", npy::make<float>(npy::Elem::f32, {}, std::span<const float>(&scale, 1)));
}

void save_mla_result(const fs::path& dir, const MlaProblem& p, const DecodeResult& r) {
  fs::create_directories(dir);
  auto lse_dims = query_dims(p, 0);
  lse_dims.pop_back();
  npy::write_file(dir / "out.npy", npy::make<float>(npy::Elem::f32, query_dims(p, mla::kLatentDim), r.out));
  npy::write_file(dir / "lse.npy", npy::make<float>(npy::Elem::f32, lse_dims, r.lse));
}

}  // namespace zemla
