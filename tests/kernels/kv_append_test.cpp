#include "ops/kv_append/kv_append.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <limits>
#include <random>

#include "host/page_pool.hpp"
#include "kernels/device_fixture.hpp"
#include "ops/mla/mla_shape.hpp"
#include "validation/hw_suite.hpp"
#include "zemla/error.hpp"

namespace zemla {
namespace {

// New rows land in exactly the slots the page pool computed; every other
// value of the cache is untouched, including for an out-of-range slot. Row
// widths: MLA's latent row, then GQA K/V rows (kv_heads x head_dim) of
// 1 x 64, 8 x 128 and 2 x 256.
class KvAppendRows : public ::testing::TestWithParam<int> {};

TEST_P(KvAppendRows, WritesRowsIntoPoolSlotsAndNothingElse) {
  rt::Device& device = testing::test_device();
  const int num_pages = 6, page_size = 16;
  PagePool pool(num_pages, page_size);
  for (int id : {1, 2}) pool.add_request(id);
  pool.append_tokens(1, 10);
  pool.append_tokens(2, 16);
  std::vector<std::int64_t> slots64 = pool.append_tokens(1, 7);  // crosses into request 1's second page
  const auto more = pool.append_tokens(2, 1);                    // starts request 2's second page
  slots64.insert(slots64.end(), more.begin(), more.end());
  std::vector<std::int32_t> slots(slots64.begin(), slots64.end());
  slots.push_back(num_pages * page_size + 3);  // out of range: must be skipped
  slots.push_back(-1);                         // likewise
  EXPECT_EQ(validation::kv_append_mismatches(device, num_pages, page_size, GetParam(), slots, 2), 0u);
}

INSTANTIATE_TEST_SUITE_P(Widths, KvAppendRows, ::testing::Values(mla::kRowDim, 64, 1024, 512),
                         [](const auto& info) { return "row" + std::to_string(info.param); });

// Into an FP8 cache: every 16-bit pattern of the rows' dtype (128 MLA rows
// cover all 65536) quantized as host/fp8.hpp's quantize_fp8 does, bit for
// bit: ties to even, saturation, subnormals, NaN and infinity, the sign of
// zeros and NaNs; with a scale of 1, a power of two and one whose
// reciprocal rounds.
struct Fp8AppendCase {
  DType dtype;
  KvFormat kv_format;
  float kv_scale;
};

class KvAppendFp8 : public ::testing::TestWithParam<Fp8AppendCase> {};

TEST_P(KvAppendFp8, QuantizesEveryPatternAsTheHostDoes) {
  rt::Device& device = testing::test_device();
  const int num_pages = 9, page_size = 16;
  // Every slot of pages 1..8 in a shuffled order, and one out of range.
  std::vector<std::int32_t> slots;
  for (int s = page_size; s < num_pages * page_size; ++s) slots.push_back(s);
  std::shuffle(slots.begin(), slots.end(), std::mt19937(7));
  slots.push_back(num_pages * page_size);
  const auto& c = GetParam();
  EXPECT_EQ(validation::kv_append_mismatches(device, num_pages, page_size, mla::kRowDim, slots, 3,
                                             {c.dtype, c.kv_format, c.kv_scale}),
            0u);
}

INSTANTIATE_TEST_SUITE_P(Formats, KvAppendFp8,
                         ::testing::Values(Fp8AppendCase{DType::bf16, KvFormat::fp8_e4m3, 1.0f},
                                           Fp8AppendCase{DType::bf16, KvFormat::fp8_e4m3, 0.037f},
                                           Fp8AppendCase{DType::bf16, KvFormat::fp8_e5m2, 0.0625f},
                                           Fp8AppendCase{DType::f16, KvFormat::fp8_e4m3, 0.037f},
                                           Fp8AppendCase{DType::f16, KvFormat::fp8_e5m2, 1.0f},
                                           Fp8AppendCase{DType::f16, KvFormat::fp8_e5m2, 3.3f}),
                         [](const auto& info) {
                           const auto& c = info.param;
                           std::string scale = std::to_string(c.kv_scale);
                           std::replace(scale.begin(), scale.end(), '.', '_');
                           return std::string(dtype_name(c.dtype)) + "_" + std::string(kv_format_name(c.kv_format)) +
                                  "_scale" + scale;
                         });

// The wrong scale (the cache's scale where its reciprocal is due) is caught:
// the comparison above can fail.
TEST(KvAppendFp8SelfCheck, AWrongScaleIsSeen) {
  rt::Device& device = testing::test_device();
  auto cache = device.allocate(16 * mla::kRowDim);
  std::vector<std::uint16_t> row(mla::kRowDim);
  for (int k = 0; k < mla::kRowDim; ++k) row[std::size_t(k)] = from_float(DType::bf16, 0.25f * float(k % 64 - 32));
  auto rows = device.upload_vector(row);
  auto slots = device.upload_vector(std::vector<std::int32_t>{5});
  ops::KvAppendArgs a{cache.get(), 1, 16, 0, 0, rows.get(), 0, slots.get(), 1, mla::kRowDim, 4.0f};
  ops::KvAppender(device, DType::bf16, KvFormat::fp8_e4m3).run(a);
  std::vector<std::uint8_t> got(16 * mla::kRowDim);
  device.read(*cache, got.data(), got.size());
  int right = 0, wrong_rule = 0;
  for (int k = 0; k < mla::kRowDim; ++k) {
    const float x = to_float(DType::bf16, row[std::size_t(k)]);
    const std::uint8_t b = got[std::size_t(5 * mla::kRowDim + k)];
    right += b == quantize_fp8(KvFormat::fp8_e4m3, x, 0.25f);
    wrong_rule += b == quantize_fp8(KvFormat::fp8_e4m3, x, 4.0f) && x != 0.0f;
  }
  EXPECT_EQ(right, mla::kRowDim);
  EXPECT_EQ(wrong_rule, 0);
}

TEST(KvAppend, RejectsABadScaleByName) {
  rt::Device& device = testing::test_device();
  auto cache = device.allocate(16 * mla::kRowDim * 2);
  auto rows = device.allocate(mla::kRowDim * 2);
  auto slots = device.upload_vector(std::vector<std::int32_t>{0});
  for (const float bad : {0.0f, -1.0f, std::numeric_limits<float>::infinity()}) {
    ops::KvAppendArgs a{cache.get(), 1, 16, 0, 0, rows.get(), 0, slots.get(), 1, mla::kRowDim, bad};
    try {
      ops::KvAppender(device, DType::bf16, KvFormat::fp8_e5m2).run(a);
      ADD_FAILURE() << "kv_scale " << bad << " was accepted";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("must be positive and finite"), std::string::npos) << e.what();
    }
  }
  ops::KvAppendArgs a{cache.get(), 1, 16, 0, 0, rows.get(), 0, slots.get(), 1, mla::kRowDim, 2.0f};
  try {
    ops::KvAppender(device).run(a);
    ADD_FAILURE() << "a scale for a 16-bit cache was accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("must be 1 for a 16-bit cache"), std::string::npos) << e.what();
  }
}

TEST(KvAppend, RejectsUndersizedBuffersByName) {
  rt::Device& device = testing::test_device();
  auto cache = device.allocate(16 * mla::kRowDim * 2);
  auto rows = device.allocate(mla::kRowDim * 2);
  auto slots = device.allocate(4);
  ops::KvAppender appender(device);
  try {
    appender.run({cache.get(), 1, 16, 0, 0, rows.get(), 0, slots.get(), 2, mla::kRowDim});
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("rows"), std::string::npos) << e.what();
  }
  try {
    appender.run({cache.get(), 1, 16, 0, 0, rows.get(), 0, slots.get(), 1, 100});
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("row_values 100 must be a positive multiple of 8"), std::string::npos)
        << e.what();
  }
}

}  // namespace
}  // namespace zemla
