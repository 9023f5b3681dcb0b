// The op-level API (issue 18): flash_mla_decode and kv_append on tensors the
// caller owns, as a server with its own pool calls sgl-kernel-xpu, against
// the fp64 reference; the workspace bound; and the refusals (a workspace
// too small names the bytes needed, a tensor of another runtime, outputs
// that alias).

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <initializer_list>
#include <random>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "harness/compare.hpp"
#include "harness/mla_op_args.hpp"
#include "harness/mla_problem.hpp"
#include "harness/reference.hpp"
#include "zemla/zemla.h"
#include "zemla/zemla.hpp"
#include "zemla_kernels/manifest.hpp"

namespace zemla {
namespace {

template <typename T>
Tensor upload(Runtime& rt, const std::vector<T>& v) {
  Tensor t = rt.allocate(std::max<std::size_t>(v.size() * sizeof(T), 1));
  if (!v.empty()) t.upload(v.data(), v.size() * sizeof(T));
  return t;
}

// The server's buffers for one problem, and the call over them.
struct ServerBuffers {
  Tensor q_nope, q_rope, kv, seq_lens, page_table, out, lse, workspace;
  FlashMlaDecodeArgs args;

  ServerBuffers(Runtime& rt, const MlaProblem& p, int num_kv_splits, std::size_t workspace_bytes)
      : q_nope(upload(rt, p.q_nope)),
        q_rope(upload(rt, p.q_rope)),
        kv(is_fp8(p.kv_format) ? upload(rt, p.kv_fp8) : upload(rt, p.kv_cache)),
        seq_lens(upload(rt, p.seqlens)),
        page_table(upload(rt, p.page_table)),
        out(rt.allocate(std::size_t(p.batch) * p.rows() * 512 * 2)),
        lse(rt.allocate(std::size_t(p.batch) * p.rows() * 4)),
        workspace(rt.allocate(workspace_bytes)),
        args(flash_mla_args(p, num_kv_splits)) {
    args.q_nope = &q_nope;
    args.q_rope = &q_rope;
    args.kv_cache = &kv;
    args.seq_lens = &seq_lens;
    args.page_table = &page_table;
    args.workspace = &workspace;
    args.out = &out;
    args.lse = &lse;
  }

