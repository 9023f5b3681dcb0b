// One test per rule of the decode-argument check (issue 9, item 1): start
// from a valid call, break one thing, and require the exact message that
// names the argument, the index and the value.

#include "ops/mla/mla_decode_checks.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <string>
#include <vector>

#include "host/dtype.hpp"
#include "ops/mla/mla_decode.hpp"
#include "ops/mla/mla_shape.hpp"
#include "zemla/error.hpp"

namespace zemla {
namespace {

struct ValidCall {
  std::vector<std::int32_t> seqlens = {100, 0, 300};
  DecodePlan plan;
  MlaDecodeGeometry g;
  std::vector<std::int32_t> table;

  ValidCall() {
    plan = plan_decode({seqlens, 16, 8, -1});
    g.batch = 3;
    g.heads = 16;
    g.sm_scale = 0.07f;
    g.num_pages = 10;
    g.page_size = 64;
    g.max_pages = 5;
    g.q_nope_stride_h = mla::kLatentDim;
    g.q_nope_stride_b = 16 * mla::kLatentDim;
    g.q_rope_stride_h = mla::kRopeDim;
    g.q_rope_stride_b = 16 * mla::kRopeDim;
    g.kv_stride_token = mla::kRowDim;
    g.kv_stride_page = 64 * mla::kRowDim;
    g.page_table_stride = 5;
    g.out_stride_h = mla::kLatentDim;
    g.out_stride_b = 16 * mla::kLatentDim;
    g.lse_stride_b = 16;
    g.q_nope_bytes = 3 * 16 * mla::kLatentDim * 2;
    g.q_rope_bytes = 3 * 16 * mla::kRopeDim * 2;
    g.kv_cache_bytes = std::int64_t{10} * 64 * mla::kRowDim * 2;
    g.page_table_bytes = 3 * 5 * 4;
    g.out_bytes = g.q_nope_bytes;
    g.lse_bytes = 3 * 16 * 4;
    g.workspace_bytes = static_cast<std::int64_t>(plan.layout.total);
    table = {0, 1, -1, -1, -1, -1, -1, -1, -1, -1, 2, 3, 4, 5, 6};
  }
};

// The message of the error `breaking` causes, or "accepted".
std::string error_after(const std::function<void(ValidCall&)>& breaking) {
  ValidCall c;
  breaking(c);
  try {
    check_mla_decode(c.g, c.plan);
    check_page_table(c.g, c.plan, c.table);
  } catch (const Error& e) {
    EXPECT_EQ(e.result_name(), kInvalidArgument);
    return e.detail();
  }
  return "accepted";
}

// The detail of the kUnsupported refusal of a fused append (new rows) into
// the cache `format` sets up, or "accepted".
std::string fused_append_refusal(const std::function<void(ValidCall&)>& format) {
  ValidCall c;
  format(c);
  c.g.new_rows_stride = mla::kRowDim;
  c.g.new_rows_bytes = 3 * mla::kRowDim * 2;
  try {
    check_mla_decode(c.g, c.plan);
  } catch (const Error& e) {
    EXPECT_EQ(e.result_name(), kUnsupported);
    return e.detail();
  }
  return "accepted";
}

TEST(MlaDecodeChecks, AValidCallPasses) {
  EXPECT_EQ(error_after([](ValidCall&) {}), "accepted");
}

TEST(MlaDecodeChecks, ThePlanMustServeTheKernelsRowsPerWorkGroup) {
  // The stream schedule (nv_mma over an FP8 cache) serves STREAM_ROWS query
  // rows a work-group (16 as built, 32 possible), the tile schedule 16: a
  // plan made for 16 would launch 32-row kernels over head blocks that
  // leave rows unserved or serve them twice.
  const SplitGeometry tile = ops::mla_split_geometry(rt::Variant::portable, KvFormat::same);
  const SplitGeometry stream = ops::mla_split_geometry(rt::Variant::nv_mma, KvFormat::fp8_e4m3);
  EXPECT_EQ(tile.head_block, 16);
  EXPECT_EQ(stream.head_block, mla::kStreamRows);
  EXPECT_EQ(ops::mla_split_geometry(rt::Variant::nv_mma, KvFormat::fp8_e5m2), stream);
  EXPECT_EQ(ops::mla_split_geometry(rt::Variant::nv_mma, KvFormat::fp8_ds_mla), stream);
  EXPECT_EQ(ops::mla_split_geometry(rt::Variant::nv_mma, KvFormat::same), tile);
  for (const auto v : {rt::Variant::portable, rt::Variant::intel_sg, rt::Variant::intel_xmx}) {
    for (const auto f : {KvFormat::same, KvFormat::fp8_e4m3, KvFormat::fp8_ds_mla}) {
      EXPECT_EQ(ops::mla_split_geometry(v, f), tile);
    }
  }
  const SplitGeometry rows32{32, tile.tile, tile.value_dim};
  ValidCall c;
  EXPECT_NO_THROW(check_mla_decode(c.g, c.plan, tile));
  try {
    check_mla_decode(c.g, c.plan, rows32);
    ADD_FAILURE() << "a plan of 16-row head blocks was accepted for 32-row kernels";
  } catch (const Error& e) {
    EXPECT_EQ(e.detail(), "the plan was made for another split geometry (plan with MlaDecoder::plan)");
  }
  // Two query tokens of 16 heads: one 32-row block, so one read of the KV.
  c.plan = plan_decode({c.seqlens, 32, 8, -1, rows32});
  EXPECT_EQ(c.plan.head_blocks, 1);
  EXPECT_EQ(plan_decode({c.seqlens, 32, 8, -1, tile}).head_blocks, 2);
}

TEST(MlaDecodeChecks, ShapesMustAgreeWithThePlan) {
  EXPECT_EQ(error_after([](ValidCall& c) { c.g.batch = 4; }), "batch 4 differs from the plan's 3");
  EXPECT_EQ(error_after([](ValidCall& c) { c.g.heads = 0; }), "heads 0 must be positive");
  EXPECT_EQ(error_after([](ValidCall& c) { c.g.heads = 8; }), "heads 8 differs from the plan's 16");
  // A plan made for GQA's tiles and row width cannot drive the MLA kernels.
  EXPECT_EQ(error_after([](ValidCall& c) {
              c.plan = plan_decode({c.seqlens, 16, 8, -1, {2, 64, 128}});
            }),
            "the plan was made for another split geometry (plan with MlaDecoder::plan)");
  EXPECT_EQ(error_after([](ValidCall& c) { c.g.max_pages = 0; }), "max_pages 0 must be positive");
}

TEST(MlaDecodeChecks, StridesMustBeConsistent) {
  EXPECT_EQ(error_after([](ValidCall& c) { c.g.kv_stride_token = 570; }), "kv_stride_token 570 must be in [576, 2^40]");
  EXPECT_EQ(error_after([](ValidCall& c) { c.g.kv_stride_token = 580; }),
            "kv_stride_token 580 must be a multiple of 8");
  EXPECT_EQ(error_after([](ValidCall& c) { c.g.kv_stride_page = 1000; }),
            "kv_stride_page 1000 must be in [36864, 2^40]");
  EXPECT_EQ(error_after([](ValidCall& c) { c.g.out_stride_b = 512; }), "out_stride_b 512 must be in [8192, 2^40]");
  EXPECT_EQ(error_after([](ValidCall& c) { c.g.q_nope_stride_h = -1; }), "q_nope_stride_h -1 must be in [0, 2^40]");
  EXPECT_EQ(error_after([](ValidCall& c) { c.g.page_table_stride = 4; }), "page_table_stride 4 must be in [5, 2^40]");
  EXPECT_EQ(error_after([](ValidCall& c) { c.g.lse_stride_b = 15; }), "lse_stride_b 15 must be in [16, 2^40]");
}

// An FP8 cache: a positive finite scale, 16-byte aligned rows of 1-byte
// values, buffer sizes in bytes; a 16-bit cache takes no scale.
TEST(MlaDecodeChecks, AnFp8CacheHasItsOwnRules) {
  auto fp8 = [](ValidCall& c) {
    c.g.kv_format = KvFormat::fp8_e4m3;
    c.g.kv_scale = 0.01f;
    c.g.kv_cache_bytes /= 2;
  };
  EXPECT_EQ(error_after(fp8), "accepted");
  for (const float bad : {0.0f, -1.0f, NAN, INFINITY}) {
    EXPECT_EQ(error_after([&](ValidCall& c) {
                fp8(c);
                c.g.kv_scale = bad;
              }),
              "kv_scale " + std::to_string(bad) + " of the fp8_e4m3 cache must be a positive finite number");
  }
  EXPECT_EQ(error_after([&](ValidCall& c) {
              fp8(c);
              c.g.kv_stride_token = 584;
            }),
            "kv_stride_token 584 must be a multiple of 16");
  EXPECT_EQ(error_after([&](ValidCall& c) {
              fp8(c);
              c.g.kv_cache_bytes -= 1;
            }),
            "kv_cache holds 368639 bytes; its shape and strides need 368640");
  EXPECT_EQ(error_after([](ValidCall& c) { c.g.kv_scale = 2.0f; }),
            "kv_scale 2.000000 given for a 16-bit cache; only an fp8_e4m3 or fp8_e5m2 cache has a layer scale; it "
            "must be 1");
  // The fused append writes 16-bit rows only.
  const std::string refusal = fused_append_refusal(fp8);
  EXPECT_NE(refusal.find("fused kv_append does not write an fp8_e4m3 cache"), std::string::npos) << refusal;
}

// fp8_ds_mla: 656-byte rows, 16-byte aligned, no layer scale, no fused append.
TEST(MlaDecodeChecks, AnFp8DsMlaCacheHasItsOwnRules) {
  // The valid call's pool in 656-byte rows instead of 576 16-bit values.
  const std::int64_t ds_bytes = ValidCall().g.kv_cache_bytes / (2 * 576) * 656;
  auto ds = [&](ValidCall& c) {
    c.g.kv_format = KvFormat::fp8_ds_mla;
    c.g.kv_stride_token = 656;
    c.g.kv_stride_page = 656 * c.g.page_size;
    c.g.kv_cache_bytes = ds_bytes;
  };
  EXPECT_EQ(error_after(ds), "accepted");
  EXPECT_EQ(error_after([&](ValidCall& c) {
              ds(c);
              c.g.kv_stride_token = 576;
            }),
            "kv_stride_token 576 must be in [656, 2^40]");
  EXPECT_EQ(error_after([&](ValidCall& c) {
              ds(c);
              c.g.kv_stride_token = 664;
              c.g.kv_stride_page = 664 * c.g.page_size;
            }),
            "kv_stride_token 664 must be a multiple of 16");
  EXPECT_EQ(error_after([&](ValidCall& c) {
              ds(c);
              c.g.kv_cache_bytes -= 1;
            }),
            "kv_cache holds " + std::to_string(ds_bytes - 1) + " bytes; its shape and strides need " +
                std::to_string(ds_bytes));
  EXPECT_EQ(error_after([&](ValidCall& c) {
              ds(c);
              c.g.kv_scale = 0.5f;
            }),
            "kv_scale 0.500000 given for an fp8_ds_mla cache, whose scales are in its rows; it must be 1");
  const std::string refusal = fused_append_refusal(ds);
  EXPECT_NE(refusal.find("fused kv_append does not write an fp8_ds_mla cache"), std::string::npos) << refusal;
}

TEST(MlaDecodeChecks, DtypeMustBeSupported) {
  try {
    parse_dtype("fp8");
    FAIL() << "fp8 accepted";
  } catch (const Error& e) {
    EXPECT_NE(e.detail().find("fp8"), std::string::npos) << e.detail();
  }
}

TEST(MlaDecodeChecks, PageSizeMustBeAnMlaDecodePageSize) {
  EXPECT_EQ(error_after([](ValidCall& c) { c.g.page_size = 48; }),
            "page_size 48 is not an MLA decode page size (16, 32, 64 or 128)");
}

TEST(MlaDecodeChecks, SeqlensMustFitThePageTable) {
  EXPECT_EQ(error_after([](ValidCall& c) {
              c.seqlens[2] = 321;
              c.plan = plan_decode({c.seqlens, 16, 8, -1});
              c.g.workspace_bytes = static_cast<std::int64_t>(c.plan.layout.total);
            }),
            "cache_seqlens[2] = 321 exceeds max_pages * page_size = 320");
  ValidCall c;
  c.seqlens[1] = -3;
  try {
    plan_decode({c.seqlens, 16, 8, -1});
    FAIL() << "a negative length was planned";
  } catch (const Error& e) {
    EXPECT_EQ(e.detail(), "cache_seqlens[1] = -3 is negative");
  }
}

TEST(MlaDecodeChecks, PageTableEntriesMustBeInThePool) {
  EXPECT_EQ(error_after([](ValidCall& c) { c.table[1] = 10; }),
            "page_table[0, 1] = 10 is outside [0, num_pages = 10) and request 0 reads that page");
  EXPECT_EQ(error_after([](ValidCall& c) { c.table[14] = -1; }),
            "page_table[2, 4] = -1 is outside [0, num_pages = 10) and request 2 reads that page");
  // Entries past a request's length are not read, so they may hold anything.
  EXPECT_EQ(error_after([](ValidCall& c) { c.table[2] = 12345; }), "accepted");
}

TEST(MlaDecodeChecks, WorkspaceMustHoldThePlan) {
  EXPECT_EQ(error_after([](ValidCall& c) { c.g.workspace_bytes = 100; }),
            "workspace holds 100 bytes; its shape and strides need " + std::to_string(ValidCall().plan.layout.total));
}

TEST(MlaDecodeChecks, NumKvSplitsMustBeSane) {
  ValidCall c;
  for (int bad : {0, -2, 257}) {
    try {
      plan_decode({c.seqlens, 16, 8, bad});
      FAIL() << "num_kv_splits " << bad << " accepted";
    } catch (const Error& e) {
      EXPECT_EQ(e.detail(), "num_kv_splits " + std::to_string(bad) + " must be -1 (auto) or in [1, 256]");
    }
  }
}

TEST(MlaDecodeChecks, BuffersMustExistAndBeLargeEnough) {
  EXPECT_EQ(error_after([](ValidCall& c) { c.g.q_nope_bytes = MlaDecodeGeometry::kNoBuffer; }),
            "q_nope is null; a device buffer is required");
  EXPECT_EQ(error_after([](ValidCall& c) { c.g.kv_cache_bytes -= 2; }),
            "kv_cache holds 737278 bytes; its shape and strides need 737280");
  EXPECT_EQ(error_after([](ValidCall& c) { c.g.out_bytes = 10; }),
            "out holds 10 bytes; its shape and strides need 49152");
  // lse is optional: absent is fine, present must be large enough.
  EXPECT_EQ(error_after([](ValidCall& c) { c.g.lse_bytes = MlaDecodeGeometry::kNoBuffer; }), "accepted");
  EXPECT_EQ(error_after([](ValidCall& c) { c.g.lse_bytes = 4; }), "lse holds 4 bytes; its shape and strides need 192");
}

TEST(MlaDecodeChecks, SmScaleMustBePositiveAndFinite) {
  EXPECT_EQ(error_after([](ValidCall& c) { c.g.sm_scale = std::nanf(""); }),
            "sm_scale nan must be a positive finite number");
  EXPECT_EQ(error_after([](ValidCall& c) { c.g.sm_scale = -1; }),
            "sm_scale -1.000000 must be a positive finite number");
}

// The fused append's rows (MlaDecodeArgs::new_rows): optional, whole
// 16-byte vectors per row, one row per request, and every request must hold
// its new token (the valid call has an empty request).
TEST(MlaDecodeChecks, NewRowsMustCoverEveryRequestsNewToken) {
  const auto with_rows = [](ValidCall& c) {
    c.g.new_rows_stride = mla::kRowDim;
    c.g.new_rows_bytes = 3 * mla::kRowDim * 2;
  };
  EXPECT_EQ(error_after(with_rows),
            "request 1 has length 0; appending its new row needs a length of at least 1 (the new token)");
  const auto no_empty = [&](ValidCall& c) {
    with_rows(c);
    c.seqlens[1] = 1;
    c.plan = plan_decode({c.seqlens, 16, 8, -1});
    c.g.workspace_bytes = static_cast<std::int64_t>(c.plan.layout.total);
    c.table[5] = 7;  // request 1's page for its token
  };
  EXPECT_EQ(error_after(no_empty), "accepted");
  EXPECT_EQ(error_after([&](ValidCall& c) {
              no_empty(c);
              c.g.new_rows_stride = 580;
            }),
            "new_rows_stride 580 must be a multiple of 8");
  EXPECT_EQ(error_after([&](ValidCall& c) {
              no_empty(c);
              c.g.new_rows_bytes -= 2;
            }),
            "new_rows holds 3454 bytes; its shape and strides need 3456");
}

// Multi-token decode: the 16 rows are q_len tokens x 16 / q_len heads, and a
// request holds at least its q_len query tokens (or none).
TEST(MlaDecodeChecks, MultiTokenDecodeHasItsOwnRules) {
  EXPECT_EQ(error_after([](ValidCall& c) { c.g.q_len = 4; }), "accepted");
  EXPECT_EQ(error_after([](ValidCall& c) { c.g.q_len = 8; }), "accepted");
  EXPECT_EQ(error_after([](ValidCall& c) { c.g.q_len = 0; }), "q_len 0 must be 1 to 8 (query tokens per request)");
  EXPECT_EQ(error_after([](ValidCall& c) { c.g.q_len = 16; }), "q_len 16 must be 1 to 8 (query tokens per request)");
  EXPECT_EQ(error_after([](ValidCall& c) { c.g.q_len = 3; }),
            "q_len 3 does not divide the 16 query rows (q_len x heads)");
  EXPECT_EQ(error_after([](ValidCall& c) {
              c.g.q_len = 4;
              c.seqlens[0] = 3;
              c.plan = plan_decode({c.seqlens, 16, 8, -1});
              c.g.workspace_bytes = static_cast<std::int64_t>(c.plan.layout.total);
            }),
            "request 0 has length 3, fewer than its 4 query tokens (which are its last tokens)");
  // The fused append writes one row per request: refused, not misread.
  ValidCall c;
  c.g.q_len = 2;
  c.g.new_rows_stride = mla::kRowDim;
  c.g.new_rows_bytes = 3 * mla::kRowDim * 2;
  try {
    check_mla_decode(c.g, c.plan);
    ADD_FAILURE() << "new rows with q_len 2 were accepted";
  } catch (const Error& e) {
    EXPECT_EQ(e.result_name(), kUnsupported);
    EXPECT_NE(e.detail().find("one token per request, not q_len 2"), std::string::npos) << e.detail();
  }
}

}  // namespace
}  // namespace zemla
