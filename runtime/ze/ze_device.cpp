#include "runtime/ze/ze_device.hpp"

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstring>
#include <iterator>
#include <map>
#include <mutex>
#include <utility>

#include "runtime/binary_choice.hpp"
#include "runtime/handle.hpp"
#include "runtime/log.hpp"
#include "runtime/program_cache.hpp"
#include "runtime/recording.hpp"
#include "runtime/ze/ze_error.hpp"
#include "zemla/error.hpp"

namespace zemla::rt::ze {

namespace {

// ze_device_ip_version_ext_t (Level Zero 1.5+); Debian's 1.8 loader ships API
// 1.4 headers, so the struct is spelled out here with the spec's values.
struct IpVersionExt {
  ze_structure_type_t stype;
  const void* pNext;
  std::uint32_t ipVersion;
};
constexpr auto kIpVersionStype = static_cast<ze_structure_type_t>(0x1000f);

// Intel's dot-product module properties (compute-runtime's ze_intel_gpu.h,
// not in the loader's headers): whether the device has DPAS.
constexpr const char* kDotProductExtension = "ZE_intel_experimental_device_module_dp_properties";
constexpr std::uint32_t kDotProductFlagDpas = 1u << 1;
struct DotProductProperties {
  ze_structure_type_t stype = static_cast<ze_structure_type_t>(0x00030013);
  void* pNext = nullptr;
  std::uint32_t flags = 0;
};

using ContextHandle = Handle<ze_context_handle_t, zeContextDestroy>;
using CommandListHandle = Handle<ze_command_list_handle_t, zeCommandListDestroy>;
using CommandQueueHandle = Handle<ze_command_queue_handle_t, zeCommandQueueDestroy>;
using ModuleHandle = Handle<ze_module_handle_t, zeModuleDestroy>;
using KernelHandle = Handle<ze_kernel_handle_t, zeKernelDestroy>;
using EventPoolHandle = Handle<ze_event_pool_handle_t, zeEventPoolDestroy>;
using EventHandle = Handle<ze_event_handle_t, zeEventDestroy>;
using BuildLogHandle = Handle<ze_module_build_log_handle_t, zeModuleBuildLogDestroy>;

const Availability& init_once() {
  static const Availability result = [] {
    Availability a;
    const ze_result_t r = zeInit(ZE_INIT_FLAG_GPU_ONLY);
    if (r != ZE_RESULT_SUCCESS) {
      a.reason = "zeInit: " + std::string(result_name(r)) + " (no Level Zero GPU driver or device)";
      return a;
    }
    std::uint32_t count = 0;
    if (zeDriverGet(&count, nullptr) != ZE_RESULT_SUCCESS || count == 0) {
      a.reason = "zeDriverGet: no Level Zero driver";
      return a;
    }
    a.available = true;
    return a;
  }();
  return result;
}

struct Located {
  ze_driver_handle_t driver;
  ze_device_handle_t device;
  int tile;                 // -1 for a root device
  ze_device_handle_t root;  // the device itself, or the tile's root device
};

std::vector<Located> locate_all() {
  if (!init_once().available) return {};
  std::uint32_t drivers = 0;
  check(zeDriverGet(&drivers, nullptr), "zeDriverGet");
  std::vector<ze_driver_handle_t> driver_handles(drivers);
  check(zeDriverGet(&drivers, driver_handles.data()), "zeDriverGet");
  std::vector<Located> all;
  for (auto driver : driver_handles) {
    std::uint32_t n = 0;
    check(zeDeviceGet(driver, &n, nullptr), "zeDeviceGet");
    std::vector<ze_device_handle_t> roots(n);
    check(zeDeviceGet(driver, &n, roots.data()), "zeDeviceGet");
    for (auto root : roots) {
      all.push_back({driver, root, -1, root});
      std::uint32_t subs = 0;
      if (zeDeviceGetSubDevices(root, &subs, nullptr) != ZE_RESULT_SUCCESS || subs == 0) continue;
      std::vector<ze_device_handle_t> tiles(subs);
      check(zeDeviceGetSubDevices(root, &subs, tiles.data()), "zeDeviceGetSubDevices");
      for (std::uint32_t t = 0; t < subs; ++t) all.push_back({driver, tiles[t], static_cast<int>(t), root});
    }
  }
  return all;
}

using Uuid = std::array<std::uint8_t, 16>;
static_assert(ZE_MAX_DRIVER_UUID_SIZE == 16 && ZE_MAX_DEVICE_UUID_SIZE == 16);

// The UUID of a driver's or a device's properties.
template <typename Properties>
Uuid uuid_in(const Properties& props) {
  Uuid u{};
  std::copy(std::begin(props.uuid.id), std::end(props.uuid.id), u.begin());
  return u;
}

Uuid uuid_of(ze_driver_handle_t driver) {
  ze_driver_properties_t props{};
  props.stype = ZE_STRUCTURE_TYPE_DRIVER_PROPERTIES;
  check(zeDriverGetProperties(driver, &props), "zeDriverGetProperties");
  return uuid_in(props);
}

Uuid uuid_of(ze_device_handle_t device) {
  ze_device_properties_t props{};
  props.stype = ZE_STRUCTURE_TYPE_DEVICE_PROPERTIES;
  check(zeDeviceGetProperties(device, &props), "zeDeviceGetProperties");
  return uuid_in(props);
}

// The root device of a device the drivers list, or null for one they do not.
ze_device_handle_t root_of(ze_device_handle_t device) {
  for (const auto& at : locate_all()) {
    if (at.device == device) return at.root;
  }
  return nullptr;
}

DeviceInfo describe(const Located& at, int index, ze_device_properties_t* props_out = nullptr) {
  DeviceInfo info;
  info.backend = Backend::level_zero;
  info.index = index;
  IpVersionExt ip{kIpVersionStype, nullptr, 0};
  ze_device_properties_t props{};
  props.stype = ZE_STRUCTURE_TYPE_DEVICE_PROPERTIES;
  props.pNext = &ip;
  check(zeDeviceGetProperties(at.device, &props), "zeDeviceGetProperties");
  info.name = props.name;
  if (at.tile >= 0) info.name += " (tile " + std::to_string(at.tile) + ")";
  info.vendor = props.vendorId == 0x8086 ? "Intel(R) Corporation" : "vendor 0x" + std::to_string(props.vendorId);
  info.is_gpu = props.type == ZE_DEVICE_TYPE_GPU;
  info.is_cpu = props.type == ZE_DEVICE_TYPE_CPU;
  // Xe-cores (sub-slices), the unit a work-group lands on.
  info.compute_units = static_cast<int>(props.numSlices * props.numSubslicesPerSlice);
  if (ip.ipVersion != 0) info.ip_version = ip.ipVersion;
  ze_driver_properties_t driver_props{};
  driver_props.stype = ZE_STRUCTURE_TYPE_DRIVER_PROPERTIES;
  check(zeDriverGetProperties(at.driver, &driver_props), "zeDriverGetProperties");
  info.platform = "Level Zero";
  info.driver_version = std::to_string(driver_props.driverVersion);

  ze_device_compute_properties_t compute{};
  compute.stype = ZE_STRUCTURE_TYPE_DEVICE_COMPUTE_PROPERTIES;
  check(zeDeviceGetComputeProperties(at.device, &compute), "zeDeviceGetComputeProperties");
  info.max_work_group_size = compute.maxTotalGroupSize;
  info.local_mem_bytes = compute.maxSharedLocalMemory;
  for (std::uint32_t i = 0; i < compute.numSubGroupSizes && i < ZE_SUBGROUPSIZE_COUNT; ++i) {
    info.sub_group_sizes.push_back(compute.subGroupSizes[i]);
  }
  std::uint32_t mem_count = 0;
  check(zeDeviceGetMemoryProperties(at.device, &mem_count, nullptr), "zeDeviceGetMemoryProperties");
  std::vector<ze_device_memory_properties_t> mems(mem_count);
  for (auto& m : mems) m.stype = ZE_STRUCTURE_TYPE_DEVICE_MEMORY_PROPERTIES;
  if (mem_count > 0) {
    check(zeDeviceGetMemoryProperties(at.device, &mem_count, mems.data()), "zeDeviceGetMemoryProperties");
  }
  for (const auto& m : mems) info.global_mem_bytes += m.totalSize;
  std::uint32_t ext_count = 0;
  if (zeDriverGetExtensionProperties(at.driver, &ext_count, nullptr) == ZE_RESULT_SUCCESS && ext_count > 0) {
    std::vector<ze_driver_extension_properties_t> exts(ext_count);
    check(zeDriverGetExtensionProperties(at.driver, &ext_count, exts.data()), "zeDriverGetExtensionProperties");
    for (const auto& e : exts) info.extensions.emplace_back(e.name);
  }
  ze_device_module_properties_t module{};
  module.stype = ZE_STRUCTURE_TYPE_DEVICE_MODULE_PROPERTIES;
  // Chained only where the driver names the extension: the validation layer
  // rejects an stype it does not know.
  DotProductProperties dot_product;
  if (info.has_extension(kDotProductExtension)) module.pNext = &dot_product;
  check(zeDeviceGetModuleProperties(at.device, &module), "zeDeviceGetModuleProperties");
  info.accepts_spirv = module.spirvVersionSupported != 0;
  info.matrix_engines = (dot_product.flags & kDotProductFlagDpas) != 0;
  if (props_out != nullptr) {
    *props_out = props;
    props_out->pNext = nullptr;
  }
  return info;
}

class ZeBuffer final : public Buffer {
 public:
  ZeBuffer(ze_context_handle_t context, ze_device_handle_t device, std::size_t bytes)
      : Buffer(bytes), context_(context) {
    ze_device_mem_alloc_desc_t desc{};
    desc.stype = ZE_STRUCTURE_TYPE_DEVICE_MEM_ALLOC_DESC;
    check(zeMemAllocDevice(context, &desc, bytes == 0 ? 64 : bytes, 64, device, &ptr_), "zeMemAllocDevice",
          std::to_string(bytes) + " bytes");
  }
  // The caller's USM pointer (Device::wrap): used, never freed (no context).
  ZeBuffer(void* borrowed, std::size_t bytes) : Buffer(bytes), context_(nullptr), ptr_(borrowed) {}
  ~ZeBuffer() override {
    if (context_ != nullptr && ptr_ != nullptr) zeMemFree(context_, ptr_);
  }
  void* ptr() const { return ptr_; }

