// The Level Zero backend's whole call sequence against the loader's null
// driver, with the validation layer checking every parameter. The null driver
// computes nothing, so this pins the sequence (discovery, allocation, module
// from SPIR-V, kernels, arguments, launches, timestamps, copies, teardown),
// not numbers; the tracing layer (ze_watch.hpp) witnesses what needs order.
// ctest sets the environment; see tests/CMakeLists.txt.

#include <gtest/gtest.h>

#include <cstdlib>
#include <string>

#include "harness/mla_problem.hpp"
#include "harness/mla_runner.hpp"
#include "host/decode_planner.hpp"
#include "level_zero/ze_watch.hpp"
#include "ops/kv_append/kv_append.hpp"
#include "ops/mla/mla_shape.hpp"
#include "runtime/recording.hpp"
#include "runtime/select.hpp"
#include "runtime/ze/ze_device.hpp"
#include "zemla/error.hpp"

namespace zemla {
namespace {

bool env_is(const char* name, const char* value) {
  const char* v = std::getenv(name);
  return v != nullptr && std::string(v) == value;
}

class LevelZeroNullDriver : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(env_is("ZE_ENABLE_NULL_DRIVER", "1")) << "run through ctest: it sets up the null driver";
    ASSERT_TRUE(env_is("ZE_ENABLE_VALIDATION_LAYER", "1"));
    ASSERT_TRUE(env_is("ZE_ENABLE_PARAMETER_VALIDATION", "1"));
    const auto a = rt::ze::availability();
    ASSERT_TRUE(a.available) << a.reason;
  }
};

TEST_F(LevelZeroNullDriver, DiscoversTheNullDeviceWithItsProperties) {
  const auto devices = rt::ze::enumerate();
  ASSERT_EQ(devices.size(), 1u);
  EXPECT_EQ(devices[0].name, "Null Device");
  EXPECT_EQ(devices[0].backend, rt::Backend::level_zero);
  // auto selection prefers a Level Zero GPU over every OpenCL device.
  const auto chosen = rt::open_device(rt::Selection{});
  EXPECT_EQ(chosen->info().backend, rt::Backend::level_zero);
}

TEST_F(LevelZeroNullDriver, RunsCopyModuleKernelLaunchAndTimestampSequence) {
  auto device = rt::ze::open(0, {});
  std::vector<std::uint16_t> host(16 * 576, 7);
  auto cache = device->allocate(host.size() * 2);
  device->write_vector(*cache, host);
  auto rows = device->allocate(576 * 2);
  auto slots = device->allocate(4);
  const std::vector<std::int32_t> slot{3};
  device->write_vector(*slots, slot);
  ops::KvAppender appender(*device);  // module from SPIR-V: the null device reports no IP version
  appender.run({cache.get(), 1, 16, 0, 0, rows.get(), 0, slots.get(), 1});
  const auto* bin = device->loaded_binary({"kv_append", rt::Variant::any, "any"});
  ASSERT_NE(bin, nullptr);
  EXPECT_EQ(bin->format, kernels::BinaryFormat::spirv);
  device->finish();
  device->read(*cache, host.data(), host.size() * 2);
}

TEST_F(LevelZeroNullDriver, RunsTheFullMlaDecodeSequenceWithCombineAndTiming) {
  auto device = rt::ze::open(0, {});
  RandomMlaSpec spec;
  spec.seqlens = {300, 17, 0};
  spec.heads = 24;
  const auto problem = make_random_problem(spec);
  // Explicit splits force stage 2 too; two timed iterations use the event pool.
  const auto outcome = ops::run_mla_problem(*device, problem, {4, 1, 2, true});
  EXPECT_TRUE(outcome.plan.needs_combine);
  EXPECT_EQ(outcome.variant, rt::Variant::intel_sg);
  EXPECT_EQ(outcome.binary, "spirv");
  EXPECT_EQ(outcome.timings.size(), 2u);
}

