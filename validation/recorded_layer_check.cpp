#include "validation/recorded_layer_check.hpp"

#include <algorithm>
#include <cstring>
#include <memory>

#include "harness/mla_runner.hpp"
#include "harness/reference.hpp"
#include "runtime/recording.hpp"
#include "zemla/error.hpp"

namespace zemla::validation {

namespace {

constexpr int kMaxBatch = 4;
constexpr int kHeads = 24;  // two head blocks, the second partial
constexpr int kPageSize = 16;
constexpr int kMaxPages = 40;  // 640 tokens per request
constexpr int kPoolPages = kMaxBatch * kMaxPages;

// The buffers of one recorded layer, sized for the largest step.
struct FixedLayer {
  explicit FixedLayer(rt::Device& d)
      : device(d),
        decoder(d, DType::bf16),
        capacity(decoder.capacity(kMaxBatch, std::int64_t{kMaxPages} * kPageSize, kHeads)),
        q_nope(d.allocate(std::size_t(kMaxBatch) * kHeads * mla::kLatentDim * 2)),
        q_rope(d.allocate(std::size_t(kMaxBatch) * kHeads * mla::kRopeDim * 2)),
        kv(d.allocate(std::size_t(kPoolPages) * kPageSize * mla::kRowDim * 2)),
        table(d.allocate(std::size_t(kMaxBatch) * kMaxPages * 4)),
        out(d.allocate(std::size_t(kMaxBatch) * kHeads * mla::kLatentDim * 2)),
        lse(d.allocate(std::size_t(kMaxBatch) * kHeads * 4)),
        rows(d.allocate(std::size_t(kMaxBatch) * mla::kRowDim * 2)),
        counts(d, ops::MlaDecoder::kCountSlots) {
    workspace = d.allocate(capacity.largest.layout.total);

    auto recorder = d.record();
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
    a.new_rows = rows.get();  // recorded as MlaCache records a layer: append fused
    a.set_contiguous_strides();
    return a;
  }

  rt::Device& device;
  ops::MlaDecoder decoder;
  ops::DecodeCapacity capacity;
  std::unique_ptr<rt::Buffer> q_nope, q_rope, kv, table, out, lse, rows, workspace;
  rt::LaunchCounts counts;
  std::unique_ptr<rt::Recording> recording;
};

std::size_t bits_differ(const std::vector<float>& a, const std::vector<float>& b) {
  std::size_t n = 0;
  for (std::size_t i = 0; i < a.size(); ++i) n += std::memcmp(&a[i], &b[i], sizeof(float)) != 0;
  return n;
}

}  // namespace

std::vector<RecordedStepResult> replay_recorded_layer(rt::Device& device,
                                                      std::vector<std::vector<std::int32_t>> steps) {
  if (steps.empty()) {
    steps = {
        {300, 17, 1},       // splits and a combine
        {5},                // one request, no combine
        {640, 600, 1, 16},  // the full batch at the longest length
        {15, 16, 17, 33},   // page edges
    };
  }
  FixedLayer layer(device);
  std::vector<RecordedStepResult> results;
  for (std::size_t s = 0; s < steps.size(); ++s) {
    RandomMlaSpec spec;
    spec.heads = kHeads;
    spec.page_size = kPageSize;
    spec.seqlens = steps[s];
    spec.seed = 100 + s;
    const MlaProblem p = make_random_problem(spec);
    require(p.batch <= kMaxBatch && p.num_pages <= kPoolPages && p.max_pages <= kMaxPages, "replay_recorded_layer",
            [&] { return "step " + std::to_string(s) + " exceeds 4 requests of 640 tokens"; });

    // This step's inputs into the recorded buffers: the page table at the
    // fixed width, unused entries -1. Each request's last token is the
    // step's new row: it goes in `rows`, and its cache slot is poisoned, so
    // only a replay that reads the row from `rows` and writes it back passes.
    std::vector<std::int32_t> table(std::size_t(p.batch) * kMaxPages, -1);
    for (int b = 0; b < p.batch; ++b) {
      std::copy_n(p.page_table.begin() + std::size_t(b) * p.max_pages, p.max_pages,
                  table.begin() + std::size_t(b) * kMaxPages);
    }
    std::vector<std::uint16_t> kv = p.kv_cache;
    const NewRows fresh = take_new_rows(p, kv);
    const auto& rows = fresh.rows;
    const auto& slots = fresh.offsets;  // value offsets of the new rows in the cache
    device.write_vector(*layer.q_nope, p.q_nope);
    device.write_vector(*layer.q_rope, p.q_rope);
    device.write_vector(*layer.kv, kv);
    device.write_vector(*layer.table, table);
    device.write_vector(*layer.rows, rows);

    const DecodePlan plan = layer.decoder.plan(p.seqlens, kHeads, -1, layer.capacity);
    layer.decoder.upload_plan(plan, *layer.workspace);
    ops::MlaDecoder::set_counts(layer.counts, plan);
    layer.counts.upload();
    layer.recording->replay();

    // The plain path on its own buffers, between this replay and the next:
    // a recording that followed the kernels' current arguments would fail.
    const auto plain = ops::run_mla_problem(device, p, {-1, 0, 0, true});
    device.finish();

    std::vector<std::uint16_t> out_bits(p.q_nope.size());
    DecodeResult recorded;
    recorded.lse.resize(std::size_t(p.batch) * kHeads);
    device.read(*layer.out, out_bits.data(), out_bits.size() * 2);
    device.read(*layer.lse, recorded.lse.data(), recorded.lse.size() * 4);
    for (auto bits : out_bits) recorded.out.push_back(to_float(DType::bf16, bits));

    RecordedStepResult r;
    r.seqlens = p.seqlens;
    r.total_splits = plan.total_splits();
    r.combined = plan.needs_combine;
    r.out_bits_differ = bits_differ(recorded.out, plain.result.out);
    r.lse_bits_differ = bits_differ(recorded.lse, plain.result.lse);
    r.vs_reference = compare_with_reference(recorded, reference::mla_decode(p), DType::bf16, mla::kLatentDim, true);
    for (int b = 0; b < p.batch; ++b) {
      std::vector<std::uint16_t> row(mla::kRowDim);
      device.read(*layer.kv, row.data(), row.size() * 2, slots[b] * 2);
      for (int c = 0; c < mla::kRowDim; ++c) r.append_values_wrong += row[c] != rows[std::size_t(b) * mla::kRowDim + c];
    }
    results.push_back(std::move(r));
  }
  return results;
}

}  // namespace zemla::validation