 private:
  ze_context_handle_t context_;  // null for a borrowed pointer
  void* ptr_ = nullptr;
};

class ZeKernel final : public Kernel {
 public:
  ZeKernel(ze_module_handle_t module, std::string name) : name_(std::move(name)) {
    ze_kernel_desc_t desc{};
    desc.stype = ZE_STRUCTURE_TYPE_KERNEL_DESC;
    desc.pKernelName = name_.c_str();
    ze_kernel_handle_t k = nullptr;
    check(zeKernelCreate(module, &desc, &k), "zeKernelCreate", name_);
    kernel_ = KernelHandle(k);
    ze_kernel_properties_t props{};
    props.stype = ZE_STRUCTURE_TYPE_KERNEL_PROPERTIES;
    check(zeKernelGetProperties(k, &props), "zeKernelGetProperties", name_);
    required_ = {props.requiredGroupSizeX, props.requiredGroupSizeY, props.requiredGroupSizeZ};
  }
  std::string_view name() const override { return name_; }
  void set_buffer(std::uint32_t index, const Buffer* buffer) override {
    void* ptr = buffer ? static_cast<const ZeBuffer*>(buffer)->ptr() : nullptr;
    check(zeKernelSetArgumentValue(kernel_.get(), index, sizeof(void*), &ptr), "zeKernelSetArgumentValue",
          name_ + " argument " + std::to_string(index));
  }
  void set_bytes(std::uint32_t index, const void* data, std::size_t size) override {
    check(zeKernelSetArgumentValue(kernel_.get(), index, size, data), "zeKernelSetArgumentValue",
          name_ + " argument " + std::to_string(index));
  }
  // The group size comes from the kernel: its required size when it has one.
  void use_group_size(Range3 local) {
    if (required_.x != 0 && (required_.x != local.x || required_.y != local.y || required_.z != local.z)) {
      throw Error("zeKernelSetGroupSize", kInvalidArgument,
                  name_ + " requires group size " + std::to_string(required_.x) + "x" + std::to_string(required_.y) +
                      "x" + std::to_string(required_.z) + ", launch asked for " + std::to_string(local.x) + "x" +
                      std::to_string(local.y) + "x" + std::to_string(local.z));
    }
    if (local.x != group_.x || local.y != group_.y || local.z != group_.z) {
      check(zeKernelSetGroupSize(kernel_.get(), static_cast<std::uint32_t>(local.x),
                                 static_cast<std::uint32_t>(local.y), static_cast<std::uint32_t>(local.z)),
            "zeKernelSetGroupSize", name_);
      group_ = local;
    }
  }
  ze_kernel_handle_t get() const { return kernel_.get(); }

