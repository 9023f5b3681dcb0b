// MLA decode numerics on a CPU OpenCL runtime against the fp64 reference,
// with the tolerances of harness/compare.hpp, over the matrix: every page size, H in
// {16, 24, 128}, bf16 and fp16, splits in {auto, 1, 7, 64}, edge lengths
// (0, 1, page-1, page, page+1), shuffled pages, and a 32K request beside short ones.

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <random>

#include "kernels/mla_cases.hpp"
#include "zemla/error.hpp"

namespace zemla {
namespace {

std::vector<Case> matrix() {
  std::vector<Case> cases;
  const int split_choices[] = {-1, 1, 7, 64};
  // Heads x splits, fully crossed, at DeepSeek's page size.
  for (int heads : {16, 24, 128}) {
    for (int splits : split_choices) {
      cases.push_back({"H" + std::to_string(heads) + "_splits" + (splits < 0 ? "auto" : std::to_string(splits)),
                       DType::bf16, heads, 64, splits, edge_lengths(64)});
    }
  }
  // Every page size in both dtypes, rotating heads and splits.
  int k = 0;
  for (int ps : {16, 32, 64, 128}) {
    for (DType dt : {DType::bf16, DType::f16}) {
      const int heads = (k % 2 == 0) ? 16 : 24;
      const int splits = split_choices[k % 4];
      cases.push_back({"page" + std::to_string(ps) + "_" + std::string(dtype_name(dt)) + "_H" + std::to_string(heads),
                       dt, heads, ps, splits, edge_lengths(ps)});
      ++k;
    }
  }
  // One long request next to short ones; and a batch of empty requests.
  for (DType dt : {DType::bf16, DType::f16}) {
    cases.push_back({"long32k_" + std::string(dtype_name(dt)), dt, 16, 64, -1, {32768 + 7, 3, 200, 0}});
  }
  cases.push_back({"all_empty", DType::bf16, 24, 32, -1, {0, 0, 0}});
  return cases;
}

class MlaDecodeNumerics : public ::testing::TestWithParam<Case> {};

TEST_P(MlaDecodeNumerics, MatchesReferenceWithinTolerance) { expect_matches_reference(GetParam()); }

INSTANTIATE_TEST_SUITE_P(Matrix, MlaDecodeNumerics, ::testing::ValuesIn(matrix()),
                         [](const auto& info) { return info.param.name; });

// FP8 caches (fp8_e4m3, fp8_e5m2, one scale for the cache): the reference
// decodes the quantized cache in fp64, the kernels widen each tile as they
// stage it. Per format: every page size, both dtypes, H in {16, 24, 128},
// splits {auto, 1, 7, 64}, edge lengths, and a long request.
std::vector<Case> fp8_cases() {
  std::vector<Case> cases;
  const int split_choices[] = {-1, 1, 7, 64};
  const int head_choices[] = {16, 24, 128};
  for (KvFormat kv : {KvFormat::fp8_e4m3, KvFormat::fp8_e5m2}) {
    const std::string f(kv_format_name(kv));
    int k = 0;
    for (int ps : {16, 32, 64, 128}) {
      const DType dt = k % 2 == 0 ? DType::bf16 : DType::f16;
      const int heads = head_choices[k % 3];
      const int splits = split_choices[k % 4];
      cases.push_back(
          {f + "_page" + std::to_string(ps) + "_" + std::string(dtype_name(dt)) + "_H" + std::to_string(heads), dt,
           heads, ps, splits, edge_lengths(ps), false, kv});
      ++k;
    }
    cases.push_back({f + "_long32k", DType::bf16, 16, 64, -1, {32768 + 7, 3, 200, 0}, false, kv});
  }
  // fp8_ds_mla (bf16 queries only): the reference reads the values the
  // kernels stage, each code times its block's scale rounded to bf16.
  const std::string ds(kv_format_name(KvFormat::fp8_ds_mla));
  int k = 0;
  for (int ps : {16, 32, 64, 128}) {
    for (int heads : {16, 24, 128}) {
      if ((k++ % 2) != 0 && heads != 128) continue;
      const int splits = split_choices[k % 4];
      cases.push_back({ds + "_page" + std::to_string(ps) + "_H" + std::to_string(heads) + "_splits" +
                           (splits < 0 ? "auto" : std::to_string(splits)),
                       DType::bf16, heads, ps, splits, edge_lengths(ps), false, KvFormat::fp8_ds_mla});
    }
  }
  cases.push_back({ds + "_long32k", DType::bf16, 16, 64, -1, {32768 + 7, 3, 200, 0}, false, KvFormat::fp8_ds_mla});
  return cases;
}

class MlaDecodeFp8 : public ::testing::TestWithParam<Case> {};

TEST_P(MlaDecodeFp8, MatchesTheReferenceOfTheQuantizedCache) { expect_matches_reference(GetParam()); }

INSTANTIATE_TEST_SUITE_P(Matrix, MlaDecodeFp8, ::testing::ValuesIn(fp8_cases()),
                         [](const auto& info) { return info.param.name; });

// Multi-token decode: q_len query tokens per request, the request's last
// ones, each seeing the tokens up to its own (the causal mask). q_len in
// {2, 3, 4, 8} (1 is the matrix above) x every page size, rotating H in
// {16, 24, 128}, dtype and splits {auto, 1, 7, 64}; lengths 0, exactly q_len,
// new tokens straddling a page boundary, and longer; a long request; FP8.
std::vector<std::int32_t> multi_token_lengths(int ps, int q) { return {0, q, ps + q / 2, 2 * ps + 1, 3 * ps + 5}; }

std::vector<Case> multi_token_cases() {
  std::vector<Case> cases;
  const int split_choices[] = {-1, 1, 7, 64};
  const int head_choices[] = {16, 24, 128};
  int k = 0;
  for (int q : {2, 3, 4, 8}) {
    for (int ps : {16, 32, 64, 128}) {
      const DType dt = k % 2 == 0 ? DType::bf16 : DType::f16;
      const int heads = head_choices[k % 3];
      const int splits = split_choices[(k / 3) % 4];
      cases.push_back({"q" + std::to_string(q) + "_page" + std::to_string(ps) + "_" + std::string(dtype_name(dt)) +
                           "_H" + std::to_string(heads) + "_splits" + (splits < 0 ? "auto" : std::to_string(splits)),
                       dt, heads, ps, splits, multi_token_lengths(ps, q), false, KvFormat::same, q});
      ++k;
    }
  }
  cases.push_back({"q4_long16k", DType::bf16, 16, 64, -1, {16384 + 3, 4, 300}, false, KvFormat::same, 4});
  cases.push_back({"q3_fp8_e4m3", DType::bf16, 16, 64, 7, multi_token_lengths(64, 3), false, KvFormat::fp8_e4m3, 3});
  cases.push_back({"q2_fp8_e5m2", DType::f16, 24, 32, -1, multi_token_lengths(32, 2), false, KvFormat::fp8_e5m2, 2});
  cases.push_back(
      {"q4_fp8_ds_mla", DType::bf16, 16, 16, -1, multi_token_lengths(16, 4), false, KvFormat::fp8_ds_mla, 4});
  return cases;
}

class MlaDecodeMultiToken : public ::testing::TestWithParam<Case> {};

TEST_P(MlaDecodeMultiToken, MatchesTheCausalReference) { expect_matches_reference(GetParam()); }

INSTANTIATE_TEST_SUITE_P(Matrix, MlaDecodeMultiToken, ::testing::ValuesIn(multi_token_cases()),
                         [](const auto& info) { return info.param.name; });

// The causal check can fail: the same rows, each seeing the whole request
// (no mask), miss the reference; so do the rows taken head-major.
TEST(MlaDecodeMultiTokenSelfCheck, WithoutTheCausalMaskItFails) {
  RandomMlaSpec spec;
  spec.seqlens = {40, 4, 70};
  spec.heads = 16;
  spec.q_len = 4;
  const MlaProblem problem = make_random_problem(spec);
  const auto got = ops::run_mla_problem(testing::test_device(), problem, {});
  EXPECT_TRUE(
      compare_with_reference(got.result, reference::mla_decode(problem), DType::bf16, mla::kLatentDim, true).pass);
  MlaProblem unmasked = problem;
  unmasked.heads = problem.rows();
  unmasked.q_len = 1;
  EXPECT_FALSE(
      compare_with_reference(got.result, reference::mla_decode(unmasked), DType::bf16, mla::kLatentDim, true).pass);
  MlaProblem head_major = problem;  // rows of 4 heads x 16 tokens: the wrong grouping
  head_major.heads = 4;
  head_major.q_len = 16;
  head_major.seqlens = {40, 16, 70};
  const auto ref = reference::mla_decode(head_major);
  EXPECT_FALSE(compare_with_reference(got.result, ref, DType::bf16, mla::kLatentDim, true).pass);
}

// Batch-invariant splits (PlannerInputs::split_tokens): the same request
// decoded alone, among 8 and among 64 requests (other neighbours each time)
// gives bit-identical output; with the planner's own, batch-dependent
// splits it does not, so the comparison can fail.
MlaProblem requests_of(const MlaProblem& p, const std::vector<int>& picks) {
  MlaProblem q = p;
  q.batch = static_cast<int>(picks.size());
  q.seqlens.clear();
  q.page_table.clear();
  q.q_nope.clear();
  q.q_rope.clear();
  const std::size_t rows = std::size_t(p.rows());
  for (const int r : picks) {
    q.seqlens.push_back(p.seqlens[std::size_t(r)]);
    q.page_table.insert(q.page_table.end(), p.page_table.begin() + std::ptrdiff_t(r) * p.max_pages,
                        p.page_table.begin() + std::ptrdiff_t(r + 1) * p.max_pages);
    q.q_nope.insert(q.q_nope.end(), p.q_nope.begin() + std::ptrdiff_t(r * rows * 512),
                    p.q_nope.begin() + std::ptrdiff_t((r + 1) * rows * 512));
    q.q_rope.insert(q.q_rope.end(), p.q_rope.begin() + std::ptrdiff_t(r * rows * 64),
                    p.q_rope.begin() + std::ptrdiff_t((r + 1) * rows * 64));
  }
  return q;
}

TEST(MlaDecodeBatchInvariant, ARequestGivesTheSameBitsAloneAndInAnyBatch) {
  RandomMlaSpec spec;
  spec.heads = 16;
  spec.page_size = 64;
  for (int r = 0; r < 72; ++r) spec.seqlens.push_back(r == 0 ? 3000 : 1 + (r * 397) % 2500);
  const MlaProblem all = make_random_problem(spec);
  std::vector<int> eight = {5, 9, 0, 17, 33, 2, 60, 41}, sixty_four;  // request 0 third
  for (int r = 71; r > 7; --r) sixty_four.push_back(r == 40 ? 0 : r);
  const auto run = [&](const std::vector<int>& picks, int split_tokens) {
    ops::RunOptions o;
    o.split_tokens = split_tokens;
    return ops::run_mla_problem(testing::test_device(), requests_of(all, picks), o).result;
  };
  const std::size_t row = std::size_t(all.rows()) * mla::kLatentDim;
  const auto target_out = [&](const std::vector<int>& picks, int split_tokens) {
    const auto at = std::size_t(std::find(picks.begin(), picks.end(), 0) - picks.begin());
    const auto out = run(picks, split_tokens).out;
    return std::vector<float>(out.begin() + std::ptrdiff_t(at * row), out.begin() + std::ptrdiff_t((at + 1) * row));
  };
  // Alone, held to the reference too; then among neighbours, bit for bit.
  const DecodeResult alone = run({0}, 256);
  EXPECT_TRUE(
      compare_with_reference(alone, reference::mla_decode(requests_of(all, {0})), DType::bf16, mla::kLatentDim, true)
          .pass);
  EXPECT_EQ(target_out(eight, 256), alone.out);
  EXPECT_EQ(target_out(sixty_four, 256), alone.out);
  // Self-check: the planner's own splits follow the batch, and the bits move.
  EXPECT_NE(target_out({0}, 0), target_out(sixty_four, 0));
}

// A small problem with a cache of `kv` for the self-checks below, and
// whether a (perhaps misread) copy of it decodes to `ref`.
MlaProblem self_check_problem(KvFormat kv) {
  RandomMlaSpec spec;
  spec.seqlens = {40, 1, 64};
  spec.heads = 16;
  spec.kv_format = kv;
  return make_random_problem(spec);
}

bool decodes_to(const MlaProblem& p, const DecodeResult& ref) {
  const auto outcome = ops::run_mla_problem(testing::test_device(), p, {});
  return compare_with_reference(outcome.result, ref, DType::bf16, mla::kLatentDim, true).pass;
}

// The FP8 check can fail: the same bytes read as the other format, or with
// a scale 25 % off, miss the reference.
TEST(MlaDecodeFp8SelfCheck, TheWrongFormatOrScaleFails) {
  const MlaProblem problem = self_check_problem(KvFormat::fp8_e4m3);
  const auto ref = reference::mla_decode(problem);
  EXPECT_TRUE(decodes_to(problem, ref));
  MlaProblem other_format = problem;
  other_format.kv_format = KvFormat::fp8_e5m2;
  EXPECT_FALSE(decodes_to(other_format, ref));
  MlaProblem other_scale = problem;
  other_scale.kv_scale *= 1.25f;
  EXPECT_FALSE(decodes_to(other_scale, ref));
}

// The fp8_ds_mla check can fail: the same rows with the scales of blocks 0
// and 2 swapped, or read as a per-layer e4m3 cache (no block scales, the
// wrong row size), miss the reference.
TEST(MlaDecodeFp8SelfCheck, TheWrongDsMlaScalesFail) {
  const MlaProblem problem = self_check_problem(KvFormat::fp8_ds_mla);
  const auto ref = reference::mla_decode(problem);
  EXPECT_TRUE(decodes_to(problem, ref));
  MlaProblem swapped = problem;
  for (std::size_t row = 0; row < swapped.kv_fp8.size(); row += mla::kDsRowBytes) {
    std::swap_ranges(&swapped.kv_fp8[row + mla::kDsScaleOffset], &swapped.kv_fp8[row + mla::kDsScaleOffset + 4],
                     &swapped.kv_fp8[row + mla::kDsScaleOffset + 8]);
  }
  EXPECT_FALSE(decodes_to(swapped, ref));
  MlaProblem per_layer = problem;
  per_layer.kv_format = KvFormat::fp8_e4m3;
  per_layer.kv_scale = 1.0f / 64;
  EXPECT_FALSE(decodes_to(per_layer, ref));
}

// A small random problem over a `kv` cache: three requests (70, 1 and 33
// tokens), 16 heads, pages of 16.
MlaProblem small_fp8_problem(KvFormat kv) {
  RandomMlaSpec spec;
  spec.seqlens = {70, 1, 33};
  spec.heads = 16;
  spec.page_size = 16;
  spec.kv_format = kv;
  return make_random_problem(spec);
}

// A problem whose cache bytes are drawn from `codes` (a format's FP8
// codes), scaled by `scale`: the kernels' widening must decode every one
// exactly, whatever path a word of four bytes takes.
MlaProblem fp8_problem_of_codes(KvFormat kv, const std::vector<std::uint8_t>& codes, float scale) {
  MlaProblem p = small_fp8_problem(kv);
  std::mt19937 rng(5);
  std::uniform_int_distribution<std::size_t> pick(0, codes.size() - 1);
  for (std::size_t i = 0; i < p.kv_fp8.size(); ++i) {
    p.kv_fp8[i] = codes[pick(rng)];
    p.kv_cache[i] = from_float(p.dtype, fp8_to_float(kv, p.kv_fp8[i]));
  }
  p.kv_scale = scale;
  return p;
}

// Zeros and subnormals (and, mixed in, the smallest normals) scaled up to
// integers of a few units: a widening that took a subnormal for a normal
// would be off by whole units and fail.
TEST(MlaDecodeFp8Specials, ZerosAndSubnormalsDecodeExactly) {
  for (KvFormat kv : {KvFormat::fp8_e4m3, KvFormat::fp8_e5m2}) {
    SCOPED_TRACE(std::string(kv_format_name(kv)));
    std::vector<std::uint8_t> codes;
    for (int c = 0; c < 16; ++c) {
      codes.push_back(static_cast<std::uint8_t>(c));
      codes.push_back(static_cast<std::uint8_t>(0x80 | c));
    }
    // The smallest subnormal scaled to 1: e4m3 2^-9, e5m2 2^-16.
    const float scale = kv == KvFormat::fp8_e4m3 ? 512.0f : 65536.0f;
    const MlaProblem p = fp8_problem_of_codes(kv, codes, scale / 8);
    const auto outcome = ops::run_mla_problem(testing::test_device(), p, {});
    const auto cmp = compare_with_reference(outcome.result, reference::mla_decode(p), p.dtype, mla::kLatentDim, true);
    EXPECT_TRUE(cmp.pass) << cmp.failure;
  }
}

// bf16 queries far beyond fp16's range (x 2^20, sm_scale / 2^20: the same
// scores) over an FP8 cache: nv_mma runs those products in fp16, and
// must scale q into range by a power of two and take it back, or its
// scores overflow to infinity; every other variant is unaffected.
TEST(MlaDecodeFp8Specials, QueriesBeyondFp16RangeScoreAsTheReference) {
  for (KvFormat kv : {KvFormat::fp8_e4m3, KvFormat::fp8_e5m2}) {
    SCOPED_TRACE(std::string(kv_format_name(kv)));
    MlaProblem p = small_fp8_problem(kv);
    for (auto* q : {&p.q_nope, &p.q_rope}) {
      for (auto& bits : *q) bits = from_float(DType::bf16, bf16_to_float(bits) * 0x1p20f);
    }
    p.sm_scale *= 0x1p-20f;
    const auto outcome = ops::run_mla_problem(testing::test_device(), p, {});
    const auto cmp = compare_with_reference(outcome.result, reference::mla_decode(p), p.dtype, mla::kLatentDim, true);
    EXPECT_TRUE(cmp.pass) << cmp.failure;
  }
}

// fp8_ds_mla rows no kv_append writes have a defined result too: a zero
// scale reads its block as zeros, a negative one as the codes' values
// negated (code x scale, as for any scale), and a subnormal code is exact.
TEST(MlaDecodeFp8Specials, DsMlaZeroNegativeAndTinyScalesReadAsCodeTimesScale) {
  MlaProblem p = small_fp8_problem(KvFormat::fp8_ds_mla);
  const float scales[] = {0.0f, -0.02f, 0x1p-20f, -0.0f};
  std::mt19937 rng(9);
  for (std::size_t r = 0; r < p.kv_fp8.size() / mla::kDsRowBytes; ++r) {
    std::uint8_t* row = &p.kv_fp8[r * mla::kDsRowBytes];
    const float scale = scales[rng() % 4];
    std::memcpy(row + mla::kDsScaleOffset + 4 * (rng() % 4), &scale, 4);
    row[rng() % mla::kLatentDim] = static_cast<std::uint8_t>(rng() % 8);  // a subnormal code or zero
    dequantize_ds_mla_row(row, &p.kv_cache[r * mla::kRowDim]);
  }
  const auto outcome = ops::run_mla_problem(testing::test_device(), p, {});
  const auto cmp = compare_with_reference(outcome.result, reference::mla_decode(p), p.dtype, mla::kLatentDim, true);
  EXPECT_TRUE(cmp.pass) << cmp.failure;
}

// The staging of fp8_ds_mla rows bit for bit: a request of one token
// outputs that token's latent values exactly (its softmax weight is 1), so
// 64 such requests show the 512 values the kernel staged from 64 rows. The
// codes are random (zeros and subnormals, which take the exact path, among
// them) and the scales 1 + k 2^-9 for odd k times a power of two, whose
// products land on and beside bf16's rounding ties: a rounding other than
// to nearest even, on either path, changes values here.
TEST(MlaDecodeFp8Specials, DsMlaStagesTheReferencesValuesBitForBit) {
  RandomMlaSpec spec;
  spec.seqlens = std::vector<std::int32_t>(64, 1);
  spec.heads = 16;
  spec.page_size = 16;
  spec.kv_format = KvFormat::fp8_ds_mla;
  MlaProblem p = make_random_problem(spec);
  std::mt19937 rng(21);
  for (std::size_t r = 0; r < p.kv_fp8.size() / mla::kDsRowBytes; ++r) {
    std::uint8_t* row = &p.kv_fp8[r * mla::kDsRowBytes];
    for (int i = 0; i < mla::kLatentDim; ++i) {
      std::uint8_t c = static_cast<std::uint8_t>(rng());
      if ((c & 0x7f) == 0x7f) c ^= 1;  // no NaN: the output would be NaN, not the value
      row[i] = c;
    }
    for (int b = 0; b < mla::kLatentDim / mla::kDsBlock; ++b) {
      const float scale = std::ldexp(1.0f + float(2 * (rng() % 256) + 1) * 0x1p-9f, int(rng() % 9) - 6);
      std::memcpy(row + mla::kDsScaleOffset + 4 * b, &scale, 4);
    }
    dequantize_ds_mla_row(row, &p.kv_cache[r * mla::kRowDim]);
  }
  const auto outcome = ops::run_mla_problem(testing::test_device(), p, {});
  int wrong = 0;
  for (int b = 0; b < p.batch; ++b) {
    const std::size_t row = std::size_t(p.page_table[std::size_t(b) * p.max_pages]) * p.page_size;
    for (int h = 0; h < p.heads; ++h) {
      for (int c = 0; c < mla::kLatentDim; ++c) {
        const float want = bf16_to_float(p.kv_cache[row * mla::kRowDim + std::size_t(c)]);
        const float got = outcome.result.out[(std::size_t(b) * p.heads + h) * mla::kLatentDim + std::size_t(c)];
        wrong += got != want;
      }
    }
  }
  EXPECT_EQ(wrong, 0) << "of " << p.batch * p.heads * mla::kLatentDim << " staged values";
}

// Non-finite inputs have a defined result (issue 22, item 2): a NaN or an
// infinity in a request's cache or queries makes that request's output
// non-finite, through the softmax, the sum and the combine stage, and so
// can never pass for an empty request (exact zeros, LSE -inf); the other
// requests are untouched. For 16-bit caches and queries, and FP8 codes.
struct Poison {
  const char* name;
  KvFormat kv;
  enum Where { cache_latent, cache_rope, cache_scale, query } where;  // cache_scale: fp8_ds_mla's
  float value;  // for FP8, any non-finite value means the format's NaN code
};

TEST(MlaDecodeSpecials, ANonFiniteInputMakesItsRequestNonFiniteAndNoOther) {
  const Poison poisons[] = {
      {"bf16_cache_latent_nan", KvFormat::same, Poison::cache_latent, NAN},
      {"bf16_cache_latent_inf", KvFormat::same, Poison::cache_latent, INFINITY},
      {"bf16_cache_rope_nan", KvFormat::same, Poison::cache_rope, NAN},
      {"bf16_query_nan", KvFormat::same, Poison::query, NAN},
      {"bf16_query_inf", KvFormat::same, Poison::query, INFINITY},
      {"fp8_e4m3_nan_code", KvFormat::fp8_e4m3, Poison::cache_latent, NAN},
      {"fp8_e5m2_nan_code", KvFormat::fp8_e5m2, Poison::cache_rope, NAN},
      {"fp8_ds_mla_nan_code", KvFormat::fp8_ds_mla, Poison::cache_latent, NAN},
      {"fp8_ds_mla_rope_nan", KvFormat::fp8_ds_mla, Poison::cache_rope, NAN},
      {"fp8_ds_mla_nan_scale", KvFormat::fp8_ds_mla, Poison::cache_scale, NAN},
  };
  for (const DType dtype : {DType::bf16, DType::f16}) {
    for (const Poison& poison : poisons) {
      if (dtype == DType::f16 && is_fp8(poison.kv)) continue;
      SCOPED_TRACE(std::string(dtype_name(dtype)) + " " + poison.name);
      RandomMlaSpec spec;
      spec.dtype = dtype;
      spec.seqlens = {40, 9};
      spec.heads = 16;
      spec.page_size = 16;
      spec.kv_format = poison.kv;
      MlaProblem p = make_random_problem(spec);
      const auto ref = reference::mla_decode(p);  // before the poison: request 1's answer
      const int column = poison.where == Poison::cache_rope ? mla::kLatentDim + 5 : 3;
      const std::size_t token = std::size_t(p.page_table[0]) * p.page_size + 5;
      const std::size_t slot = token * mla::kRowDim + column;
      if (poison.where == Poison::query) {
        p.q_nope[7 * mla::kLatentDim + 11] = from_float(dtype, poison.value);  // request 0, head 7
      } else if (poison.kv == KvFormat::fp8_ds_mla) {
        // A latent value's e4m3 NaN code, a rope value's bf16 NaN, or a NaN
        // block scale (which the staging's fast path must not round away).
        std::uint8_t* row = &p.kv_fp8[token * mla::kDsRowBytes];
        if (poison.where == Poison::cache_scale) {
          const float nan = NAN;
          std::memcpy(row + mla::kDsScaleOffset + 4 * (column / mla::kDsBlock), &nan, 4);
        } else if (poison.where == Poison::cache_rope) {
          const std::uint16_t nan = from_float(dtype, NAN);
          std::memcpy(row + mla::kDsRopeOffset + 2 * (column - mla::kLatentDim), &nan, 2);
        } else {
          row[column] = 0x7f;
        }
      } else if (is_fp8(poison.kv)) {
        p.kv_fp8[slot] = 0x7f;  // NaN in both formats
      } else {
        p.kv_cache[slot] = from_float(dtype, poison.value);
      }
      // One split per request, and seven: the combine stage passes it on too.
      for (int splits : {1, 7}) {
        SCOPED_TRACE("splits " + std::to_string(splits));
        ops::RunOptions options;
        options.num_kv_splits = splits;
        const auto outcome = ops::run_mla_problem(testing::test_device(), p, options);
        const std::size_t per_request = std::size_t(p.heads) * mla::kLatentDim;
        int non_finite = 0;
        for (std::size_t i = 0; i < per_request; ++i) non_finite += !std::isfinite(outcome.result.out[i]);
        EXPECT_GT(non_finite, 0) << "request 0's output is all finite";
        EXPECT_NE(outcome.result.lse[7], -INFINITY) << "request 0, head 7 reads as an empty request";
        for (std::size_t i = per_request; i < 2 * per_request; ++i) {
          ASSERT_TRUE(std::isfinite(outcome.result.out[i])) << i;
          EXPECT_NEAR(outcome.result.out[i], ref.out[i], 0.05) << i;
        }
      }
    }
  }
}

// Fused kv_append (MlaDecodeArgs::new_rows): each request's last token comes
// from the step's rows, its cache slot poisoned before the run; the output
// must match the reference and the slot must hold the row afterwards. Every
// page size, both dtypes, split counts that put the new token in a split of
// its own or deep in a long one, at a page's first slot, its last, and
// inside a tile.
std::vector<Case> fused_append_cases() {
  std::vector<Case> cases;
  const int split_choices[] = {-1, 1, 7, 64};
  const int head_choices[] = {16, 24, 128, 16};
  int k = 0;
  for (int ps : {16, 32, 64, 128}) {
    const DType dt = k % 2 == 0 ? DType::bf16 : DType::f16;
    const int splits = split_choices[k % 4];
    // Not "page16_...": the oclgrind job's filter takes those, and 700 tokens
    // are too many for it (it runs the self-check below instead).
    cases.push_back({"fused_page" + std::to_string(ps) + "_" + std::string(dtype_name(dt)) + "_H" +
                         std::to_string(head_choices[k]) + "_splits" + (splits < 0 ? "auto" : std::to_string(splits)),
                     dt,
                     head_choices[k],
                     ps,
                     splits,
                     {1, ps - 1, ps, ps + 1, 3 * ps + 5, 700},
                     true});
    ++k;
  }
  return cases;
}

class MlaDecodeFusedAppend : public ::testing::TestWithParam<Case> {};

TEST_P(MlaDecodeFusedAppend, MatchesReferenceAndWritesTheNewRows) { expect_matches_reference(GetParam()); }

INSTANTIATE_TEST_SUITE_P(Matrix, MlaDecodeFusedAppend, ::testing::ValuesIn(fused_append_cases()),
                         [](const auto& info) { return info.param.name; });

// The fused append's check can fail: the poison it puts in the new rows'
// slots, read by a decode that does not take the rows, breaks the result.
TEST(MlaDecodeFusedAppendSelfCheck, ThePoisonedSlotsFailAnUnfusedDecode) {
  RandomMlaSpec spec;
  spec.seqlens = {40, 1, 64};
  spec.heads = 16;
  MlaProblem problem = make_random_problem(spec);
  const auto ref = reference::mla_decode(problem);
  ops::RunOptions fused;
  fused.fused_append = true;
  const auto good = ops::run_mla_problem(testing::test_device(), problem, fused);
  EXPECT_TRUE(compare_with_reference(good.result, ref, DType::bf16, mla::kLatentDim, true).pass);
  take_new_rows(problem, problem.kv_cache);  // the same poison, left in the cache
  const auto bad = ops::run_mla_problem(testing::test_device(), problem, {});
  EXPECT_FALSE(compare_with_reference(bad.result, ref, DType::bf16, mla::kLatentDim, true).pass);
}

// run_mla_problem's fused mode needs every request to hold a token (the
// decoder's own checks are in tests/host/mla_decode_checks_test.cpp).
TEST(MlaDecodeFusedAppendChecks, AnEmptyRequestIsRefused) {
  RandomMlaSpec spec;
  spec.seqlens = {5, 0};
  spec.heads = 16;
  ops::RunOptions fused;
  fused.fused_append = true;
  EXPECT_THROW(ops::run_mla_problem(testing::test_device(), make_random_problem(spec), fused), Error);
}

// A wrong kernel must fail the check: perturb one cached value a request
// reads and the comparison against the unperturbed reference must fail.
TEST(MlaDecodeNumericsSelfCheck, DetectsACorruptedCacheValue) {
  RandomMlaSpec spec;
  spec.seqlens = {40};
  spec.heads = 16;
  MlaProblem problem = make_random_problem(spec);
  const auto ref = reference::mla_decode(problem);
  const int page = problem.page_table[0];
  problem.kv_cache[(std::size_t(page) * problem.page_size + 3) * mla::kRowDim + 10] = float_to_bf16(40.0f);
  const auto outcome = ops::run_mla_problem(testing::test_device(), problem, {-1, 0, 0, true});
  EXPECT_FALSE(compare_with_reference(outcome.result, ref, DType::bf16, mla::kLatentDim, true).pass);
}

// Strides are parameters: a padded, non-contiguous layout gives the same result.
TEST(MlaDecodeStrides, PaddedLayoutsMatchTheDenseResult) {
  RandomMlaSpec spec;
  spec.seqlens = {70, 5};
  spec.heads = 16;
  spec.page_size = 32;
  const MlaProblem p = make_random_problem(spec);
  rt::Device& device = testing::test_device();

  ops::MlaDecoder decoder(device, p.dtype);
  const auto plan = decoder.plan(p.seqlens, p.heads, 3);
  const std::int64_t q_sh = 600, q_sb = q_sh * p.heads + 40;  // q_nope rows padded
  const std::int64_t kv_st = 584, kv_sp = kv_st * p.page_size + 64;
  std::vector<std::uint16_t> q_nope(q_sb * p.batch, 0), kv(kv_sp * p.num_pages, 0);
  for (int b = 0; b < p.batch; ++b)
    for (int h = 0; h < p.heads; ++h)
      for (int d = 0; d < 512; ++d) q_nope[b * q_sb + h * q_sh + d] = p.q_nope[(b * p.heads + h) * 512 + d];
  for (int pg = 0; pg < p.num_pages; ++pg)
    for (int t = 0; t < p.page_size; ++t)
      for (int d = 0; d < 576; ++d) kv[pg * kv_sp + t * kv_st + d] = p.kv_cache[(pg * p.page_size + t) * 576 + d];
  auto qn = device.upload_vector(q_nope), qr = device.upload_vector(p.q_rope), kvb = device.upload_vector(kv),
       table = device.upload_vector(p.page_table);
  const std::int64_t out_sh = 520, out_sb = out_sh * p.heads + 8;
  auto out = device.allocate(out_sb * p.batch * 2);
  auto ws = device.allocate(plan.layout.total);
  decoder.upload_plan(plan, *ws);
  ops::MlaDecodeArgs a;
  a.batch = p.batch, a.heads = p.heads, a.sm_scale = p.sm_scale;
  a.num_pages = p.num_pages, a.page_size = p.page_size, a.max_pages = p.max_pages;
  a.q_nope = qn.get(), a.q_rope = qr.get(), a.kv_cache = kvb.get(), a.page_table = table.get(), a.out = out.get();
  a.set_contiguous_strides();
  a.q_nope_stride_h = q_sh, a.q_nope_stride_b = q_sb;
  a.kv_stride_token = kv_st, a.kv_stride_page = kv_sp;
  a.out_stride_h = out_sh, a.out_stride_b = out_sb;
  decoder.run(a, plan, *ws);
  std::vector<std::uint16_t> got(out_sb * p.batch);
  device.read(*out, got.data(), got.size() * 2);
  // Gather the strided output and hold it to the same contract as every case.
  DecodeResult strided{std::vector<float>(std::size_t(p.batch) * p.heads * 512), {}};
  for (int b = 0; b < p.batch; ++b)
    for (int h = 0; h < p.heads; ++h)
      for (int d = 0; d < 512; ++d)
        strided.out[(b * p.heads + h) * 512 + d] = bf16_to_float(got[b * out_sb + h * out_sh + d]);
  const auto cmp = compare_with_reference(strided, reference::mla_decode(p), p.dtype, mla::kLatentDim, false);
  EXPECT_TRUE(cmp.pass) << cmp.failure;
}

}  // namespace
}  // namespace zemla

