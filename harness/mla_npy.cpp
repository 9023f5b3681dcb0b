#include "mla_npy.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <string>

#include "npy.hpp"
#include "zemla/error.hpp"

namespace zemla {

namespace {

namespace fs = std::filesystem;
constexpr const char* kCall = "load_mla_problem";

std::string str(std::int64_t v) { return std::to_string(v); }

// "[b, h, d]" for flat index i of a C-order array.
std::string index_string(const npy::Array& a, std::size_t i) {
  std::vector<std::int64_t> idx(a.shape.size());
  for (std::size_t d = a.shape.size(); d-- > 0;) {
    idx[d] = static_cast<std::int64_t>(i) % a.shape[d];
    i /= static_cast<std::size_t>(a.shape[d]);
  }
  std::string s = "[";
  for (std::size_t d = 0; d < idx.size(); ++d) s += (d ? ", " : "") + str(idx[d]);
  return s + "]";
}

[[noreturn]] void fail(const std::string& file, const std::string& what) {
  throw Error(kCall, kInvalidArgument, file + ": " + what);
}

npy::Array read(const fs::path& dir, const std::string& file) {
  const fs::path path = dir / file;
  if (!fs::exists(path)) fail(file, "missing from " + dir.string());
  return npy::read_file(path);
}

void expect_shape(const npy::Array& a, const std::string& file, const std::vector<std::int64_t>& want,
                  const std::string& spelled) {
  if (a.shape != want) {
    fail(file, "has shape " + a.shape_string() + "; expected " + spelled + " = " + npy::shape_string(want));
  }
}

template <typename T>
T element(const npy::Array& a, std::size_t i) {
  T v;
  std::memcpy(&v, a.data.data() + i * sizeof(T), sizeof(T));
  return v;
}

// A float tensor in the run dtype's bits. float32/float64 values must round-
// trip exactly: silently rounding captured tensors would make a comparison
// with the capturing framework meaningless.
std::vector<std::uint16_t> to_dtype(const npy::Array& a, const std::string& file, DType dtype) {
  const auto n = static_cast<std::size_t>(a.elements());
  std::vector<std::uint16_t> out(n);
  const bool same_bits =
      (a.elem == npy::Elem::u16 && dtype == DType::bf16) || (a.elem == npy::Elem::f16 && dtype == DType::f16);
  for (std::size_t i = 0; i < n; ++i) {
    double x = 0;
    switch (a.elem) {
      case npy::Elem::f32:
        x = element<float>(a, i);
        break;
      case npy::Elem::f64:
        x = element<double>(a, i);
        break;
      case npy::Elem::f16:
        x = f16_to_float(element<std::uint16_t>(a, i));
        break;
      case npy::Elem::u16:
        x = bf16_to_float(element<std::uint16_t>(a, i));
        break;
      default:
        fail(file, "dtype " + std::string(npy::descr(a.elem)) +
                       " is not a float tensor; expected float32, float16 or uint16 (bf16 bits)");
    }
    // Non-finite values are refused in every encoding: the kernels pass a
    // NaN on to the request's output, but an input file holding one is a
    // broken capture, not a case to check.
    if (!std::isfinite(x)) fail(file, "element " + index_string(a, i) + " is not finite");
    if (same_bits) {
      out[i] = element<std::uint16_t>(a, i);
      continue;
    }
    out[i] = from_float(dtype, static_cast<float>(x));
    if (static_cast<double>(to_float(dtype, out[i])) != x) {
      fail(file, "element " + index_string(a, i) + " = " + std::to_string(x) + " is not exactly representable in " +
                     std::string(dtype_name(dtype)) + "; round it to the run dtype first or choose --dtype");
    }
  }
  return out;
}

std::vector<std::int32_t> to_int32(const npy::Array& a, const std::string& file) {
  const auto n = static_cast<std::size_t>(a.elements());
  std::vector<std::int32_t> out(n);
  for (std::size_t i = 0; i < n; ++i) {
    if (a.elem == npy::Elem::i32) {
      out[i] = element<std::int32_t>(a, i);
    } else if (a.elem == npy::Elem::i64) {
      const auto v = element<std::int64_t>(a, i);
      if (v < std::numeric_limits<std::int32_t>::min() || v > std::numeric_limits<std::int32_t>::max()) {
        fail(file, "element " + index_string(a, i) + " = " + str(v) + " does not fit int32");
      }
      out[i] = static_cast<std::int32_t>(v);
    } else {
      fail(file, "dtype " + std::string(npy::descr(a.elem)) + " is not an integer tensor; expected int32 or int64");
    }
  }
  return out;
}

std::vector<float> to_float32(const npy::Array& a, const std::string& file) {
  if (a.elem != npy::Elem::f32) fail(file, "dtype " + std::string(npy::descr(a.elem)) + "; expected float32 <f4");
  std::vector<float> out(static_cast<std::size_t>(a.elements()));
  std::memcpy(out.data(), a.data.data(), a.data.size());
  return out;
}

// A query-shaped array's dimensions: [batch, heads, last], or [batch, q_len,
// heads, last] for multi-token decode.
std::vector<std::int64_t> query_dims(const MlaProblem& p, std::int64_t last) {
  if (p.q_len == 1) return {p.batch, p.heads, last};
  return {p.batch, p.q_len, p.heads, last};
}

}  // namespace

MlaProblem load_mla_problem(const fs::path& dir, std::optional<DType> dtype) {
  if (!fs::is_directory(dir)) throw Error(kCall, kInvalidArgument, dir.string() + " is not a directory");
  const auto q_nope = read(dir, "q_nope.npy");
  const auto q_rope = read(dir, "q_rope.npy");
  const auto kv = read(dir, "kv_cache.npy");
  const auto table = read(dir, "page_table.npy");
  const auto lens = read(dir, "cache_seqlens.npy");

  // [batch, heads, 512], or [batch, q_len, heads, 512] for multi-token decode.
  const bool multi = q_nope.shape.size() == 4;
  if ((q_nope.shape.size() != 3 && !multi) || q_nope.shape.back() != mla::kLatentDim ||
      std::any_of(q_nope.shape.begin(), q_nope.shape.end() - 1, [](std::int64_t d) { return d < 1; })) {
    fail("q_nope.npy", "has shape " + q_nope.shape_string() +
                           "; expected [batch >= 1, heads >= 1, 512] or [batch >= 1, q_len >= 1, heads >= 1, 512]");
  }
  MlaProblem p;
  p.dtype = dtype.value_or(kv.elem == npy::Elem::f16 ? DType::f16 : DType::bf16);
  p.batch = static_cast<int>(q_nope.shape[0]);
  p.q_len = multi ? static_cast<int>(q_nope.shape[1]) : 1;
  p.heads = static_cast<int>(q_nope.shape[multi ? 2 : 1]);
  expect_shape(q_rope, "q_rope.npy", query_dims(p, mla::kRopeDim),
               multi ? "[batch, q_len, heads, 64] from q_nope.npy" : "[batch, heads, 64] from q_nope.npy");
  if (kv.shape.size() != 3 || kv.shape[2] != mla::kRowDim || kv.shape[0] < 1 || kv.shape[1] < 1) {
    fail("kv_cache.npy", "has shape " + kv.shape_string() + "; expected [pages >= 1, page_size >= 1, 576]");
  }
  p.num_pages = static_cast<int>(kv.shape[0]);
  p.page_size = static_cast<int>(kv.shape[1]);
  if (table.shape.size() != 2 || table.shape[0] != p.batch || table.shape[1] < 1) {
    fail("page_table.npy", "has shape " + table.shape_string() + "; expected [batch = " + str(p.batch) +
                               " (from q_nope.npy), max_pages >= 1]");
  }
  p.max_pages = static_cast<int>(table.shape[1]);
  expect_shape(lens, "cache_seqlens.npy", {p.batch}, "[batch] from q_nope.npy");

  p.q_nope = to_dtype(q_nope, "q_nope.npy", p.dtype);
  p.q_rope = to_dtype(q_rope, "q_rope.npy", p.dtype);
  p.kv_cache = to_dtype(kv, "kv_cache.npy", p.dtype);
  p.page_table = to_int32(table, "page_table.npy");
  p.seqlens = to_int32(lens, "cache_seqlens.npy");

  // Cross-file consistency: each length fits its page-table row, and every
  // page a request uses exists in kv_cache.npy.
  const std::int64_t capacity = std::int64_t{p.max_pages} * p.page_size;
  for (int b = 0; b < p.batch; ++b) {
    const std::int64_t len = p.seqlens[b];
    if (len < 0 || len > capacity) {
      fail("cache_seqlens.npy",
           "element [" + str(b) + "] = " + str(len) + " is outside [0, max_pages * page_size = " + str(capacity) + "]");
    }
    for (std::int64_t i = 0; i < (len + p.page_size - 1) / p.page_size; ++i) {
      const std::int32_t page = p.page_table[b * p.max_pages + i];
      if (page < 0 || page >= p.num_pages) {
        fail("page_table.npy", "element [" + str(b) + ", " + str(i) + "] = " + str(page) +
                                   " is not a page of kv_cache.npy [0, " + str(p.num_pages) + ")");
      }
    }
  }

  p.sm_scale = default_sm_scale();
  if (fs::exists(dir / "sm_scale.npy")) {
    const auto s = read(dir, "sm_scale.npy");
    if (s.elements() != 1 || s.shape.size() > 1)
      fail("sm_scale.npy", "has shape " + s.shape_string() + "; expected ()");
    // np.save(x) of a Python float writes float64: take it as NumPy wrote it.
    if (s.elem == npy::Elem::f64) {
      double v = 0;
      std::memcpy(&v, s.data.data(), sizeof v);
      p.sm_scale = static_cast<float>(v);
    } else {
      p.sm_scale = to_float32(s, "sm_scale.npy")[0];
    }
    if (!(std::isfinite(p.sm_scale) && p.sm_scale > 0)) {
      fail("sm_scale.npy", "value " + std::to_string(p.sm_scale) + " is not a positive finite number");
    }
  }
  return p;
}

std::optional<DecodeResult> load_mla_expected(const fs::path& dir, const MlaProblem& p, bool& has_lse) {
  has_lse = false;
  if (!fs::exists(dir / "out.npy")) return std::nullopt;
  DecodeResult r;
  const auto out = read(dir, "out.npy");
  expect_shape(out, "out.npy", query_dims(p, mla::kLatentDim),
               p.q_len > 1 ? "[batch, q_len, heads, 512]" : "[batch, heads, 512]");
  r.out = to_float32(out, "out.npy");
  if (fs::exists(dir / "lse.npy")) {
    const auto lse = read(dir, "lse.npy");
    auto lse_dims = query_dims(p, 0);
    lse_dims.pop_back();
    expect_shape(lse, "lse.npy", lse_dims, p.q_len > 1 ? "[batch, q_len, heads]" : "[batch, heads]");
    r.lse = to_float32(lse, "lse.npy");
    has_lse = true;
  } else {
    r.lse.assign(std::size_t(p.batch) * p.rows(), 0.0f);
  }
  return r;
}

void prepare_save_dir(const fs::path& dir) {
  constexpr const char* kCall = "--save";
  std::error_code ec;
  fs::create_directories(dir, ec);
  require(!ec && fs::is_directory(dir), kCall, [&] {
    return "cannot use " + dir.string() +
           " as the output directory: " + (ec ? ec.message() : std::string("it exists and is not a directory"));
  });
  for (const char* name : {"q_nope.npy", "q_rope.npy", "kv_cache.npy", "page_table.npy", "cache_seqlens.npy",
                           "sm_scale.npy", "out.npy", "lse.npy"}) {
    require(!fs::exists(dir / name, ec), kCall, [&] {
      return (dir / name).string() + " already exists; zemla does not overwrite files (choose a new or empty " +
             "directory, never the --load one)";
    });
  }
}

void save_mla_problem(const fs::path& dir, const MlaProblem& p) {
  fs::create_directories(dir);
  const auto elem = p.dtype == DType::bf16 ? npy::Elem::u16 : npy::Elem::f16;
  const std::int64_t b = p.batch;
  npy::write_file(dir / "q_nope.npy", npy::make<std::uint16_t>(elem, query_dims(p, mla::kLatentDim), p.q_nope));
  npy::write_file(dir / "q_rope.npy", npy::make<std::uint16_t>(elem, query_dims(p, mla::kRopeDim), p.q_rope));
  npy::write_file(dir / "kv_cache.npy",
                  npy::make<std::uint16_t>(elem, {p.num_pages, p.page_size, mla::kRowDim}, p.kv_cache));
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