 private:
  std::string name_;
  KernelHandle kernel_;
  Range3 required_{0, 0, 0};
  Range3 group_{0, 0, 0};
};

using ZePrograms = ProgramCache<ModuleHandle, ZeKernel>;

constexpr std::uint32_t kTimedEvents = 64;
static_assert(sizeof(ze_group_count_t) == LaunchCounts::kSlotBytes);

class ZeDevice;

class ZeEvent final : public Event {
 public:
  ZeEvent(ZeDevice& device, std::uint32_t slot) : device_(device), slot_(slot) {}
  ~ZeEvent() override;
  double elapsed_ms() override;

 private:
  ZeDevice& device_;
  std::uint32_t slot_;
};

class ZeRecording final : public Recording {
 public:
  ZeRecording(ZeDevice& device, CommandListHandle list) : device_(device), list_(std::move(list)) {}
  ~ZeRecording() override;  // waits until the list is no longer running
  void replay() override;

 private:
  ZeDevice& device_;
  CommandListHandle list_;
};

class ZeDevice final : public Device {
 public:
  // A device on a context and immediate command list of its own.
  ZeDevice(const Located& at, int index, Settings settings)
      : ZeDevice(at, index, std::move(settings), nullptr, nullptr) {}
  // On the caller's context, and on its immediate command list when `list`
  // is given (ze::adopt): those handles are used, never destroyed.
  ZeDevice(const Located& at, int index, Settings settings, ze_context_handle_t context, ze_command_list_handle_t list)
      : Device(std::move(settings)), device_(at.device), root_(at.root), info_(describe(at, index, &props_)) {
    if (context == nullptr) {
      ze_context_desc_t context_desc{};
      context_desc.stype = ZE_STRUCTURE_TYPE_CONTEXT_DESC;
      check(zeContextCreate(at.driver, &context_desc, &context), "zeContextCreate");
      owned_context_ = ContextHandle(context);
    }
    context_ = context;
    ordinal_ = compute_ordinal();
    if (list == nullptr) {
      ze_command_queue_desc_t queue_desc{};
      queue_desc.stype = ZE_STRUCTURE_TYPE_COMMAND_QUEUE_DESC;
      queue_desc.ordinal = ordinal_;
      queue_desc.mode = ZE_COMMAND_QUEUE_MODE_ASYNCHRONOUS;
      check(zeCommandListCreateImmediate(context, device_, &queue_desc, &list), "zeCommandListCreateImmediate");
      owned_list_ = CommandListHandle(list);
    }
    list_ = list;

    // One pool for the finish() fence, one for kernel timestamps; made once.
    ze_event_pool_desc_t fence_pool{};
    fence_pool.stype = ZE_STRUCTURE_TYPE_EVENT_POOL_DESC;
    fence_pool.flags = ZE_EVENT_POOL_FLAG_HOST_VISIBLE;
    fence_pool.count = 1;
    fence_pool_ = make_pool(fence_pool);
    fence_ = make_event(fence_pool_.get(), 0);
    ze_event_pool_desc_t timed_pool = fence_pool;
    timed_pool.flags = ZE_EVENT_POOL_FLAG_HOST_VISIBLE | ZE_EVENT_POOL_FLAG_KERNEL_TIMESTAMP;
    timed_pool.count = kTimedEvents;
    timed_pool_ = make_pool(timed_pool);
    for (std::uint32_t i = 0; i < kTimedEvents; ++i) {
      timed_.push_back(make_event(timed_pool_.get(), i));
      free_slots_.push_back(kTimedEvents - 1 - i);
    }
  }