namespace zemla {
namespace {

// Bounds safety with the host page-table check off: a page id outside the
// pool is masked by the kernels, so corrupting a request's last pages is the
// same as shortening it to the start of the first corrupt page. Requests
// around it are untouched, which they would not be if a read or write strayed.
TEST(MlaDecodeBounds, CorruptPageIdsAreMaskedWhenTheHostCheckIsOff) {
  RandomMlaSpec spec;
  spec.seqlens = {100, 150, 128, 10, 77};
  spec.heads = 16;
  spec.page_size = 64;
  MlaProblem corrupt = make_random_problem(spec);
  const auto cell = [&](int b, int i) -> std::int32_t& { return corrupt.page_table[b * corrupt.max_pages + i]; };
  cell(1, 2) = 999999;   // past the pool
  cell(2, 1) = -7;       // negative
  cell(3, 0) = 1 << 30;  // the whole request
  MlaProblem masked = corrupt;
  masked.seqlens = {100, 128, 64, 0, 77};
  const auto ref = reference::mla_decode(masked);
  for (int splits : {-1, 1, 4}) {
    const auto outcome = ops::run_mla_problem(testing::test_device(), corrupt, {splits, 0, 0, true, false});
    const auto cmp = compare_with_reference(outcome.result, ref, DType::bf16, mla::kLatentDim, true);
    EXPECT_TRUE(cmp.pass) << "splits " << splits << ": " << cmp.failure;
  }
}

// Every cache row that no request's token owns (rows past a request's end
// in its last page, spare pages) holds NaN in every value and block
// scale; one request's last page id is past the pool (host check off), so
// its tokens there are masked and read nothing, or stand-in rows. The output
// must be the reference's, all finite: a kernel that mixed any of those
// rows in, even with P = 0 (0 x NaN is NaN), fails. Lengths end inside a
// 16-token step and inside a 64-token iteration of the stream schedule.
TEST(MlaDecodeBounds, RowsNoRequestOwnsNeverReachTheOutput) {
  for (const KvFormat kv : {KvFormat::same, KvFormat::fp8_e4m3, KvFormat::fp8_e5m2, KvFormat::fp8_ds_mla}) {
    for (const int page_size : {16, 64}) {
      SCOPED_TRACE(std::string(kv_format_name(kv)) + " page_size " + std::to_string(page_size));
      RandomMlaSpec spec;
      spec.seqlens = {40, 9, 77, 130, 1};
      spec.heads = 16;
      spec.page_size = page_size;
      spec.kv_format = kv;
      MlaProblem p = make_random_problem(spec);
      std::vector<char> owned(std::size_t(p.num_pages) * page_size, 0);
      for (int b = 0; b < p.batch; ++b) {
        for (int t = 0; t < p.seqlens[b]; ++t) {
          owned[std::size_t(p.page_table[b * p.max_pages + t / page_size]) * page_size + t % page_size] = 1;
        }
      }
      int poisoned = 0;
      const std::uint16_t nan16 = from_float(p.dtype, NAN);
      const float nan = NAN;
      for (std::size_t row = 0; row < owned.size(); ++row) {
        if (owned[row]) continue;
        ++poisoned;
        if (kv == KvFormat::same) {
          std::fill_n(&p.kv_cache[row * mla::kRowDim], mla::kRowDim, nan16);
        } else if (kv == KvFormat::fp8_ds_mla) {
          std::uint8_t* r = &p.kv_fp8[row * mla::kDsRowBytes];
          std::fill_n(r, mla::kLatentDim, std::uint8_t{0x7f});
          for (int i = 0; i < mla::kLatentDim / mla::kDsBlock; ++i)
            std::memcpy(r + mla::kDsScaleOffset + 4 * i, &nan, 4);
          for (int i = 0; i < mla::kRopeDim; ++i) std::memcpy(r + mla::kDsRopeOffset + 2 * i, &nan16, 2);
        } else {
          std::fill_n(&p.kv_fp8[row * mla::kRowDim], mla::kRowDim, std::uint8_t{0x7f});  // NaN in both formats
        }
      }
      ASSERT_GT(poisoned, 3 * page_size) << "the spare pages and the ends of the last pages";
      // Request 2's last page (tokens 64..76) past the pool: it reads as 64 tokens.
      p.page_table[2 * p.max_pages + 64 / page_size] = 1 << 20;
      MlaProblem masked = p;
      masked.seqlens[2] = 64;
      const auto ref = reference::mla_decode(masked);
      for (int splits : {1, 3}) {  // the direct output and the combine; oclgrind runs this too
        SCOPED_TRACE("splits " + std::to_string(splits));
        const auto outcome = ops::run_mla_problem(testing::test_device(), p, {splits, 0, 0, true, false});
        const auto cmp = compare_with_reference(outcome.result, ref, DType::bf16, mla::kLatentDim, true);
        EXPECT_TRUE(cmp.pass) << cmp.failure;
      }
    }
  }
}

// With the check on (the default), the same table is refused before launch,
// naming the entry.
TEST(MlaDecodeBounds, HostCheckNamesTheCorruptPageTableEntry) {
  RandomMlaSpec spec;
  spec.seqlens = {100, 150};
  MlaProblem p = make_random_problem(spec);
  p.page_table[1 * p.max_pages + 2] = 999999;
  try {
    ops::run_mla_problem(testing::test_device(), p, {-1, 0, 0, true});
    FAIL() << "a page id past the pool was accepted";
  } catch (const Error& e) {
    EXPECT_EQ(e.result_name(), kInvalidArgument);
    EXPECT_NE(
        e.detail().find("page_table[1, 2] = 999999 is outside [0, num_pages = " + std::to_string(p.num_pages) + ")"),
        std::string::npos)
        << e.detail();
  }
}

}  // namespace
}  // namespace zemla
