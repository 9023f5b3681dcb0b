#pragma once
// The loader's tracing layer as a witness for the Level Zero tests on the
// null driver, which computes nothing, keeps no books and hands out a new
// handle per query, alike in every field. The callbacks keep the USM
// allocations as a real driver does (and answer zeMemGetAllocProperties and
// zeMemGetAddressRange from them), catch frees of pointers that are not
// live, note destroyed contexts and lists, the command list of every launch
// and the order of host waits and queue submissions, and can give a device
// a UUID of its own. Plus a server's own Level Zero objects, as an embedder
// has them.

#include <gtest/gtest.h>
#include <level_zero/layers/zel_tracing_api.h>
#include <level_zero/layers/zel_tracing_register_cb.h>
#include <level_zero/ze_api.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <map>
#include <string>
#include <vector>

namespace zemla::testing {

// What the tracing layer saw, process-wide (its callbacks are plain functions).
struct Watch {
  struct Allocation {
    std::size_t size;
    ze_memory_type_t type;
    ze_device_handle_t device;
  };
  std::map<std::uintptr_t, Allocation> live;  // by base address
  bool describe = true;                       // answer the USM queries as a real driver does
  std::vector<std::string> bad_frees;
  std::vector<void*> destroyed_contexts;
  std::vector<void*> destroyed_lists;
  std::vector<void*> launch_lists;
  std::vector<std::string> sequence;              // host waits and queue submissions, in order
  std::map<void*, std::uint8_t> uuid_first_byte;  // devices given a UUID of their own

  const Allocation* find(const void* p, std::uintptr_t* base) const {
    const auto at = reinterpret_cast<std::uintptr_t>(p);
    auto it = live.upper_bound(at);
    if (it == live.begin()) return nullptr;
    --it;
    if (at >= it->first + std::max<std::size_t>(it->second.size, 1)) return nullptr;
    *base = it->first;
    return &it->second;
  }
};

inline Watch& watch() {
  static Watch w;
  return w;
}

inline void ZE_APICALL on_alloc_device(ze_mem_alloc_device_params_t* p, ze_result_t r, void*, void**) {
  if (r == ZE_RESULT_SUCCESS) {
    watch().live[reinterpret_cast<std::uintptr_t>(**p->ppptr)] = {*p->psize, ZE_MEMORY_TYPE_DEVICE, *p->phDevice};
  }
}
inline void ZE_APICALL on_alloc_host(ze_mem_alloc_host_params_t* p, ze_result_t r, void*, void**) {
  if (r == ZE_RESULT_SUCCESS) {
    watch().live[reinterpret_cast<std::uintptr_t>(**p->ppptr)] = {*p->psize, ZE_MEMORY_TYPE_HOST, nullptr};
  }
}
inline void ZE_APICALL on_free(ze_mem_free_params_t* p, ze_result_t, void*, void**) {
  if (watch().live.erase(reinterpret_cast<std::uintptr_t>(*p->pptr)) == 0) {
    watch().bad_frees.push_back("zeMemFree of a pointer that is not a live allocation's base");
  }
}
inline void ZE_APICALL on_alloc_properties(ze_mem_get_alloc_properties_params_t* p, ze_result_t, void*, void**) {
  if (!watch().describe) return;
  std::uintptr_t base = 0;
  const auto* a = watch().find(*p->pptr, &base);
  (*p->ppMemAllocProperties)->type = a ? a->type : ZE_MEMORY_TYPE_UNKNOWN;
  if (*p->pphDevice != nullptr) **p->pphDevice = a ? a->device : nullptr;
}
inline void ZE_APICALL on_address_range(ze_mem_get_address_range_params_t* p, ze_result_t, void*, void**) {
  if (!watch().describe) return;
  std::uintptr_t base = 0;
  if (const auto* a = watch().find(*p->pptr, &base)) {
    if (*p->ppBase != nullptr) **p->ppBase = reinterpret_cast<void*>(base);
    if (*p->ppSize != nullptr) **p->ppSize = a->size;
  }
}
inline void ZE_APICALL on_device_properties(ze_device_get_properties_params_t* p, ze_result_t, void*, void**) {
  const auto it = watch().uuid_first_byte.find(*p->phDevice);
  if (it != watch().uuid_first_byte.end()) (*p->ppDeviceProperties)->uuid.id[0] = it->second;
}
inline void ZE_APICALL on_context_destroy(ze_context_destroy_params_t* p, ze_result_t, void*, void**) {
  watch().destroyed_contexts.push_back(*p->phContext);
}
inline void ZE_APICALL on_list_destroy(ze_command_list_destroy_params_t* p, ze_result_t, void*, void**) {
  watch().destroyed_lists.push_back(*p->phCommandList);
}
inline void ZE_APICALL on_launch(ze_command_list_append_launch_kernel_params_t* p, ze_result_t, void*, void**) {
  watch().launch_lists.push_back(*p->phCommandList);
}
inline void ZE_APICALL on_host_wait(ze_event_host_synchronize_params_t*, ze_result_t, void*, void**) {
  watch().sequence.emplace_back("event wait");
}
inline void ZE_APICALL on_execute(ze_command_queue_execute_command_lists_params_t*, ze_result_t, void*, void**) {
  watch().sequence.emplace_back("execute");
}
inline void ZE_APICALL on_queue_wait(ze_command_queue_synchronize_params_t*, ze_result_t, void*, void**) {
  watch().sequence.emplace_back("queue wait");
}

inline void start_tracing() {
  static const bool started = [] {
    if (zeInit(0) != ZE_RESULT_SUCCESS) return false;
    zel_tracer_desc_t desc{ZEL_STRUCTURE_TYPE_TRACER_DESC, nullptr, nullptr};
    zel_tracer_handle_t tracer = nullptr;
    if (zelTracerCreate(&desc, &tracer) != ZE_RESULT_SUCCESS) return false;
    const auto after = ZEL_REGISTER_EPILOGUE;
    const auto before = ZEL_REGISTER_PROLOGUE;
    bool ok = zelTracerMemAllocDeviceRegisterCallback(tracer, after, on_alloc_device) == ZE_RESULT_SUCCESS;
    ok &= zelTracerMemAllocHostRegisterCallback(tracer, after, on_alloc_host) == ZE_RESULT_SUCCESS;
    ok &= zelTracerMemFreeRegisterCallback(tracer, before, on_free) == ZE_RESULT_SUCCESS;
    ok &= zelTracerMemGetAllocPropertiesRegisterCallback(tracer, after, on_alloc_properties) == ZE_RESULT_SUCCESS;
    ok &= zelTracerMemGetAddressRangeRegisterCallback(tracer, after, on_address_range) == ZE_RESULT_SUCCESS;
    ok &= zelTracerDeviceGetPropertiesRegisterCallback(tracer, after, on_device_properties) == ZE_RESULT_SUCCESS;
    ok &= zelTracerContextDestroyRegisterCallback(tracer, before, on_context_destroy) == ZE_RESULT_SUCCESS;
    ok &= zelTracerCommandListDestroyRegisterCallback(tracer, before, on_list_destroy) == ZE_RESULT_SUCCESS;
    ok &= zelTracerCommandListAppendLaunchKernelRegisterCallback(tracer, before, on_launch) == ZE_RESULT_SUCCESS;
    ok &= zelTracerEventHostSynchronizeRegisterCallback(tracer, before, on_host_wait) == ZE_RESULT_SUCCESS;
    ok &= zelTracerCommandQueueExecuteCommandListsRegisterCallback(tracer, before, on_execute) == ZE_RESULT_SUCCESS;
    ok &= zelTracerCommandQueueSynchronizeRegisterCallback(tracer, before, on_queue_wait) == ZE_RESULT_SUCCESS;
    return ok && zelTracerSetEnabled(tracer, true) == ZE_RESULT_SUCCESS;
  }();
  ASSERT_TRUE(started) << "the tracing layer did not start; run through ctest (ZE_ENABLE_TRACING_LAYER=1)";
}

// The server's own Level Zero objects: the null driver's one device, a
// context, an immediate list, and device allocations it frees itself.
struct ServerLevelZero {
  ze_driver_handle_t driver = nullptr;
  ze_device_handle_t device = nullptr;
  ze_context_handle_t context = nullptr;
  ze_command_list_handle_t list = nullptr;
  std::vector<void*> allocations;