  ~ZeDevice() override {
    if (list_ != nullptr) {
      try {
        finish();
      } catch (const Error& e) {
        log::warn(std::string("Level Zero device teardown: ") + e.what());
      }
    }
    programs_.clear();  // kernels and modules before the context
    queue_.reset();
  }

  const DeviceInfo& info() const override { return info_; }

  std::unique_ptr<Buffer> allocate(std::size_t bytes) override {
    return std::make_unique<ZeBuffer>(context_, device_, bytes);
  }

  // A USM pointer of this context that the device can reach, with `bytes`
  // from it inside its allocation. A driver that leaves the queried fields as
  // they were (the loader's null driver does) cannot vouch for the pointer:
  // it is taken with a warning rather than refused.
  std::unique_ptr<Buffer> wrap(void* native, std::size_t bytes) override {
    constexpr const char* kCall = "Runtime::wrap";
    require(native != nullptr, kCall, "the Level Zero USM pointer is null");
    const auto unchecked = [&] {
      log::warn("Level Zero " + info_.name + ": the driver does not describe USM allocations; the wrapped " +
                "pointer's context, device and size are unchecked");
      return std::make_unique<ZeBuffer>(native, bytes);
    };
    ze_memory_allocation_properties_t props{};
    props.stype = ZE_STRUCTURE_TYPE_MEMORY_ALLOCATION_PROPERTIES;
    props.type = ZE_MEMORY_TYPE_FORCE_UINT32;  // "not answered"
    ze_device_handle_t owner = nullptr;
    check(zeMemGetAllocProperties(context_, native, &props, &owner), "zeMemGetAllocProperties");
    if (props.type == ZE_MEMORY_TYPE_FORCE_UINT32) return unchecked();
    require(props.type != ZE_MEMORY_TYPE_UNKNOWN, kCall,
            "the pointer is not a USM allocation of the runtime's Level Zero context");
    // Host allocations are reachable from every device of the context; a
    // device or shared one from its device, its root device and its tiles.
    const bool reachable = props.type == ZE_MEMORY_TYPE_HOST || owner == device_ || owner == root_ ||
                           (owner != nullptr && root_of(owner) == device_);
    require(reachable, kCall, "the USM allocation belongs to another device than the runtime's");
    void* base = nullptr;
    std::size_t size = 0;
    check(zeMemGetAddressRange(context_, native, &base, &size), "zeMemGetAddressRange");
    if (base == nullptr && size == 0) return unchecked();
    const auto at = reinterpret_cast<std::uintptr_t>(native);
    const auto from = reinterpret_cast<std::uintptr_t>(base);
    const std::size_t offset = at >= from ? at - from : size + 1;
    require(offset <= size && size - offset >= bytes, kCall, [&] {
      return "the USM allocation holds " + std::to_string(size) + " bytes, " +
             std::to_string(offset <= size ? size - offset : 0) + " of them from the pointer; " +
             std::to_string(bytes) + " were named";
    });
    return std::make_unique<ZeBuffer>(native, bytes);
  }

