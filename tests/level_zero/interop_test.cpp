// Level Zero native-handle interop (issue 18, part 2) through the public C++
// and C APIs, on the loader's null driver under the validation layer: a
// server's own driver, context, device, immediate command list and USM
// allocations handed to zemla. The tracing layer (ze_watch.hpp) is the
// witness: which list each launch went to, what was freed or destroyed, and
// the allocation books the null driver lacks. ctest sets the environment.

#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <vector>

#include "level_zero/ze_watch.hpp"
#include "zemla/zemla.h"
#include "zemla/zemla.hpp"

namespace zemla {
namespace {

using testing::ServerLevelZero;
using testing::start_watching;
using testing::watch;

class LevelZeroInterop : public ::testing::Test {
 protected:
  void SetUp() override { start_watching(); }
  void TearDown() override { EXPECT_TRUE(watch().bad_frees.empty()) << watch().bad_frees.front(); }
};

LevelZeroHandles handles(const ServerLevelZero& s, bool with_list = true) {
  return {s.driver, s.context, s.device, with_list ? s.list : nullptr};
}

bool contains(const std::vector<void*>& v, const void* x) { return std::find(v.begin(), v.end(), x) != v.end(); }

template <typename F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.result_name() + ": " + e.what();
  }
  return "no error";
}

TEST_F(LevelZeroInterop, DecodesOnTheServersListAndMemoryAndDestroysNothingOfTheServers) {
  ServerLevelZero server;
  constexpr int batch = 2, heads = 16, page_size = 16, max_pages = 4, num_pages = batch * max_pages;
  const std::vector<std::int32_t> lens{40, 17};
  const std::size_t q_nope_bytes = std::size_t(batch) * heads * 512 * 2,
                    q_rope_bytes = std::size_t(batch) * heads * 64 * 2;
  const std::size_t kv_bytes = std::size_t(num_pages) * page_size * 576 * 2;
  void* q_nope = server.device_memory(q_nope_bytes);
  void* q_rope = server.device_memory(q_rope_bytes);
  void* kv = server.device_memory(kv_bytes);
  void* seq_lens = server.device_memory(batch * 4);
  void* table = server.device_memory(batch * max_pages * 4);
  void* out = server.device_memory(q_nope_bytes);
  void* lse = server.device_memory(batch * heads * 4);
  void* rows = server.device_memory(batch * 576 * 2);
  void* slots = server.device_memory(batch * 4);
  void* workspace = nullptr;
  {
    Runtime rt = Runtime::from_level_zero(handles(server));
    EXPECT_EQ(rt.device().backend, "level_zero");
    const std::size_t ws_bytes = flash_mla_get_workspace_size(rt, 64, batch, heads, page_size, 4);
    workspace = server.device_memory(ws_bytes);
    Tensor t_q_nope = rt.wrap(q_nope, q_nope_bytes), t_q_rope = rt.wrap(q_rope, q_rope_bytes);
    Tensor t_kv = rt.wrap(kv, kv_bytes), t_lens = rt.wrap(seq_lens, batch * 4);
    Tensor t_table = rt.wrap(table, batch * max_pages * 4), t_out = rt.wrap(out, q_nope_bytes);
    Tensor t_lse = rt.wrap(lse, batch * heads * 4), t_ws = rt.wrap(workspace, ws_bytes);
    Tensor t_rows = rt.wrap(rows, batch * 576 * 2), t_slots = rt.wrap(slots, batch * 4);
    t_lens.upload(lens.data(), lens.size() * 4);

    KvAppendOpArgs append;
    append.kv_cache = &t_kv;
    append.rows = &t_rows;
    append.slots = &t_slots;
    append.num_rows = batch;
    append.num_pages = num_pages;
    append.page_size = page_size;
    kv_append(rt, append);

    FlashMlaDecodeArgs args;
    args.q_nope = &t_q_nope;
    args.q_rope = &t_q_rope;
    args.kv_cache = &t_kv;
    args.seq_lens = &t_lens;
    args.page_table = &t_table;
    args.workspace = &t_ws;
    args.out = &t_out;
    args.lse = &t_lse;
    args.batch = batch;
    args.heads = heads;
    args.num_pages = num_pages;
    args.page_size = page_size;
    args.max_pages = max_pages;
    args.sm_scale = 0.1f;
    args.num_kv_splits = 4;  // forces the combine launch too
    args.host_seq_lens = lens;
    flash_mla_decode(rt, args);
    rt.synchronize();

    // Every launch went to the server's list: kv_append, split, combine.
    EXPECT_GE(watch().launch_lists.size(), 3u);
    for (void* l : watch().launch_lists) EXPECT_EQ(l, server.list);
  }
  // The Runtime and its tensors are gone: the server's handles and memory
  // are untouched, and every allocation left is the server's own.
  EXPECT_FALSE(contains(watch().destroyed_contexts, server.context));
  EXPECT_FALSE(contains(watch().destroyed_lists, server.list));
  EXPECT_EQ(watch().live.size(), server.allocations.size()) << "zemla's own allocations are freed, the server's kept";
  for (void* p : server.allocations) EXPECT_EQ(watch().live.count(reinterpret_cast<std::uintptr_t>(p)), 1u);
}

