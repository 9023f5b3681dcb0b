// Issue 18's embedding, end to end: a server that owns its OpenCL context,
// queue, KV pool, page tables, workspace and page allocator runs 100 decode
// steps through zemla's op API over its own buffers, once through the C API
// and once through the C++ API. Requests arrive with prompts the server
// writes into the pool itself, grow by one token a step (written by zemla's
// kv_append into the server's slots), and leave, giving their pages back to
// the server's free list in a shuffled order. Every step is read back on the
// server's queue and checked against the fp64 reference built from the
// server's host copy of its pool.

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <memory>
#include <random>
#include <span>
#include <string>
#include <vector>

#include "harness/compare.hpp"
#include "harness/mla_problem.hpp"
#include "harness/reference.hpp"
#include "server_opencl.hpp"
#include "zemla/zemla.h"
#include "zemla/zemla.hpp"

namespace zemla {
namespace {

using testing::ServerOpenCl;

constexpr int kHeads = 16, kPageSize = 16, kMaxPages = 12, kMaxBatch = 4;
constexpr int kPoolPages = kMaxBatch * kMaxPages + 3;
constexpr int kSteps = 100;
constexpr float kScale = 0.0416f;
const int kSplitModes[] = {1, -1, 3};

// The server's device buffers, all its own.
struct ServerBuffers {
  cl_mem cache, table, lens, q_nope, q_rope, rows, slots, out, lse;
  cl_mem workspace = nullptr;  // sized once the runtime can say how much

  explicit ServerBuffers(ServerOpenCl& s)
      : cache(s.buffer(std::size_t(kPoolPages) * kPageSize * 576 * 2)),
        table(s.buffer(std::size_t(kMaxBatch) * kMaxPages * 4)),
        lens(s.buffer(kMaxBatch * 4)),
        q_nope(s.buffer(std::size_t(kMaxBatch) * kHeads * 512 * 2)),
        q_rope(s.buffer(std::size_t(kMaxBatch) * kHeads * 64 * 2)),
        rows(s.buffer(std::size_t(kMaxBatch) * 576 * 2)),
        slots(s.buffer(kMaxBatch * 4)),
        out(s.buffer(std::size_t(kMaxBatch) * kHeads * 512 * 2)),
        lse(s.buffer(std::size_t(kMaxBatch) * kHeads * 4)) {}
  ~ServerBuffers() {
    for (cl_mem m : {cache, table, lens, q_nope, q_rope, rows, slots, out, lse, workspace}) {
      if (m != nullptr) clReleaseMemObject(m);
    }
  }
  ServerBuffers(const ServerBuffers&) = delete;
  ServerBuffers& operator=(const ServerBuffers&) = delete;
};

// zemla as the server calls it: one face, the C or the C++ API behind it.
class Ops {
 public:
  virtual ~Ops() = default;
  virtual std::size_t workspace_bound(int num_kv_splits) = 0;
  // Wraps the server's buffers, the workspace included, each whole.
  virtual void wrap(const ServerBuffers& b) = 0;
  virtual void append(int rows) = 0;
  virtual void decode(int batch, std::span<const std::int32_t> lens, int num_kv_splits) = 0;
};

class CppOps final : public Ops {
 public:
  explicit CppOps(ServerOpenCl& s) : rt_(Runtime::from_opencl({s.context, s.device, s.queue})) {}
  std::size_t workspace_bound(int splits) override {
    return flash_mla_get_workspace_size(rt_, kMaxPages * kPageSize, kMaxBatch, kHeads, kPageSize, splits);
  }
  void wrap(const ServerBuffers& b) override {
    const auto w = [&](cl_mem m) { return std::make_unique<Tensor>(rt_.wrap(m, ServerOpenCl::size_of(m))); };
    cache_ = w(b.cache), table_ = w(b.table), lens_ = w(b.lens), q_nope_ = w(b.q_nope), q_rope_ = w(b.q_rope);
    rows_ = w(b.rows), slots_ = w(b.slots), out_ = w(b.out), lse_ = w(b.lse), workspace_ = w(b.workspace);
  }
  void append(int rows) override {
    KvAppendOpArgs a;
    a.kv_cache = cache_.get();
    a.rows = rows_.get();
    a.slots = slots_.get();
    a.num_rows = rows;
    a.num_pages = kPoolPages;
    a.page_size = kPageSize;
    kv_append(rt_, a);
  }
  void decode(int batch, std::span<const std::int32_t> lens, int splits) override {
    FlashMlaDecodeArgs a;
    a.q_nope = q_nope_.get();
    a.q_rope = q_rope_.get();
    a.kv_cache = cache_.get();
    a.seq_lens = lens_.get();
    a.page_table = table_.get();
    a.workspace = workspace_.get();
    a.out = out_.get();
    a.lse = lse_.get();
    a.batch = batch;
    a.heads = kHeads;
    a.num_pages = kPoolPages;
    a.page_size = kPageSize;
    a.max_pages = kMaxPages;
    a.sm_scale = kScale;
    a.num_kv_splits = splits;
    a.host_seq_lens = lens;
    flash_mla_decode(rt_, a);
  }