  void write(Buffer& dst, const void* src, std::size_t bytes, std::size_t offset) override {
    check_copy_range(dst, bytes, offset, "write");
    if (bytes == 0) return;
    settle_replays();
    auto* p = static_cast<char*>(static_cast<ZeBuffer&>(dst).ptr()) + offset;
    check(zeCommandListAppendMemoryCopy(list_, p, src, bytes, nullptr, 0, nullptr), "zeCommandListAppendMemoryCopy");
    finish();  // the host source may go away once we return
  }

  void read(const Buffer& src, void* dst, std::size_t bytes, std::size_t offset) override {
    check_copy_range(src, bytes, offset, "read");
    if (bytes == 0) return;
    settle_replays();
    const auto* p = static_cast<const char*>(static_cast<const ZeBuffer&>(src).ptr()) + offset;
    check(zeCommandListAppendMemoryCopy(list_, dst, p, bytes, nullptr, 0, nullptr), "zeCommandListAppendMemoryCopy");
    finish();
  }

  Kernel& kernel(const ProgramKey& key, std::string_view name) override {
    return ZePrograms::kernel(program(key), name, [](const ModuleHandle& m, std::string n) {
      return std::make_unique<ZeKernel>(m.get(), std::move(n));
    });
  }

  const kernels::KernelBinary* loaded_binary(const ProgramKey& key) const override { return programs_.binary(key); }

  std::unique_ptr<Event> launch(Kernel& kernel, Range3 groups, Range3 local, bool timed) override {
    auto& k = static_cast<ZeKernel&>(kernel);
    k.use_group_size(local);
    settle_replays();
    const ze_group_count_t count{static_cast<std::uint32_t>(groups.x), static_cast<std::uint32_t>(groups.y),
                                 static_cast<std::uint32_t>(groups.z)};
    std::unique_ptr<ZeEvent> event;
    ze_event_handle_t signal = nullptr;
    if (timed) {
      if (free_slots_.empty()) {
        throw Error("Device::launch", kOutOfResources,
                    std::to_string(kTimedEvents) + " timed launches are outstanding; read or drop their events");
      }
      const std::uint32_t slot = free_slots_.back();
      free_slots_.pop_back();
      event = std::make_unique<ZeEvent>(*this, slot);
      signal = timed_[slot].get();
    }
    check(zeCommandListAppendLaunchKernel(list_, k.get(), &count, signal, 0, nullptr),
          "zeCommandListAppendLaunchKernel", std::string(kernel.name()));
    // Commands of one list may overlap unless a barrier separates them; the
    // Device contract (and stage 2 reading stage 1) needs them in order.
    check(zeCommandListAppendBarrier(list_, nullptr, 0, nullptr), "zeCommandListAppendBarrier");
    launched_ = true;
    return event;
  }