// Recording into a regular command list with indirect launches, closing it,
// and replaying it on the queue between immediate-list copies and launches.
TEST_F(LevelZeroNullDriver, RecordsAndReplaysALayerWithIndirectLaunches) {
  auto device = rt::ze::open(0, {});
  ops::MlaDecoder decoder(*device, DType::bf16);
  ops::KvAppender appender(*device);
  constexpr int batch = 2, heads = 16, pages = 8, page_size = 16;
  const auto capacity = decoder.capacity(batch, pages * page_size, heads);
  auto q_nope = device->allocate(batch * heads * mla::kLatentDim * 2);
  auto q_rope = device->allocate(batch * heads * mla::kRopeDim * 2);
  auto kv = device->allocate(std::size_t(batch) * pages * page_size * mla::kRowDim * 2);
  auto table = device->allocate(batch * pages * 4);
  auto out = device->allocate(batch * heads * mla::kLatentDim * 2);
  auto rows = device->allocate(batch * mla::kRowDim * 2);
  auto slots = device->allocate(batch * 4);
  auto workspace = device->allocate(capacity.largest.layout.total);
  rt::LaunchCounts counts(*device, ops::MlaDecoder::kCountSlots + 1);

  ops::MlaDecodeArgs args;
  args.batch = batch;
  args.heads = heads;
  args.sm_scale = 0.1f;
  args.num_pages = batch * pages;
  args.page_size = page_size;
  args.max_pages = pages;
  args.q_nope = q_nope.get();
  args.q_rope = q_rope.get();
  args.kv_cache = kv.get();
  args.page_table = table.get();
  args.out = out.get();
  args.set_contiguous_strides();
  auto recorder = device->record();
  appender.record(*recorder, counts, ops::MlaDecoder::kCountSlots,
                  {kv.get(), batch * pages, page_size, 0, 0, rows.get(), 0, slots.get(), batch});
  decoder.record(*recorder, counts, args, capacity, *workspace);
  auto recording = recorder->close();
  EXPECT_THROW(recorder->close(), Error);  // closed once

  for (const auto& lens : {std::vector<std::int32_t>{100, 3}, std::vector<std::int32_t>{7}}) {
    const DecodePlan plan = decoder.plan(lens, heads, -1, capacity);
    decoder.upload_plan(plan, *workspace);
    ops::MlaDecoder::set_counts(counts, plan);
    ops::KvAppender::set_count(counts, ops::MlaDecoder::kCountSlots, static_cast<int>(lens.size()));
    counts.upload();
    recording->replay();
    recording->replay();  // back to back: no host wait between them
    appender.run(
        {kv.get(), batch * pages, page_size, 0, 0, rows.get(), 0, slots.get(), 1});  // crosses to the immediate list
    recording->replay();
  }
  std::vector<std::uint16_t> host(batch * heads * mla::kLatentDim);
  device->read(*out, host.data(), host.size() * 2);
  device->finish();
}

// A recorded launch replays on zemla's own queue. On the server's list it
// must wait for that list first (the server's earlier commands) and for
// itself before returning (the server's later ones); on zemla's own list
// back-to-back replays never wait.
TEST_F(LevelZeroNullDriver, ReplaysOnAServersListWaitBeforeAndAfter) {
  testing::start_watching();
  testing::ServerLevelZero server;
  const auto replay_sequence = [&](std::unique_ptr<rt::Device> device) {
    ops::KvAppender appender(*device);
    auto cache = device->allocate(4 * 16 * 576 * 2), rows = device->allocate(576 * 2), slots = device->allocate(4);
    rt::LaunchCounts counts(*device, 1);
    ops::KvAppender::set_count(counts, 0, 1);
    counts.upload();
    auto recorder = device->record();
    appender.record(*recorder, counts, 0, {cache.get(), 4, 16, 0, 0, rows.get(), 0, slots.get(), 1});
    auto recording = recorder->close();
    testing::watch().sequence.clear();
    recording->replay();
    recording->replay();
    return testing::watch().sequence;
  };
  const auto adopted = replay_sequence(rt::ze::adopt({server.driver, server.context, server.device, server.list}, {}));
  const std::vector<std::string> wait_around{"event wait", "execute", "queue wait",
                                             "event wait", "execute", "queue wait"};
  EXPECT_EQ(adopted, wait_around);
  const auto own = replay_sequence(rt::ze::adopt({server.driver, server.context, server.device, nullptr}, {}));
  EXPECT_EQ(own, (std::vector<std::string>{"execute", "execute"}));
}

TEST_F(LevelZeroNullDriver, ReportsErrorsWithTheLevelZeroResultName) {
  auto device = rt::ze::open(0, {});
  try {
    rt::ze::open(5, {});
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.result_name(), kNotFound);
    EXPECT_NE(std::string(e.what()).find("index 5"), std::string::npos);
  }
  auto buffer = device->allocate(64);
  std::vector<char> too_big(128);
  EXPECT_THROW(device->write(*buffer, too_big.data(), too_big.size()), Error);
}

}  // namespace
}  // namespace zemla