 private:
  Runtime rt_;
  std::unique_ptr<Tensor> cache_, table_, lens_, q_nope_, q_rope_, rows_, slots_, out_, lse_, workspace_;
};

class COps final : public Ops {
 public:
  explicit COps(ServerOpenCl& s) {
    EXPECT_EQ(zemla_runtime_create_opencl(s.context, s.device, s.queue, &rt_), ZEMLA_STATUS_SUCCESS)
        << zemla_last_error();
  }
  ~COps() override {
    for (zemla_tensor* t : tensors_) zemla_tensor_destroy(t);
    zemla_runtime_destroy(rt_);
  }
  COps(const COps&) = delete;
  COps& operator=(const COps&) = delete;

  std::size_t workspace_bound(int splits) override {
    std::size_t bytes = 0;
    EXPECT_EQ(
        zemla_flash_mla_get_workspace_size(rt_, kMaxPages * kPageSize, kMaxBatch, kHeads, kPageSize, splits, &bytes),
        ZEMLA_STATUS_SUCCESS)
        << zemla_last_error();
    return bytes;
  }
  void wrap(const ServerBuffers& b) override {
    for (cl_mem m : {b.cache, b.table, b.lens, b.q_nope, b.q_rope, b.rows, b.slots, b.out, b.lse, b.workspace}) {
      zemla_tensor* t = nullptr;
      EXPECT_EQ(zemla_tensor_wrap(rt_, m, ServerOpenCl::size_of(m), &t), ZEMLA_STATUS_SUCCESS) << zemla_last_error();
      tensors_.push_back(t);
    }
  }
  void append(int rows) override {
    zemla_kv_append_args a{};
    a.kv_cache = tensors_[0];
    a.rows = tensors_[5];
    a.slots = tensors_[6];
    a.num_rows = rows;
    a.num_pages = kPoolPages;
    a.page_size = kPageSize;
    a.dtype = ZEMLA_DTYPE_BF16;
    a.kv_scale = 1.0f;
    ASSERT_EQ(zemla_kv_append(rt_, &a), ZEMLA_STATUS_SUCCESS) << zemla_last_error();
  }
  void decode(int batch, std::span<const std::int32_t> lens, int splits) override {
    zemla_flash_mla_decode_args a{};
    a.kv_cache = tensors_[0];
    a.page_table = tensors_[1];
    a.seq_lens = tensors_[2];
    a.q_nope = tensors_[3];
    a.q_rope = tensors_[4];
    a.out = tensors_[7];
    a.lse = tensors_[8];
    a.workspace = tensors_[9];
    a.batch = batch;
    a.heads = kHeads;
    a.q_len = 1;
    a.num_pages = kPoolPages;
    a.page_size = kPageSize;
    a.max_pages = kMaxPages;
    a.sm_scale = kScale;
    a.num_kv_splits = splits;
    a.dtype = ZEMLA_DTYPE_BF16;
    a.kv_scale = 1.0f;
    a.host_seq_lens = lens.data();
    ASSERT_EQ(zemla_flash_mla_decode(rt_, &a), ZEMLA_STATUS_SUCCESS) << zemla_last_error();
  }

 private:
  zemla_runtime* rt_ = nullptr;
  std::vector<zemla_tensor*> tensors_;
};

// The server's page allocator and requests, with a host copy of its pool.
class PagingServer {
 public:
  PagingServer(ServerOpenCl& cl, ServerBuffers& b, std::uint64_t seed)
      : cl_(cl), b_(b), rng_(seed), pool_(std::size_t(kPoolPages) * kPageSize * 576) {
    for (int p = 0; p < kPoolPages; ++p) free_.push_back(p);
    std::shuffle(free_.begin(), free_.end(), rng_);
    std::normal_distribution<float> normal;
    for (auto& x : pool_) x = from_float(DType::bf16, normal(rng_));  // stale pages hold old tokens
    cl_.write(b_.cache, pool_.data(), pool_.size());
  }

  int free_pages() const { return static_cast<int>(free_.size()); }

  // Requests leave when done and new ones arrive with a prompt the server
  // writes into its pool itself; then one new row per request, through zemla.
  void next_step(Ops& ops) {
    for (auto it = active_.begin(); it != active_.end();) {
      if (it->steps_left > 0) {
        ++it;
        continue;
      }
      free_.insert(free_.end(), it->pages.begin(), it->pages.end());
      std::shuffle(free_.begin(), free_.end(), rng_);
      it = active_.erase(it);
    }
    while (static_cast<int>(active_.size()) < kMaxBatch && (active_.size() < 2 || rng_() % 3 != 0)) {
      Request r;
      r.steps_left = 1 + int(rng_() % 60);
      const int prompt = int(rng_() % 61);
      for (int t = 0; t < prompt; ++t) {
        const auto row = random_row();
        const std::int32_t slot = claim_slot(r);
        std::copy(row.begin(), row.end(), pool_.begin() + std::ptrdiff_t(slot) * 576);
        cl_.write(b_.cache, row.data(), row.size(), std::size_t(slot) * 576 * 2);
      }
      active_.push_back(std::move(r));
    }
    std::vector<std::uint16_t> rows;
    std::vector<std::int32_t> slots;
    for (auto& r : active_) {
      const auto row = random_row();
      const std::int32_t slot = claim_slot(r);
      std::copy(row.begin(), row.end(), pool_.begin() + std::ptrdiff_t(slot) * 576);
      rows.insert(rows.end(), row.begin(), row.end());
      slots.push_back(slot);
      --r.steps_left;
    }
    cl_.write(b_.rows, rows.data(), rows.size());
    cl_.write(b_.slots, slots.data(), slots.size());
    ops.append(static_cast<int>(slots.size()));
  }