  void finish() override {
    settle_replays();
    check(zeCommandListAppendBarrier(list_, fence_.get(), 0, nullptr), "zeCommandListAppendBarrier");
    check(zeEventHostSynchronize(fence_.get(), UINT64_MAX), "zeEventHostSynchronize");
    check(zeEventHostReset(fence_.get()), "zeEventHostReset");
    launched_ = false;
  }

  std::unique_ptr<Recorder> record() override;

  // Recorded lists run on their own queue, next to the immediate list; the
  // two are ordered by waiting on the host only when work crosses from one
  // to the other, so back-to-back replays (a step's layers) never wait.
  // On the caller's list that is not enough: the caller's own commands on it
  // come before and after ours unseen, so a replay waits for the list before
  // it starts, and for itself before it returns.
  void execute(ze_command_list_handle_t list) {
    if (launched_ || callers_list()) finish();
    if (queue_.get() == nullptr) {
      ze_command_queue_desc_t desc{};
      desc.stype = ZE_STRUCTURE_TYPE_COMMAND_QUEUE_DESC;
      desc.ordinal = ordinal_;
      desc.mode = ZE_COMMAND_QUEUE_MODE_ASYNCHRONOUS;
      ze_command_queue_handle_t q = nullptr;
      check(zeCommandQueueCreate(context_, device_, &desc, &q), "zeCommandQueueCreate");
      queue_ = CommandQueueHandle(q);
    }
    check(zeCommandQueueExecuteCommandLists(queue_.get(), 1, &list, nullptr), "zeCommandQueueExecuteCommandLists");
    replayed_ = true;
    if (callers_list()) settle_replays();
  }

  ze_command_list_handle_t new_command_list() {
    ze_command_list_desc_t desc{};
    desc.stype = ZE_STRUCTURE_TYPE_COMMAND_LIST_DESC;
    desc.commandQueueGroupOrdinal = ordinal_;
    ze_command_list_handle_t list = nullptr;
    check(zeCommandListCreate(context_, device_, &desc, &list), "zeCommandListCreate");
    return list;
  }

  double slot_elapsed_ms(std::uint32_t slot) {
    ze_event_handle_t e = timed_[slot].get();
    check(zeEventHostSynchronize(e, UINT64_MAX), "zeEventHostSynchronize");
    ze_kernel_timestamp_result_t ts{};
    check(zeEventQueryKernelTimestamp(e, &ts), "zeEventQueryKernelTimestamp");
    const std::uint64_t mask = props_.kernelTimestampValidBits >= 64
                                   ? ~std::uint64_t{0}
                                   : (std::uint64_t{1} << props_.kernelTimestampValidBits) - 1;
    const std::uint64_t ticks = (ts.context.kernelEnd - ts.context.kernelStart) & mask;
    return static_cast<double>(ticks) * static_cast<double>(props_.timerResolution) * 1e-6;
  }

  void release_slot(std::uint32_t slot) {
    zeEventHostReset(timed_[slot].get());
    free_slots_.push_back(slot);
  }

  // Host wait for every replay submitted so far.
  void settle_replays() {
    if (!replayed_) return;
    check(zeCommandQueueSynchronize(queue_.get(), UINT64_MAX), "zeCommandQueueSynchronize");
    replayed_ = false;
  }

 private:
  std::uint32_t compute_ordinal() const {
    std::uint32_t n = 0;
    check(zeDeviceGetCommandQueueGroupProperties(device_, &n, nullptr), "zeDeviceGetCommandQueueGroupProperties");
    std::vector<ze_command_queue_group_properties_t> groups(n);
    for (auto& g : groups) g.stype = ZE_STRUCTURE_TYPE_COMMAND_QUEUE_GROUP_PROPERTIES;
    if (n > 0) {
      check(zeDeviceGetCommandQueueGroupProperties(device_, &n, groups.data()),
            "zeDeviceGetCommandQueueGroupProperties");
    }
    for (std::uint32_t i = 0; i < n; ++i) {
      if (groups[i].flags & ZE_COMMAND_QUEUE_GROUP_PROPERTY_FLAG_COMPUTE) return i;
    }
    return 0;
  }

  EventPoolHandle make_pool(const ze_event_pool_desc_t& desc) {
    ze_event_pool_handle_t pool = nullptr;
    check(zeEventPoolCreate(context_, &desc, 1, const_cast<ze_device_handle_t*>(&device_), &pool), "zeEventPoolCreate");
    return EventPoolHandle(pool);
  }

