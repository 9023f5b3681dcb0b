// A recorded layer (kv_append + both decode stages, recorded once) replayed
// over steps whose batch, lengths and split plan all change: every replay
// must give exactly the plain launches' bits, and the append must land in
// its slots. Plain decodes run between replays with other buffers, so a
// recording that followed the kernels' current arguments would fail.

#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <set>

#include "host/compare.hpp"
#include "host/reference.hpp"
#include "kernels/device_fixture.hpp"
#include "runtime/ops/kv_append.hpp"
#include "runtime/ops/mla_runner.hpp"
#include "zemla/error.hpp"

namespace zemla {
namespace {

constexpr int kMaxBatch = 4;
constexpr int kHeads = 24;  // two head blocks, the second partial
constexpr int kPageSize = 16;
constexpr int kMaxPages = 40;           // 640 tokens per request
constexpr int kSparePages = kMaxBatch;  // unused pages, where the appends go
constexpr int kPoolPages = kMaxBatch * kMaxPages + kSparePages;
constexpr std::size_t kAppendSlot = ops::MlaDecoder::kCountSlots;

// The buffers of one recorded layer, sized for the largest step.
struct FixedLayer {
  explicit FixedLayer(rt::Device& d)
      : device(d),
        decoder(d, DType::bf16),
        appender(d),
        max_splits(max_total_splits(std::int64_t{kMaxPages} * kPageSize, kMaxBatch, kHeads,
                                    std::max(1, d.info().compute_units), -1)),
        q_nope(d.allocate(std::size_t(kMaxBatch) * kHeads * mla::kLatentDim * 2)),
        q_rope(d.allocate(std::size_t(kMaxBatch) * kHeads * mla::kRopeDim * 2)),
        kv(d.allocate(std::size_t(kPoolPages) * kPageSize * mla::kRowDim * 2)),
        table(d.allocate(std::size_t(kMaxBatch) * kMaxPages * 4)),
        out(d.allocate(std::size_t(kMaxBatch) * kHeads * mla::kLatentDim * 2)),
        lse(d.allocate(std::size_t(kMaxBatch) * kHeads * 4)),
        rows(d.allocate(std::size_t(kMaxBatch) * mla::kRowDim * 2)),
        slots(d.allocate(std::size_t(kMaxBatch) * 4)),
        counts(d, ops::MlaDecoder::kCountSlots + 1) {
    // The capacity plan: the largest batch at the longest length.
    DecodePlan capacity = decoder.plan(std::vector<std::int32_t>(kMaxBatch, kMaxPages * kPageSize), kHeads);
    place_in_fixed_layout(capacity, max_splits, kMaxBatch);
    workspace = d.allocate(capacity.layout.total);

    auto recorder = d.record();
    ops::KvAppendArgs append;
    append.kv_cache = kv.get();
    append.num_pages = kPoolPages;
    append.page_size = kPageSize;
    append.rows = rows.get();
    append.slots = slots.get();
    append.num_rows = kMaxBatch;
    appender.record(*recorder, counts, kAppendSlot, append);
    decoder.record(*recorder, counts, args(kMaxBatch), capacity, *workspace);
    recording = recorder->close();
  }

  ops::MlaDecodeArgs args(int batch) const {
    ops::MlaDecodeArgs a;
    a.batch = batch;
    a.heads = kHeads;
    a.sm_scale = default_sm_scale();
    a.num_pages = kPoolPages;
    a.page_size = kPageSize;
    a.max_pages = kMaxPages;
    a.q_nope = q_nope.get();
    a.q_rope = q_rope.get();
    a.kv_cache = kv.get();
    a.page_table = table.get();
    a.out = out.get();
    a.lse = lse.get();
    a.set_contiguous_strides();
    return a;
  }