  // The step's decode through `ops`, checked against the reference.
  ::testing::AssertionResult decode_and_check(Ops& ops, int num_kv_splits) {
    MlaProblem p;
    p.dtype = DType::bf16;
    p.batch = static_cast<int>(active_.size());
    p.heads = kHeads;
    p.page_size = kPageSize;
    p.num_pages = kPoolPages;
    p.max_pages = kMaxPages;
    p.sm_scale = kScale;
    p.kv_cache = pool_;
    p.page_table.assign(std::size_t(p.batch) * kMaxPages, 0);
    for (int i = 0; i < p.batch; ++i) {
      const auto& r = active_[std::size_t(i)];
      std::copy(r.pages.begin(), r.pages.end(), p.page_table.begin() + std::ptrdiff_t(i) * kMaxPages);
      p.seqlens.push_back(r.length);
    }
    p.q_nope = random_values(std::size_t(p.batch) * kHeads * 512);
    p.q_rope = random_values(std::size_t(p.batch) * kHeads * 64);
    cl_.write(b_.table, p.page_table.data(), p.page_table.size());
    cl_.write(b_.lens, p.seqlens.data(), p.seqlens.size());
    cl_.write(b_.q_nope, p.q_nope.data(), p.q_nope.size());
    cl_.write(b_.q_rope, p.q_rope.data(), p.q_rope.size());
    ops.decode(p.batch, p.seqlens, num_kv_splits);

    std::vector<std::uint16_t> bits(std::size_t(p.batch) * kHeads * 512);
    DecodeResult r;
    r.lse.resize(std::size_t(p.batch) * kHeads);
    cl_.read(b_.out, bits.data(), bits.size());
    cl_.read(b_.lse, r.lse.data(), r.lse.size());
    for (const auto x : bits) r.out.push_back(to_float(DType::bf16, x));
    const auto cmp = compare_with_reference(r, reference::mla_decode(p), DType::bf16, 512, true);
    if (cmp.pass) return ::testing::AssertionSuccess();
    return ::testing::AssertionFailure() << cmp.failure;
  }

 private:
  struct Request {
    int length = 0;
    int steps_left = 0;
    std::vector<std::int32_t> pages;
  };

  std::int32_t claim_slot(Request& r) {
    if (r.length % kPageSize == 0) {
      EXPECT_FALSE(free_.empty()) << "the server's pool ran dry";
      r.pages.push_back(free_.back());
      free_.pop_back();
    }
    const std::int32_t slot = r.pages.back() * kPageSize + r.length % kPageSize;
    ++r.length;
    return slot;
  }
  std::vector<std::uint16_t> random_values(std::size_t n) {
    std::normal_distribution<float> normal;
    std::vector<std::uint16_t> v(n);
    for (auto& x : v) x = from_float(DType::bf16, normal(rng_));
    return v;
  }
  std::vector<std::uint16_t> random_row() { return random_values(576); }

  ServerOpenCl& cl_;
  ServerBuffers& b_;
  std::mt19937 rng_;
  std::vector<std::uint16_t> pool_;  // the host copy of the device pool
  std::vector<std::int32_t> free_;
  std::vector<Request> active_;
};

template <typename OpsType>
void run_hundred_steps(std::uint64_t seed) {
  ServerOpenCl cl;
  ServerBuffers buffers(cl);
  OpsType ops(cl);
  std::size_t workspace = 0;
  for (const int splits : kSplitModes) workspace = std::max(workspace, ops.workspace_bound(splits));
  buffers.workspace = cl.buffer(workspace);
  ops.wrap(buffers);
  PagingServer server(cl, buffers, seed);
  for (int step = 0; step < kSteps; ++step) {
    server.next_step(ops);
    const int splits = kSplitModes[step % 3];
    ASSERT_TRUE(server.decode_and_check(ops, splits)) << "step " << step << ", num_kv_splits " << splits;
  }
}

TEST(PagingServer, HundredStepsThroughTheCApiOnItsOwnBuffers) { run_hundred_steps<COps>(5); }

TEST(PagingServer, HundredStepsThroughTheCppApiOnItsOwnBuffers) { run_hundred_steps<CppOps>(6); }

}  // namespace
}  // namespace zemla
