#include "gqa_npy.hpp"

#include <cmath>
#include <string>

#include "npy.hpp"
#include "npy_dir.hpp"
#include "zemla/error.hpp"

namespace zemla {

namespace {

namespace fs = std::filesystem;
constexpr const char* kCall = "load_gqa_problem";

std::string str(std::int64_t v) { return std::to_string(v); }

}  // namespace

reference::GqaProblem load_gqa_problem(const fs::path& path, std::optional<DType> dtype) {
  const NpyDir dir(path, kCall);
  const auto q = dir.read("q.npy");
  const auto k = dir.read("k_cache.npy");
  const auto v = dir.read("v_cache.npy");
  const auto table = dir.read("page_table.npy");
  const auto lens = dir.read("cache_seqlens.npy");

  if (q.shape.size() != 3 || q.shape[0] < 1 || q.shape[1] < 1 || q.shape[2] < 1) {
    dir.fail("q.npy", "has shape " + q.shape_string() + "; expected [batch >= 1, q_heads >= 1, head_dim >= 1]");
  }
  reference::GqaProblem p;
  p.dtype = dtype.value_or(k.elem == npy::Elem::f16 ? DType::f16 : DType::bf16);
  p.batch = static_cast<int>(q.shape[0]);
  p.q_heads = static_cast<int>(q.shape[1]);
  p.head_dim = static_cast<int>(q.shape[2]);
  if (k.shape.size() != 4 || k.shape[0] < 1 || k.shape[1] < 1 || k.shape[2] < 1 || k.shape[3] != p.head_dim) {
    dir.fail("k_cache.npy", "has shape " + k.shape_string() +
                                "; expected [pages >= 1, page_size >= 1, kv_heads >= 1, " +
                                "head_dim = " + str(p.head_dim) + " (from q.npy)]");
  }
  p.num_pages = static_cast<int>(k.shape[0]);
  p.page_size = static_cast<int>(k.shape[1]);
  p.kv_heads = static_cast<int>(k.shape[2]);
  dir.expect_shape(v, "v_cache.npy", k.shape, "the shape of k_cache.npy");
  p.max_pages = dir.paging_shapes(table, lens, p.batch, "q.npy");

  p.q = dir.to_dtype(q, "q.npy", p.dtype);
  p.k_cache = dir.to_dtype(k, "k_cache.npy", p.dtype);
  p.v_cache = dir.to_dtype(v, "v_cache.npy", p.dtype);
  p.page_table = dir.to_int32(table, "page_table.npy");
  p.seqlens = dir.to_int32(lens, "cache_seqlens.npy");
  dir.check_paging(p.seqlens, p.page_table, p.max_pages, p.page_size, p.num_pages, "k_cache.npy");

  p.sm_scale = dir.positive_scalar("sm_scale.npy", 1.0f / std::sqrt(static_cast<float>(p.head_dim)));
  if (dir.has("softcap.npy")) {
    p.softcap = static_cast<float>(dir.scalar(dir.read("softcap.npy"), "softcap.npy"));
    if (!(std::isfinite(p.softcap) && p.softcap >= 0)) {
      dir.fail("softcap.npy", "value " + std::to_string(p.softcap) + " is not 0 (off) or a positive finite number");
    }
  }
  if (dir.has("window_left.npy")) {
    const auto w = dir.read("window_left.npy");
    if (w.elements() != 1 || w.shape.size() > 1)
      dir.fail("window_left.npy", "has shape " + w.shape_string() + "; expected ()");
    p.window_left = dir.to_int32(w, "window_left.npy")[0];
    if (p.window_left < -1) {
      dir.fail("window_left.npy", "value " + str(p.window_left) + " is neither -1 (no window) nor >= 0");
    }
  }
  return p;
}

std::optional<DecodeResult> load_gqa_expected(const fs::path& path, const reference::GqaProblem& p, bool& has_lse) {
  has_lse = false;
  const NpyDir dir(path, kCall);
  if (!dir.has("out.npy")) return std::nullopt;
  DecodeResult r;
  const auto out = dir.read("out.npy");
  dir.expect_shape(out, "out.npy", {p.batch, p.q_heads, p.head_dim}, "[batch, q_heads, head_dim]");
  r.out = dir.to_float32(out, "out.npy");
  if (dir.has("lse.npy")) {
    const auto lse = dir.read("lse.npy");
    dir.expect_shape(lse, "lse.npy", {p.batch, p.q_heads}, "[batch, q_heads]");
    r.lse = dir.to_float32(lse, "lse.npy");
    has_lse = true;
  } else {
    r.lse.assign(std::size_t(p.batch) * p.q_heads, 0.0f);
  }
  return r;
}

void prepare_gqa_save_dir(const fs::path& dir) {
  prepare_npy_save_dir(dir, {"q.npy", "k_cache.npy", "v_cache.npy", "page_table.npy", "cache_seqlens.npy",
                             "sm_scale.npy", "softcap.npy", "window_left.npy", "out.npy", "lse.npy"});
}

void save_gqa_problem(const fs::path& dir, const reference::GqaProblem& p) {
  fs::create_directories(dir);
  const auto elem = p.dtype == DType::bf16 ? npy::Elem::u16 : npy::Elem::f16;
  const std::int64_t b = p.batch;
  npy::write_file(dir / "q.npy", npy::make<std::uint16_t>(elem, {b, p.q_heads, p.head_dim}, p.q));
  const std::vector<std::int64_t> cache{p.num_pages, p.page_size, p.kv_heads, p.head_dim};
  npy::write_file(dir / "k_cache.npy", npy::make<std::uint16_t>(elem, cache, p.k_cache));
  npy::write_file(dir / "v_cache.npy", npy::make<std::uint16_t>(elem, cache, p.v_cache));
  npy::write_file(dir / "page_table.npy", npy::make<std::int32_t>(npy::Elem::i32, {b, p.max_pages}, p.page_table));
  npy::write_file(dir / "cache_seqlens.npy", npy::make<std::int32_t>(npy::Elem::i32, {b}, p.seqlens));
  const auto scalar = [&](const char* name, float value) {
    npy::write_file(dir / name, npy::make<float>(npy::Elem::f32, {}, std::span<const float>(&value, 1)));
  };
  scalar("sm_scale.npy", p.sm_scale);
  scalar("softcap.npy", p.softcap);
  const std::int32_t window = p.window_left;
  npy::write_file(dir / "window_left.npy",
                  npy::make<std::int32_t>(npy::Elem::i32, {}, std::span<const std::int32_t>(&window, 1)));
}

void save_gqa_result(const fs::path& dir, const reference::GqaProblem& p, const DecodeResult& r) {
  fs::create_directories(dir);
  npy::write_file(dir / "out.npy", npy::make<float>(npy::Elem::f32, {p.batch, p.q_heads, p.head_dim}, r.out));
  npy::write_file(dir / "lse.npy", npy::make<float>(npy::Elem::f32, {p.batch, p.q_heads}, r.lse));
}

}  // namespace zemla
