#include "ops/kv_append/kv_append.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
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

// One bf16 MLA row appended at `slot` of a 16-slot FP8 cache of `format`,
// read back: the slot's bytes.
std::vector<std::uint8_t> append_one_row(KvFormat format, const std::vector<std::uint16_t>& row, int slot,
                                         float kv_scale) {
  rt::Device& device = testing::test_device();
  const int row_bytes = mla_row_bytes(format);
  auto cache = device.allocate(std::size_t(16) * row_bytes);
  auto rows = device.upload_vector(row);
  auto slots = device.upload_vector(std::vector<std::int32_t>{slot});
  ops::KvAppendArgs a{cache.get(), 1, 16, 0, 0, rows.get(), 0, slots.get(), 1, mla::kRowDim, kv_scale};
  ops::KvAppender(device, DType::bf16, format).run(a);
  std::vector<std::uint8_t> got(std::size_t(16) * row_bytes);
  device.read(*cache, got.data(), got.size());
  return {got.begin() + std::ptrdiff_t(slot) * row_bytes, got.begin() + std::ptrdiff_t(slot + 1) * row_bytes};
}

// The wrong scale (the cache's scale where its reciprocal is due) is caught:
// the comparison above can fail.
TEST(KvAppendFp8SelfCheck, AWrongScaleIsSeen) {
  std::vector<std::uint16_t> row(mla::kRowDim);
  for (int k = 0; k < mla::kRowDim; ++k) row[std::size_t(k)] = from_float(DType::bf16, 0.25f * float(k % 64 - 32));
  const auto got = append_one_row(KvFormat::fp8_e4m3, row, 5, 4.0f);
  int right = 0, wrong_rule = 0;
  for (int k = 0; k < mla::kRowDim; ++k) {
    const float x = to_float(DType::bf16, row[std::size_t(k)]);
    const std::uint8_t b = got[std::size_t(k)];
    right += b == quantize_fp8(KvFormat::fp8_e4m3, x, 0.25f);
    wrong_rule += b == quantize_fp8(KvFormat::fp8_e4m3, x, 4.0f) && x != 0.0f;
  }
  EXPECT_EQ(right, mla::kRowDim);
  EXPECT_EQ(wrong_rule, 0);
}

// fp8_ds_mla: kv_append finds each 128-value block's largest finite
// magnitude, divides it by 448 for the block's scale and each value by the
// scale (div_rn, kernels_spirv/common/fp8.clh), bit for bit as
// host/fp8.hpp's quantize_ds_mla_row. Blocks peak at every bf16 mantissa,
// at exponents from bf16's subnormals through FLT_MIN's (the scale's floor)
// to its largest, the other values below the peak; a block of zeros; then
// rows that walk every 16-bit pattern (NaNs, infinities, subnormals).
TEST(KvAppendDsMla, QuantizesAsTheHostDoes) {
  rt::Device& device = testing::test_device();
  std::vector<std::uint16_t> rows;
  std::mt19937 rng(11);
  std::uniform_real_distribution<float> below(0.0f, 1.0f);
  auto push_block = [&](float amax) {
    for (int i = 0; i < mla::kDsBlock; ++i) {
      const float v = i == 0 ? amax : amax * below(rng);
      rows.push_back(float_to_bf16(rng() % 2 ? v : -v));
    }
    if (rows.size() % mla::kRowDim == mla::kLatentDim) {  // the rope, any bits
      for (int i = 0; i < mla::kRopeDim; ++i) rows.push_back(static_cast<std::uint16_t>(rng()));
    }
  };
  push_block(0.0f);
  for (int e : {-133, -127, -126, -125, -118, -100, -40, -7, -1, 0, 1, 3, 9, 40, 100, 120, 126, 127}) {
    for (int m = 0; m < 128; ++m) push_block(std::ldexp(1.0f + m / 128.0f, e));
  }
  while (rows.size() % mla::kRowDim != 0) push_block(1.0f);
  const int n = static_cast<int>(rows.size() / mla::kRowDim);
  const int page_size = 64, num_pages = n / page_size + 2;
  std::vector<std::int32_t> slots(std::size_t(n), 0);
  for (int r = 0; r < n; ++r) slots[std::size_t(r)] = page_size + r;  // from page 1 on
  const validation::KvAppendFormat ds{DType::bf16, KvFormat::fp8_ds_mla, 1.0f};
  EXPECT_EQ(validation::kv_append_mismatches(device, num_pages, page_size, mla::kRowDim, slots, 4, ds, rows), 0u)
      << n << " rows of peaked blocks";
  std::vector<std::int32_t> walk;
  for (int s = 16; s < 16 + 128; ++s) walk.push_back(s);
  walk.push_back(9 * 16);  // past the pool: skipped
  EXPECT_EQ(validation::kv_append_mismatches(device, 9, 16, mla::kRowDim, walk, 3, ds), 0u) << "every 16-bit pattern";
}