  rt::Device& device;
  ops::MlaDecoder decoder;
  ops::KvAppender appender;
  std::int64_t max_splits;
  std::unique_ptr<rt::Buffer> q_nope, q_rope, kv, table, out, lse, rows, slots, workspace;
  rt::LaunchCounts counts;
  std::unique_ptr<rt::Recording> recording;
};

// Pages of `p` that no request reads: where the test's appends go.
std::vector<int> unused_pages(const MlaProblem& p) {
  std::set<int> used;
  for (int b = 0; b < p.batch; ++b) {
    for (int i = 0; i < (p.seqlens[b] + p.page_size - 1) / p.page_size; ++i)
      used.insert(p.page_table[b * p.max_pages + i]);
  }
  std::vector<int> free;
  for (int page = 0; page < p.num_pages; ++page) {
    if (!used.count(page)) free.push_back(page);
  }
  return free;
}

TEST(RecordedDecode, ReplaysGiveThePlainLaunchesBitsAsStepsChange) {
  rt::Device& device = testing::test_device();
  FixedLayer layer(device);
  const std::vector<std::vector<std::int32_t>> steps = {
      {300, 17, 0},       // splits and a combine
      {5},                // one request, no combine
      {640, 600, 1, 16},  // the full batch at the longest length
      {15, 16, 17, 33},   // page edges, no split
  };
  for (std::size_t s = 0; s < steps.size(); ++s) {
    SCOPED_TRACE("step " + std::to_string(s));
    RandomMlaSpec spec;
    spec.heads = kHeads;
    spec.page_size = kPageSize;
    spec.seqlens = steps[s];
    spec.seed = 100 + s;
    spec.spare_pages = kSparePages;
    const MlaProblem p = make_random_problem(spec);
    ASSERT_LE(p.num_pages, kPoolPages);

    // This step's inputs into the recorded buffers: the page table at the
    // fixed width, unused entries -1.
    std::vector<std::int32_t> table(std::size_t(p.batch) * kMaxPages, -1);
    for (int b = 0; b < p.batch; ++b) {
      std::copy_n(p.page_table.begin() + std::size_t(b) * p.max_pages, std::min(p.max_pages, kMaxPages),
                  table.begin() + std::size_t(b) * kMaxPages);
    }
    device.write_vector(*layer.q_nope, p.q_nope);
    device.write_vector(*layer.q_rope, p.q_rope);
    device.write_vector(*layer.kv, p.kv_cache);
    device.write_vector(*layer.table, table);
    const auto spare = unused_pages(p);
    ASSERT_GE(spare.size(), static_cast<std::size_t>(p.batch));
    std::vector<std::int32_t> slots;
    std::vector<std::uint16_t> rows(std::size_t(p.batch) * mla::kRowDim);
    for (int b = 0; b < p.batch; ++b) slots.push_back(spare[b] * kPageSize + (b + static_cast<int>(s)) % kPageSize);
    for (std::size_t i = 0; i < rows.size(); ++i) rows[i] = static_cast<std::uint16_t>(0x3f00 + (i * 7 + s) % 251);
    device.write_vector(*layer.slots, slots);
    device.write_vector(*layer.rows, rows);

    DecodePlan plan = layer.decoder.plan(p.seqlens, kHeads);
    place_in_fixed_layout(plan, layer.max_splits, kMaxBatch);
    layer.decoder.upload_plan(plan, *layer.workspace);
    ops::MlaDecoder::set_counts(layer.counts, plan);
    ops::KvAppender::set_count(layer.counts, kAppendSlot, p.batch);
    layer.counts.upload();
    layer.recording->replay();

    // The plain path on its own buffers, between this replay and the next.
    const auto plain = ops::run_mla_problem(device, p, {-1, 0, 0, true});
    device.finish();

    std::vector<std::uint16_t> out_bits(p.q_nope.size());
    std::vector<float> lse(std::size_t(p.batch) * kHeads);
    device.read(*layer.out, out_bits.data(), out_bits.size() * 2);
    device.read(*layer.lse, lse.data(), lse.size() * 4);
    MlaResult recorded;
    for (auto bits : out_bits) recorded.out.push_back(to_float(DType::bf16, bits));
    recorded.lse = lse;
    ASSERT_EQ(plain.plan.total_splits(), plan.total_splits());
    for (std::size_t i = 0; i < recorded.out.size(); ++i) {
      ASSERT_EQ(std::memcmp(&recorded.out[i], &plain.result.out[i], sizeof(float)), 0) << "out element " << i;
    }
    for (std::size_t i = 0; i < lse.size(); ++i) {
      ASSERT_EQ(std::memcmp(&lse[i], &plain.result.lse[i], sizeof(float)), 0) << "lse element " << i;
    }
    const auto cmp = compare_with_reference(recorded, reference::mla_decode(p), DType::bf16, mla::kLatentDim, true);
    EXPECT_TRUE(cmp.pass) << cmp.failure;

    // The recorded append wrote each row to its slot.
    for (int b = 0; b < p.batch; ++b) {
      std::vector<std::uint16_t> row(mla::kRowDim);
      device.read(*layer.kv, row.data(), row.size() * 2, std::size_t(slots[b]) * mla::kRowDim * 2);
      ASSERT_TRUE(std::equal(row.begin(), row.end(), rows.begin() + std::size_t(b) * mla::kRowDim)) << "row " << b;
    }
  }
}

TEST(RecordedDecode, LaunchCountsRefuseAnEmptyLaunchAndABadSlot) {
  rt::LaunchCounts counts(testing::test_device(), 2);
  try {
    counts.set(0, {0, 1, 1});
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("group count 0x1x1 must be positive"), std::string::npos) << e.what();
  }
  EXPECT_THROW(counts.set(2, {1, 1, 1}), Error);
  auto recorder = testing::test_device().record();
  rt::Kernel& k = testing::test_device().kernel({"kv_append", "any", "any"}, "kv_append");
  EXPECT_THROW(recorder->launch(k, counts, 5, {64, 1, 1}), Error);
}

}  // namespace
}  // namespace zemla