TEST_F(LevelZeroInterop, WithoutAListZemlaUsesItsOwnOnTheServersContext) {
  ServerLevelZero server;
  {
    Runtime rt = Runtime::from_level_zero(handles(server, false));
    Tensor cache = rt.allocate(4 * 16 * 576 * 2), rows = rt.allocate(576 * 2), slots = rt.allocate(4);
    const std::int32_t slot = 5;
    slots.upload(&slot, 4);
    KvAppendOpArgs append;
    append.kv_cache = &cache;
    append.rows = &rows;
    append.slots = &slots;
    append.num_rows = 1;
    append.num_pages = 4;
    append.page_size = 16;
    kv_append(rt, append);
    rt.synchronize();
    ASSERT_EQ(watch().launch_lists.size(), 1u);
    EXPECT_NE(watch().launch_lists[0], server.list);
  }
  // zemla destroyed the list it made, and nothing else.
  EXPECT_EQ(watch().destroyed_lists, std::vector<void*>{watch().launch_lists[0]});
  EXPECT_TRUE(watch().destroyed_contexts.empty());
  EXPECT_TRUE(watch().live.empty());
}

TEST_F(LevelZeroInterop, WrapRefusesForeignShortAndOtherDevicesMemoryNamingTheSizes) {
  ServerLevelZero server;
  Runtime rt = Runtime::from_level_zero(handles(server));
  auto* p = static_cast<char*>(server.device_memory(1024));
  EXPECT_EQ(rt.wrap(p, 1024).bytes(), 1024u);
  EXPECT_EQ(rt.wrap(p + 512, 512).bytes(), 512u);

  const std::string short_error = error_of([&] { rt.wrap(p, 1025); });
  EXPECT_NE(short_error.find(kInvalidArgument), std::string::npos) << short_error;
  EXPECT_NE(short_error.find("holds 1024 bytes"), std::string::npos) << short_error;
  EXPECT_NE(short_error.find("1025 were named"), std::string::npos) << short_error;
  const std::string tail_error = error_of([&] { rt.wrap(p + 512, 513); });
  EXPECT_NE(tail_error.find("512 of them from the pointer"), std::string::npos) << tail_error;

  int on_the_stack = 0;
  const std::string foreign = error_of([&] { rt.wrap(&on_the_stack, 4); });
  EXPECT_NE(foreign.find("not a USM allocation"), std::string::npos) << foreign;
  EXPECT_NE(error_of([&] { rt.wrap(nullptr, 4); }).find("null"), std::string::npos);

  // A device allocation of another device; a host allocation any device reaches.
  watch().live[0x7000] = {256, ZE_MEMORY_TYPE_DEVICE, reinterpret_cast<ze_device_handle_t>(0x10)};
  const std::string other = error_of([&] { rt.wrap(reinterpret_cast<void*>(0x7000), 256); });
  EXPECT_NE(other.find("another device"), std::string::npos) << other;
  watch().live.erase(0x7000);
  ze_host_mem_alloc_desc_t hd{};
  hd.stype = ZE_STRUCTURE_TYPE_HOST_MEM_ALLOC_DESC;
  void* host = nullptr;
  ASSERT_EQ(zeMemAllocHost(server.context, &hd, 128, 64, &host), ZE_RESULT_SUCCESS);
  server.allocations.push_back(host);
  EXPECT_EQ(rt.wrap(host, 128).bytes(), 128u);
}