  DecodeResult read(const MlaProblem& p) const {
    DecodeResult r;
    std::vector<std::uint16_t> bits(std::size_t(p.batch) * p.rows() * 512);
    out.download(bits.data(), bits.size() * 2);
    r.out.resize(bits.size());
    for (std::size_t i = 0; i < bits.size(); ++i) r.out[i] = to_float(p.dtype, bits[i]);
    r.lse.resize(std::size_t(p.batch) * p.rows());
    lse.download(r.lse.data(), r.lse.size() * 4);
    return r;
  }
};

struct OpCase {
  std::string name;
  int num_kv_splits;
  int q_len;
  KvFormat kv_format;
  DType dtype;
  bool host_lens;
  int split_tokens = 0;
};

class FlashMlaDecodeOp : public ::testing::TestWithParam<OpCase> {};

TEST_P(FlashMlaDecodeOp, MatchesTheReferenceOnTheServersBuffers) {
  const OpCase& c = GetParam();
  Runtime rt({"opencl", 0});
  RandomMlaSpec spec;
  spec.dtype = c.dtype;
  spec.heads = 16;
  spec.q_len = c.q_len;
  spec.page_size = 32;
  spec.seqlens = {1000, 3, 0, 64, 2500};
  if (c.q_len > 1) spec.seqlens[2] = c.q_len;
  spec.kv_format = c.kv_format;
  const MlaProblem p = make_random_problem(spec);
  // The bound for the batch's size, as a server sizes its workspace once.
  const std::size_t bound =
      flash_mla_get_workspace_size(rt, 2500, p.batch, p.rows(), p.page_size, c.num_kv_splits, c.split_tokens);
  EXPECT_LE(flash_mla_get_workspace_size(rt, p.seqlens, p.rows(), c.num_kv_splits, c.split_tokens), bound);
  ServerBuffers b(rt, p, c.num_kv_splits, bound);
  b.args.split_tokens = c.split_tokens;
  if (c.host_lens) b.args.host_seq_lens = p.seqlens;
  flash_mla_decode(rt, b.args);
  const auto cmp = compare_with_reference(b.read(p), reference::mla_decode(p), p.dtype, 512, true);
  EXPECT_TRUE(cmp.pass) << cmp.failure;
}

INSTANTIATE_TEST_SUITE_P(Calls, FlashMlaDecodeOp,
                         ::testing::Values(OpCase{"no_split", 1, 1, KvFormat::same, DType::bf16, false},
                                           OpCase{"planned", -1, 1, KvFormat::same, DType::f16, true},
                                           OpCase{"seven_splits", 7, 1, KvFormat::same, DType::bf16, false},
                                           OpCase{"q_len3", -1, 3, KvFormat::same, DType::bf16, false},
                                           OpCase{"fp8_e4m3", 1, 1, KvFormat::fp8_e4m3, DType::bf16, true},
                                           OpCase{"batch_invariant_256", -1, 1, KvFormat::same, DType::bf16, false,
                                                  256}),
                         [](const auto& info) { return info.param.name; });

// The bound holds for every batch of lengths up to it, in every split mode.
TEST(FlashMlaWorkspace, TheBoundCoversEveryBatchUpToIt) {
  Runtime rt({"opencl", 0});
  std::mt19937 rng(3);
  for (int trial = 0; trial < 3000; ++trial) {
    const int batch = 1 + int(rng() % 64), heads = 16 << (rng() % 4), max_len = 1 + int(rng() % 70000);
    const int splits = std::vector<int>{1, -1, 4, 32}[rng() % 4];
    std::vector<std::int32_t> lens(std::size_t(1 + rng() % batch));
    for (auto& l : lens) l = std::int32_t(rng() % (max_len + 1));
    ASSERT_LE(flash_mla_get_workspace_size(rt, lens, heads, splits),
              flash_mla_get_workspace_size(rt, max_len, batch, heads, 64, splits))
        << "batch " << lens.size() << " of max " << max_len << ", heads " << heads << ", splits " << splits;
  }
}

// What the kernels write stays inside the size reported for the call's
// lengths (itself inside the bound for its shape): 3000 random calls over
// heads, query tokens, page sizes, split counts and batch-invariant splits,
// in three cases that ctest runs side by side, each call with a guard of
// known bytes after the reported size that must come back untouched. Every
// tenth call is also checked against the reference, so a write that strays
// inside the workspace shows as a wrong result.
class FlashMlaWorkspaceWrites : public ::testing::TestWithParam<int> {};

TEST_P(FlashMlaWorkspaceWrites, KernelsWriteOnlyInsideTheReportedSize) {
  Runtime rt({"opencl", 0});
  std::mt19937 rng(11 + GetParam());
  constexpr std::size_t kGuard = 4096;
  const std::vector<std::uint8_t> guard(kGuard, 0xa5);
  const auto pick = [&](std::initializer_list<int> v) { return *(v.begin() + rng() % v.size()); };
  for (int trial = 1000 * GetParam(); trial < 1000 * (GetParam() + 1); ++trial) {
    RandomMlaSpec spec;
    spec.heads = pick({16, 16, 16, 24, 32, 128});
    spec.q_len = spec.heads <= 32 ? pick({1, 1, 2, 3}) : 1;
    spec.page_size = pick({16, 32, 64, 128});
    spec.seed = std::uint64_t(trial) + 1;
    spec.spare_pages = 1;
    const int batch = 1 + int(rng() % 6);
    for (int b = 0; b < batch; ++b) {
      const int len = int(rng() % 97);
      spec.seqlens.push_back(std::max(len, spec.q_len));
    }
    if (spec.q_len == 1 && rng() % 4 == 0) spec.seqlens[0] = 0;  // an empty request
    const int splits = pick({1, -1, 2, 5, 13, 32});
    const int split_tokens = splits == -1 && rng() % 3 == 0 ? pick({16, 64}) : 0;
    const MlaProblem p = make_random_problem(spec);
    const std::int32_t max_len = std::max(1, *std::max_element(p.seqlens.begin(), p.seqlens.end()));
    const std::size_t exact = flash_mla_get_workspace_size(rt, p.seqlens, p.rows(), splits, split_tokens);
    const std::size_t bound =
        flash_mla_get_workspace_size(rt, max_len, p.batch, p.rows(), p.page_size, splits, split_tokens);
    const std::string what = "trial " + std::to_string(trial) + ": batch " + std::to_string(p.batch) + ", rows " +
                             std::to_string(p.rows()) + ", max length " + std::to_string(max_len) + ", splits " +
                             std::to_string(splits) + ", split tokens " + std::to_string(split_tokens);
    ASSERT_LE(exact, bound) << what;
    ServerBuffers b(rt, p, splits, exact + kGuard);
    b.workspace.upload(guard.data(), kGuard, exact);
    b.args.split_tokens = split_tokens;
    b.args.host_seq_lens = p.seqlens;
    flash_mla_decode(rt, b.args);
    std::vector<std::uint8_t> after(kGuard);
    b.workspace.download(after.data(), kGuard, exact);
    ASSERT_EQ(after, guard) << what << ": the decode wrote past the " << exact << " bytes reported";
    if (trial % 10 == 0) {
      const auto cmp = compare_with_reference(b.read(p), reference::mla_decode(p), p.dtype, 512, true);
      ASSERT_TRUE(cmp.pass) << what << ": " << cmp.failure;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Thousand, FlashMlaWorkspaceWrites, ::testing::Values(0, 1, 2));

TEST(FlashMlaDecodeOpChecks, RefusesWhatWouldCorruptOrOverflow) {
  Runtime rt({"opencl", 0});
  RandomMlaSpec spec;
  spec.seqlens = {700, 5};
  const MlaProblem p = make_random_problem(spec);
  const std::size_t need = flash_mla_get_workspace_size(rt, p.seqlens, p.heads, -1);
  const auto message = [&](const std::function<void(ServerBuffers&)>& breaking, std::size_t ws) {
    ServerBuffers b(rt, p, -1, ws);
    breaking(b);
    try {
      flash_mla_decode(rt, b.args);
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string("accepted");
  };
  EXPECT_EQ(message([](ServerBuffers&) {}, need), "accepted");
  EXPECT_NE(message([](ServerBuffers&) {}, need - 4)
                .find("workspace holds " + std::to_string(need - 4) + " bytes; the plan needs " + std::to_string(need)),
            std::string::npos);
  EXPECT_NE(message([](ServerBuffers& b) { b.args.lse = b.args.out; }, need).find("out and lse are the same tensor"),
            std::string::npos);
  Runtime other({"opencl", 0});
  Tensor foreign = other.allocate(std::size_t(p.batch) * p.heads * 512 * 2);
  EXPECT_NE(message([&](ServerBuffers& b) { b.args.out = &foreign; }, need)
                .find("out was allocated by another zemla::Runtime"),
            std::string::npos);
  EXPECT_NE(message([](ServerBuffers& b) { b.args.page_size = 48; }, need).find("page_size 48"), std::string::npos);
  EXPECT_NE(message([](ServerBuffers& b) { b.args.kv_cache_dtype = "fp8"; }, need).find("'fp8' is not supported"),
            std::string::npos);
  // A page table wider than its buffer; a cache of FP8 bytes called 16-bit.
  EXPECT_NE(message([&](ServerBuffers& b) { b.args.max_pages = p.max_pages + 1; }, need)
                .find("page_table holds " + std::to_string(p.page_table.size() * 4) + " bytes"),
            std::string::npos);
  RandomMlaSpec fp8_spec = spec;
  fp8_spec.kv_format = KvFormat::fp8_e4m3;
  const MlaProblem fp8 = make_random_problem(fp8_spec);
  ServerBuffers as_bf16(rt, fp8, -1, need);
  as_bf16.args.kv_cache_dtype = "auto";
  as_bf16.args.kv_scale = 1.0f;
  try {
    flash_mla_decode(rt, as_bf16.args);
    ADD_FAILURE() << "a cache of FP8 bytes was read as bf16";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("kv_cache holds " + std::to_string(fp8.kv_fp8.size()) + " bytes"),
              std::string::npos)
        << e.what();
  }
}

// kv_append over the server's own cache: the rows land at their slots.
TEST(KvAppendOp, WritesTheServersCacheAtItsSlots) {
  Runtime rt({"opencl", 0});
  const int pages = 4, page_size = 16, row = 576;
  std::vector<std::uint16_t> cache(std::size_t(pages) * page_size * row, 0x1234), rows(3 * row);
  for (std::size_t i = 0; i < rows.size(); ++i) rows[i] = std::uint16_t(i * 7);
  const std::vector<std::int32_t> slots = {17, 63, 0};
  Tensor cache_t = upload(rt, cache), rows_t = upload(rt, rows), slots_t = upload(rt, slots);
  KvAppendOpArgs a;
  a.kv_cache = &cache_t;
  a.rows = &rows_t;
  a.slots = &slots_t;
  a.num_rows = 3;
  a.num_pages = pages;
  a.page_size = page_size;
  kv_append(rt, a);
  std::vector<std::uint16_t> got(cache.size());
  cache_t.download(got.data(), got.size() * 2);
  for (int r = 0; r < 3; ++r) std::copy_n(rows.begin() + r * row, row, cache.begin() + std::ptrdiff_t(slots[r]) * row);
  EXPECT_EQ(got, cache);
  a.rows = &cache_t;
  EXPECT_THROW(kv_append(rt, a), Error) << "rows aliasing the cache";
}

// The version queries (issue 22, item 11): the C++ and C answers agree, and
// the kernels' identity is a digest over every embedded artifact, computed
// here independently (FNV-1a 64 over the sha256 texts in manifest order).
TEST(Version, TheKernelsIdentityCoversEveryEmbeddedBinary) {
  EXPECT_EQ(version(), zemla_version());
  EXPECT_EQ(kernels_build_id(), zemla_kernels_build_id());
  std::uint64_t h = 0xcbf29ce484222325ull;
  for (const auto& k : kernels::embedded_kernels()) {
    ASSERT_EQ(k.sha256.size(), 64u) << k.program;
    for (const char c : k.sha256) h = (h ^ static_cast<unsigned char>(c)) * 0x100000001b3ull;
  }
  char expected[17];
  std::snprintf(expected, sizeof expected, "%016llx", static_cast<unsigned long long>(h));
  EXPECT_EQ(kernels_build_id(), expected);
}

// What a server sees of zemla's log through set_log_sink (issue 22, item
// 15): the program a runtime built, at info; nothing above the sink's
// level; nothing once the sink is reset; and a sink that throws costs the
// message, not the decode.
TEST(LogSink, AServerSeesWhatEachRuntimeBuiltUpToItsLevel) {
  struct Seen {
    int info_about_mla_decode = 0;
    int above_warn = 0;
  };
  const auto decode_on_a_new_runtime = [] {
    Runtime rt({"opencl", 0});
    RandomMlaSpec spec;
    spec.heads = 16;
    spec.page_size = 32;
    spec.seqlens = {40, 2};
    const MlaProblem p = make_random_problem(spec);
    ServerBuffers b(rt, p, 1, flash_mla_get_workspace_size(rt, p.seqlens, p.rows(), 1));
    flash_mla_decode(rt, b.args);
    const auto cmp = compare_with_reference(b.read(p), reference::mla_decode(p), p.dtype, 512, true);
    EXPECT_TRUE(cmp.pass) << cmp.failure;
  };
  const auto counting = [](Seen& seen) {
    return [&seen](LogLevel level, std::string_view message) {
      seen.info_about_mla_decode += level == LogLevel::info && message.find("mla_decode") != std::string_view::npos;
      seen.above_warn += level > LogLevel::warn;
    };
  };
  Seen at_info, at_warn;
  set_log_sink(counting(at_info), LogLevel::info);
  decode_on_a_new_runtime();
  EXPECT_GE(at_info.info_about_mla_decode, 1) << "the sink never heard which mla_decode program was built";

  set_log_sink(counting(at_warn), LogLevel::warn);
  decode_on_a_new_runtime();
  EXPECT_EQ(at_warn.above_warn, 0) << "a warn sink was handed info messages";

  set_log_sink([](LogLevel, std::string_view) { throw std::runtime_error("the server's logger failed"); },
               LogLevel::debug);
  decode_on_a_new_runtime();  // still decodes, and right

  const Seen before_reset = at_info;
  set_log_sink(counting(at_info), LogLevel::info);
  set_log_sink({});
  decode_on_a_new_runtime();
  EXPECT_EQ(at_info.info_about_mla_decode, before_reset.info_about_mla_decode) << "a reset sink was still called";
}

}  // namespace
}  // namespace zemla