  ServerLevelZero() {
    std::uint32_t n = 1;
    EXPECT_EQ(zeDriverGet(&n, &driver), ZE_RESULT_SUCCESS);
    n = 1;
    EXPECT_EQ(zeDeviceGet(driver, &n, &device), ZE_RESULT_SUCCESS);
    ze_context_desc_t cd{};
    cd.stype = ZE_STRUCTURE_TYPE_CONTEXT_DESC;
    EXPECT_EQ(zeContextCreate(driver, &cd, &context), ZE_RESULT_SUCCESS);
    ze_command_queue_desc_t qd{};
    qd.stype = ZE_STRUCTURE_TYPE_COMMAND_QUEUE_DESC;
    EXPECT_EQ(zeCommandListCreateImmediate(context, device, &qd, &list), ZE_RESULT_SUCCESS);
  }
  ~ServerLevelZero() {
    for (void* p : allocations) zeMemFree(context, p);
    zeCommandListDestroy(list);
    zeContextDestroy(context);
  }
  ServerLevelZero(const ServerLevelZero&) = delete;
  ServerLevelZero& operator=(const ServerLevelZero&) = delete;

  void* device_memory(std::size_t bytes) {
    ze_device_mem_alloc_desc_t d{};
    d.stype = ZE_STRUCTURE_TYPE_DEVICE_MEM_ALLOC_DESC;
    void* p = nullptr;
    EXPECT_EQ(zeMemAllocDevice(context, &d, bytes, 64, device, &p), ZE_RESULT_SUCCESS);
    allocations.push_back(p);
    return p;
  }
};

// ctest runs the suites with ZE_ENABLE_TRACING_LAYER=1; each test starts
// from an empty record.
inline void start_watching() {
  const char* tracing = std::getenv("ZE_ENABLE_TRACING_LAYER");
  ASSERT_TRUE(tracing != nullptr && std::string(tracing) == "1") << "run through ctest: it enables the layers";
  start_tracing();
  watch() = Watch{};
}

}  // namespace zemla::testing