  static EventHandle make_event(ze_event_pool_handle_t pool, std::uint32_t index) {
    ze_event_desc_t desc{};
    desc.stype = ZE_STRUCTURE_TYPE_EVENT_DESC;
    desc.index = index;
    desc.signal = ZE_EVENT_SCOPE_FLAG_HOST;
    desc.wait = ZE_EVENT_SCOPE_FLAG_HOST;
    ze_event_handle_t e = nullptr;
    check(zeEventCreate(pool, &desc, &e), "zeEventCreate");
    return EventHandle(e);
  }

  ZePrograms::Entry& program(const ProgramKey& key) {
    if (auto* cached = programs_.find(key)) return *cached;
    const BinaryChoice choice = choose_binary(info_, key, settings().emulated_dpas_sub_group);
    log::info("Level Zero " + info_.name + ": " + key.name() + " from " + choice.reason);
    ModuleHandle module = build_module(*choice.binary);
    if (module.get() == nullptr && choice.binary->format == kernels::BinaryFormat::zebin) {
      // A native binary the driver rejects is not fatal while SPIR-V of the
      // same program is embedded.
      if (const auto* spirv = spirv_fallback(key)) {
        log::warn("Level Zero " + info_.name + ": native zebin for " + key.program +
                  " was rejected; falling back to SPIR-V");
        return programs_.insert(key, spirv, build_module(*spirv, true));
      }
    }
    if (module.get() == nullptr) module = build_module(*choice.binary, true);
    return programs_.insert(key, choice.binary, std::move(module));
  }

  // Returns an empty handle on failure unless `throw_on_failure`, in which
  // case the error carries the build log.
  ModuleHandle build_module(const kernels::KernelBinary& bin, bool throw_on_failure = false) {
    ze_module_desc_t desc{};
    desc.stype = ZE_STRUCTURE_TYPE_MODULE_DESC;
    desc.format = bin.format == kernels::BinaryFormat::zebin ? ZE_MODULE_FORMAT_NATIVE : ZE_MODULE_FORMAT_IL_SPIRV;
    desc.inputSize = bin.bytes.size();
    desc.pInputModule = bin.bytes.data();
    desc.pBuildFlags = "";
    ze_module_handle_t module = nullptr;
    ze_module_build_log_handle_t log_handle = nullptr;
    const ze_result_t r = zeModuleCreate(context_, device_, &desc, &module, &log_handle);
    BuildLogHandle build_log(log_handle);
    if (r == ZE_RESULT_SUCCESS) return ModuleHandle(module);
    if (!throw_on_failure) return {};
    std::string text;
    std::size_t size = 0;
    if (log_handle != nullptr && zeModuleBuildLogGetString(log_handle, &size, nullptr) == ZE_RESULT_SUCCESS) {
      text.resize(size);
      zeModuleBuildLogGetString(log_handle, &size, text.data());
    }
    check(r, "zeModuleCreate",
          std::string(bin.program) + "/" + std::string(bin.variant) + " " +
              std::string(kernels::format_name(bin.format)) + " build log:\n" + text);
    return {};
  }

  // list_ is the caller's (adopted) immediate list, not one of zemla's.
  bool callers_list() const { return owned_list_.get() == nullptr; }

  ze_device_handle_t device_;
  ze_device_handle_t root_;         // device_, or its root device when device_ is a tile
  ze_device_properties_t props_{};  // before info_: describe() fills both
  DeviceInfo info_;
  ContextHandle owned_context_;  // empty when the context is the caller's
  ze_context_handle_t context_ = nullptr;
  std::uint32_t ordinal_ = 0;     // the compute queue group
  CommandListHandle owned_list_;  // empty when the list is the caller's
  ze_command_list_handle_t list_ = nullptr;
  EventPoolHandle fence_pool_;
  EventHandle fence_;
  EventPoolHandle timed_pool_;
  std::vector<EventHandle> timed_;
  std::vector<std::uint32_t> free_slots_;
  ZePrograms programs_;
  CommandQueueHandle queue_;  // for recorded lists, made at the first replay
  bool launched_ = false;     // the immediate list has launches not yet finished
  bool replayed_ = false;     // the queue has replays not yet synchronized
};

// A regular command list of indirect launches, each followed by a barrier so
// that a layer's kernels run in order; the list starts with one so that it
// also follows whatever ran before it on the queue.
class ZeRecorder final : public Recorder {
 public:
  explicit ZeRecorder(ZeDevice& device) : device_(device), list_(device.new_command_list()) {
    check(zeCommandListAppendBarrier(list_.get(), nullptr, 0, nullptr), "zeCommandListAppendBarrier");
  }
  void launch(Kernel& kernel, const LaunchCounts& counts, std::size_t slot, Range3 local) override {
    require(list_.get() != nullptr, "Recorder::launch", "the recording is already closed");
    counts.check_slot(slot);
    auto& k = static_cast<ZeKernel&>(kernel);
    k.use_group_size(local);
    const auto* base = static_cast<const char*>(static_cast<const ZeBuffer&>(counts.buffer()).ptr());
    const auto* count = reinterpret_cast<const ze_group_count_t*>(base + slot * LaunchCounts::kSlotBytes);
    check(zeCommandListAppendLaunchKernelIndirect(list_.get(), k.get(), count, nullptr, 0, nullptr),
          "zeCommandListAppendLaunchKernelIndirect", std::string(kernel.name()));
    check(zeCommandListAppendBarrier(list_.get(), nullptr, 0, nullptr), "zeCommandListAppendBarrier");
  }
  std::unique_ptr<Recording> close() override {
    require(list_.get() != nullptr, "Recorder::close", "the recording is already closed");
    check(zeCommandListClose(list_.get()), "zeCommandListClose");
    return std::make_unique<ZeRecording>(device_, std::move(list_));
  }