// The comparison can fail: a row whose scales were taken over the whole
// row instead of its blocks (the layer-scale rule) differs from what the
// kernel wrote.
TEST(KvAppendDsMlaSelfCheck, OneScaleForTheWholeRowIsSeen) {
  std::vector<std::uint16_t> row(mla::kRowDim);
  for (int k = 0; k < mla::kRowDim; ++k)
    row[std::size_t(k)] = float_to_bf16(0.01f * float(k % 97 - 48) * (k / 128 + 1));
  const auto got = append_one_row(KvFormat::fp8_ds_mla, row, 3, 1.0f);
  std::vector<std::uint8_t> right(mla::kDsRowBytes);
  quantize_ds_mla_row(row.data(), right.data());
  EXPECT_EQ(got, right);
  float amax = 0.0f;
  for (int k = 0; k < mla::kLatentDim; ++k) amax = std::max(amax, std::fabs(bf16_to_float(row[std::size_t(k)])));
  int same = 0;
  for (int k = 0; k < mla::kLatentDim; ++k) {
    same += got[std::size_t(k)] ==
            float_to_fp8(KvFormat::fp8_e4m3, bf16_to_float(row[std::size_t(k)]) / ds_mla_block_scale(amax));
  }
  EXPECT_LT(same, mla::kLatentDim * 3 / 4) << "one scale per row gives the kernel's bytes";
}

TEST(KvAppendDsMla, RefusesAScaleOtherRowsAndMisalignedStridesByName) {
  rt::Device& device = testing::test_device();
  auto cache = device.allocate(16 * mla::kDsRowBytes + 64);
  auto rows = device.allocate(mla::kRowDim * 2);
  auto slots = device.upload_vector(std::vector<std::int32_t>{0});
  ops::KvAppender appender(device, DType::bf16, KvFormat::fp8_ds_mla);
  const auto refused = [&](ops::KvAppendArgs a, const std::string& expect) {
    try {
      appender.run(a);
      ADD_FAILURE() << "accepted; expected: " << expect;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(expect), std::string::npos) << e.what();
    }
  };
  refused({cache.get(), 1, 16, 0, 0, rows.get(), 0, slots.get(), 1, mla::kRowDim, 0.5f},
          "kv_scale 0.500000 must be 1 for an fp8_ds_mla cache");
  refused({cache.get(), 1, 16, 0, 0, rows.get(), 0, slots.get(), 1, 512, 1.0f}, "row_values 512 for an fp8_ds_mla");
  refused({cache.get(), 1, 16, 0, 660, rows.get(), 0, slots.get(), 1, mla::kRowDim, 1.0f},
          "kv_stride_token 660 and kv_stride_page 10560 of an fp8_ds_mla cache must be multiples of 16");
  try {
    ops::KvAppender(device, DType::f16, KvFormat::fp8_ds_mla);
    ADD_FAILURE() << "f16 rows into an fp8_ds_mla cache were accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("fp8_ds_mla keeps its rope values in bf16"), std::string::npos) << e.what();
  }
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