TEST_F(LevelZeroInterop, WrapTakesWithAWarningWhatADriverCannotDescribe) {
  ServerLevelZero server;
  Runtime rt = Runtime::from_level_zero(handles(server));
  watch().describe = false;  // the bare null driver: no allocation books
  std::vector<std::string> warnings;
  set_log_sink(
      [&](LogLevel level, std::string_view m) {
        if (level == LogLevel::warn) warnings.emplace_back(m);
      },
      LogLevel::warn);
  int on_the_stack = 0;
  EXPECT_EQ(rt.wrap(&on_the_stack, 4).bytes(), 4u);
  set_log_sink(nullptr);
  ASSERT_EQ(warnings.size(), 1u);
  EXPECT_NE(warnings[0].find("unchecked"), std::string::npos) << warnings[0];
}

TEST_F(LevelZeroInterop, RefusesMissingHandlesAndADeviceOfNoDriver) {
  ServerLevelZero server;
  auto missing = handles(server);
  missing.context = nullptr;
  const std::string e1 = error_of([&] { Runtime::from_level_zero(missing); });
  EXPECT_NE(e1.find(kInvalidArgument), std::string::npos) << e1;
  EXPECT_NE(e1.find("must all be given"), std::string::npos) << e1;
  auto stray = handles(server);
  stray.device = reinterpret_cast<void*>(0x10);
  watch().uuid_first_byte[stray.device] = 0x5a;  // unlike the null device's
  const std::string e2 = error_of([&] { Runtime::from_level_zero(stray); });
  EXPECT_NE(e2.find("none of the driver's devices"), std::string::npos) << e2;
}

TEST_F(LevelZeroInterop, CApiCreatesWrapsAndReportsStatuses) {
  ServerLevelZero server;
  zemla_runtime* rt = nullptr;
  EXPECT_EQ(zemla_runtime_create_level_zero(nullptr, server.context, server.device, server.list, &rt),
            ZEMLA_STATUS_INVALID_ARGUMENT);
  EXPECT_EQ(rt, nullptr);
  EXPECT_NE(std::string(zemla_last_error()).find("must all be given"), std::string::npos);
  ASSERT_EQ(zemla_runtime_create_level_zero(server.driver, server.context, server.device, server.list, &rt),
            ZEMLA_STATUS_SUCCESS)
      << zemla_last_error();
  void* p = server.device_memory(256);
  zemla_tensor* t = nullptr;
  EXPECT_EQ(zemla_tensor_wrap(rt, p, 257, &t), ZEMLA_STATUS_INVALID_ARGUMENT);
  EXPECT_NE(std::string(zemla_last_error()).find("holds 256 bytes"), std::string::npos) << zemla_last_error();
  ASSERT_EQ(zemla_tensor_wrap(rt, p, 256, &t), ZEMLA_STATUS_SUCCESS) << zemla_last_error();
  const std::uint32_t word = 7;
  EXPECT_EQ(zemla_tensor_upload(t, &word, 4, 0), ZEMLA_STATUS_SUCCESS);
  zemla_tensor_destroy(t);
  zemla_runtime_destroy(rt);
  EXPECT_EQ(watch().live.count(reinterpret_cast<std::uintptr_t>(p)), 1u) << "the server's memory outlives the tensor";
  EXPECT_FALSE(contains(watch().destroyed_lists, server.list));
}

}  // namespace
}  // namespace zemla