 private:
  ZeDevice& device_;
  CommandListHandle list_;
};

std::unique_ptr<Recorder> ZeDevice::record() { return std::make_unique<ZeRecorder>(*this); }
void ZeRecording::replay() { device_.execute(list_.get()); }
ZeRecording::~ZeRecording() {
  try {
    device_.settle_replays();
  } catch (const Error& e) {
    log::warn(std::string("Level Zero recording teardown: ") + e.what());
  }
}

ZeEvent::~ZeEvent() { device_.release_slot(slot_); }
double ZeEvent::elapsed_ms() { return device_.slot_elapsed_ms(slot_); }

}  // namespace

Availability availability() { return init_once(); }

std::vector<DeviceInfo> enumerate() {
  std::vector<DeviceInfo> out;
  const auto all = locate_all();
  for (std::size_t i = 0; i < all.size(); ++i) out.push_back(describe(all[i], static_cast<int>(i)));
  return out;
}

std::unique_ptr<Device> adopt(const Adopted& handles, const Settings& settings) {
  constexpr const char* kCall = "Runtime::from_level_zero";
  require(handles.driver != nullptr && handles.context != nullptr && handles.device != nullptr, kCall,
          "the driver, context and device must all be given (the command list is optional)");
  const auto driver = static_cast<ze_driver_handle_t>(handles.driver);
  const auto device = static_cast<ze_device_handle_t>(handles.device);
  const auto context = static_cast<ze_context_handle_t>(handles.context);
  // Found by handle; or, where each query hands out new handles (the
  // loader's null driver does), by the driver's and the device's UUIDs.
  const auto all = locate_all();
  int index = -1;
  for (std::size_t i = 0; i < all.size() && index < 0; ++i) {
    if (all[i].driver == driver && all[i].device == device) index = static_cast<int>(i);
  }
  for (std::size_t i = 0; i < all.size() && index < 0; ++i) {
    if (uuid_of(all[i].driver) == uuid_of(driver) && uuid_of(all[i].device) == uuid_of(device)) {
      index = static_cast<int>(i);
    }
  }
  require(index >= 0, kCall, [&] {
    return "the device is none of the driver's devices or tiles (" + std::to_string(all.size()) +
           " Level Zero device(s) found" + (init_once().available ? "" : ", " + init_once().reason) + ")";
  });
  Located at = all[std::size_t(index)];
  if (at.tile < 0) at.root = device;  // the caller's handles from here on
  at.driver = driver;
  at.device = device;
  check(zeContextGetStatus(context), "zeContextGetStatus", "the caller's context");
  return std::make_unique<ZeDevice>(at, index, settings, context,
                                    static_cast<ze_command_list_handle_t>(handles.command_list));
}

std::unique_ptr<Device> open(int index, const Settings& settings) {
  const auto all = locate_all();
  if (index < 0 || static_cast<std::size_t>(index) >= all.size()) {
    throw Error("ze::open", kNotFound,
                "Level Zero device index " + std::to_string(index) + " does not exist; " + std::to_string(all.size()) +
                    " device(s) found" + (init_once().available ? "" : " (" + init_once().reason + ")"));
  }
  return std::make_unique<ZeDevice>(all[index], index, settings);
}

}  // namespace zemla::rt::ze
