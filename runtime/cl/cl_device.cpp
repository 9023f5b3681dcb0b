#include "runtime/cl/cl_device.hpp"

#include <array>
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <sstream>

#include "runtime/binary_choice.hpp"
#include "runtime/cl/cl_handle.hpp"
#include "runtime/cl/cl_program_store.hpp"
#include "runtime/log.hpp"
#include "runtime/program_cache.hpp"
#include "runtime/recording.hpp"
#include "zemla/error.hpp"

namespace zemla::rt::cl {

namespace {

// cl_intel_required_subgroup_size's query, not in Khronos' core headers.
constexpr cl_device_info kDeviceSubGroupSizesIntel = 0x4108;
// cl_nv_device_attribute_query's values (CL/cl_ext.h names them *_NV).
constexpr cl_device_info kDeviceComputeCapabilityMajorNv = 0x4000;
constexpr cl_device_info kDeviceComputeCapabilityMinorNv = 0x4001;

struct Located {
  cl_platform_id platform;
  cl_device_id device;
};

// OpenCL discovery and context creation, serialised: PoCL's device
// discovery races when two threads enter it at once (two Runtimes made
// together saw no platform), and the ICD loader's first call is no better
// guarded. Held by enumerate() and open() for their whole run.
std::mutex& discovery_mutex() {
  static std::mutex m;
  return m;
}

std::vector<Located> locate_all() {
  cl_uint count = 0;
  const cl_int r = clGetPlatformIDs(0, nullptr, &count);
  if (r == -1001 /* CL_PLATFORM_NOT_FOUND_KHR */ || count == 0) return {};
  check(r, "clGetPlatformIDs");
  std::vector<cl_platform_id> platforms(count);
  check(clGetPlatformIDs(count, platforms.data(), nullptr), "clGetPlatformIDs");
  std::vector<Located> all;
  for (auto p : platforms) {
    cl_uint n = 0;
    const cl_int found = clGetDeviceIDs(p, CL_DEVICE_TYPE_ALL, 0, nullptr, &n);
    if (found == CL_DEVICE_NOT_FOUND || (found == CL_SUCCESS && n == 0)) continue;
    check(found, "clGetDeviceIDs");
    std::vector<cl_device_id> devices(n);
    check(clGetDeviceIDs(p, CL_DEVICE_TYPE_ALL, n, devices.data(), nullptr), "clGetDeviceIDs");
    for (auto d : devices) all.push_back({p, d});
  }
  return all;
}

std::string device_string(cl_device_id d, cl_device_info what) {
  std::size_t size = 0;
  if (clGetDeviceInfo(d, what, 0, nullptr, &size) != CL_SUCCESS || size == 0) return {};
  std::string s(size, '\0');
  check(clGetDeviceInfo(d, what, size, s.data(), nullptr), "clGetDeviceInfo");
  while (!s.empty() && (s.back() == '\0' || s.back() == ' ')) s.pop_back();
  return s;
}

template <typename T>
T device_value(cl_device_id d, cl_device_info what) {
  T v{};
  check(clGetDeviceInfo(d, what, sizeof(T), &v, nullptr), "clGetDeviceInfo");
  return v;
}

DeviceInfo describe(const Located& at, int index) {
  DeviceInfo info;
  info.backend = Backend::opencl;
  info.index = index;
  info.name = device_string(at.device, CL_DEVICE_NAME);
  info.vendor = device_string(at.device, CL_DEVICE_VENDOR);
  info.driver_version = device_string(at.device, CL_DRIVER_VERSION);
  std::size_t size = 0;
  clGetPlatformInfo(at.platform, CL_PLATFORM_NAME, 0, nullptr, &size);
  info.platform.resize(size);
  clGetPlatformInfo(at.platform, CL_PLATFORM_NAME, size, info.platform.data(), nullptr);
  while (!info.platform.empty() && info.platform.back() == '\0') info.platform.pop_back();
  const auto type = device_value<cl_device_type>(at.device, CL_DEVICE_TYPE);
  info.is_gpu = (type & CL_DEVICE_TYPE_GPU) != 0;
  info.is_cpu = (type & CL_DEVICE_TYPE_CPU) != 0;
  info.compute_units = static_cast<int>(device_value<cl_uint>(at.device, CL_DEVICE_MAX_COMPUTE_UNITS));
  info.max_work_group_size = device_value<std::size_t>(at.device, CL_DEVICE_MAX_WORK_GROUP_SIZE);
  info.local_mem_bytes = device_value<cl_ulong>(at.device, CL_DEVICE_LOCAL_MEM_SIZE);
  info.global_mem_bytes = device_value<cl_ulong>(at.device, CL_DEVICE_GLOBAL_MEM_SIZE);
  info.accepts_spirv = device_string(at.device, CL_DEVICE_IL_VERSION).find("SPIR-V") != std::string::npos;
  std::istringstream extensions(device_string(at.device, CL_DEVICE_EXTENSIONS));
  for (std::string e; extensions >> e;) info.extensions.push_back(e);
  info.matrix_engines = info.has_extension("cl_intel_subgroup_matrix_multiply_accumulate");
  // cl_nv_device_attribute_query: the compute capability, which decides
  // whether the tensor-core variant (mma.sync, sm_80 on) can run.
  if (info.has_extension("cl_nv_device_attribute_query")) {
    cl_uint major = 0, minor = 0;
    if (clGetDeviceInfo(at.device, kDeviceComputeCapabilityMajorNv, sizeof major, &major, nullptr) == CL_SUCCESS &&
        clGetDeviceInfo(at.device, kDeviceComputeCapabilityMinorNv, sizeof minor, &minor, nullptr) == CL_SUCCESS) {
      info.nv_compute_capability = static_cast<int>(major * 10 + minor);
    }
  }
  if (info.has_extension("cl_intel_required_subgroup_size")) {
    std::size_t bytes = 0;
    if (clGetDeviceInfo(at.device, kDeviceSubGroupSizesIntel, 0, nullptr, &bytes) == CL_SUCCESS) {
      std::vector<std::size_t> sizes(bytes / sizeof(std::size_t));
      clGetDeviceInfo(at.device, kDeviceSubGroupSizesIntel, bytes, sizes.data(), nullptr);
      for (auto s : sizes) info.sub_group_sizes.push_back(static_cast<std::uint32_t>(s));
    }
  }
  return info;
}

// The build log of `program` on its one device; empty when there is none.
std::string program_build_log(cl_program program) {
  cl_device_id device = nullptr;
  if (clGetProgramInfo(program, CL_PROGRAM_DEVICES, sizeof device, &device, nullptr) != CL_SUCCESS) return {};
  std::size_t size = 0;
  clGetProgramBuildInfo(program, device, CL_PROGRAM_BUILD_LOG, 0, nullptr, &size);
  std::string log(size, '\0');
  clGetProgramBuildInfo(program, device, CL_PROGRAM_BUILD_LOG, size, log.data(), nullptr);
  return log;
}

// The driver's binary of a built program on its one device, for the
// program store; empty when the driver gives none.
std::vector<unsigned char> program_binary(cl_program program) {
  std::size_t size = 0;
  if (clGetProgramInfo(program, CL_PROGRAM_BINARY_SIZES, sizeof size, &size, nullptr) != CL_SUCCESS || size == 0) {
    return {};
  }
  std::vector<unsigned char> bytes(size);
  unsigned char* data = bytes.data();
  if (clGetProgramInfo(program, CL_PROGRAM_BINARIES, sizeof data, &data, nullptr) != CL_SUCCESS) return {};
  return bytes;
}

class ClBuffer final : public Buffer {
 public:
  ClBuffer(cl_context context, std::size_t bytes) : Buffer(bytes) {
    cl_int err = CL_SUCCESS;
    // OpenCL refuses zero-sized buffers; a 16-byte one keeps the API total.
    mem_ = MemHandle(clCreateBuffer(context, CL_MEM_READ_WRITE, bytes == 0 ? 16 : bytes, nullptr, &err));
    check(err, "clCreateBuffer", std::to_string(bytes) + " bytes");
  }
  // The caller's cl_mem: one more reference, which the handle releases.
  ClBuffer(cl_mem caller_mem, std::size_t bytes) : Buffer(bytes) {
    check(clRetainMemObject(caller_mem), "clRetainMemObject");
    mem_ = MemHandle(caller_mem);
  }
  cl_mem mem() const { return mem_.get(); }

 private:
  MemHandle mem_;
};

// An argument value as last set, kept so a recording can re-apply it. Kept
// inline: the plain path stores ~25 of these per launch.
struct ClArg {
  static constexpr std::size_t kMaxBytes = 16;  // zemla's kernels take pointers and scalars
  std::array<unsigned char, kMaxBytes> value{};
  std::size_t size = 0;
  bool null_buffer = false;
};

class ClKernel final : public Kernel {
 public:
  ClKernel(cl_program program, std::string name) : name_(std::move(name)) {
    cl_int err = CL_SUCCESS;
    kernel_ = KernelHandle(clCreateKernel(program, name_.c_str(), &err));
    check(err, "clCreateKernel", name_);
  }
  std::string_view name() const override { return name_; }
  void set_buffer(std::uint32_t index, const Buffer* buffer) override {
    ClArg arg{{}, sizeof(cl_mem), buffer == nullptr};
    if (buffer) {
      const cl_mem mem = static_cast<const ClBuffer*>(buffer)->mem();
      std::memcpy(arg.value.data(), &mem, sizeof mem);
    }
    store(index, arg);
  }
  void set_bytes(std::uint32_t index, const void* data, std::size_t size) override {
    require(size <= ClArg::kMaxBytes, "clSetKernelArg", [&] {
      return name_ + " argument " + std::to_string(index) + " is " + std::to_string(size) + " bytes; at most " +
             std::to_string(ClArg::kMaxBytes) + " are supported";
    });
    ClArg arg{{}, size, false};
    std::memcpy(arg.value.data(), data, size);
    store(index, arg);
  }
  cl_kernel get() const { return kernel_.get(); }
  const std::vector<ClArg>& args() const { return args_; }
  // Sets every argument of a snapshot taken with args().
  void restore(const std::vector<ClArg>& args) {
    for (std::uint32_t i = 0; i < args.size(); ++i) set(i, args[i]);
  }

 private:
  void store(std::uint32_t index, const ClArg& arg) {
    set(index, arg);
    if (args_.size() <= index) args_.resize(index + 1);
    args_[index] = arg;
  }
  void set(std::uint32_t index, const ClArg& arg) {
    check(clSetKernelArg(kernel_.get(), index, arg.size, arg.null_buffer ? nullptr : arg.value.data()),
          "clSetKernelArg", name_ + " argument " + std::to_string(index));
  }

  std::string name_;
  KernelHandle kernel_;
  std::vector<ClArg> args_;
};

class ClEvent final : public Event {
 public:
  explicit ClEvent(cl_event e) : event_(e) {}
  double elapsed_ms() override {
    cl_event e = event_.get();
    check(clWaitForEvents(1, &e), "clWaitForEvents");
    cl_ulong start = 0, end = 0;
    check(clGetEventProfilingInfo(e, CL_PROFILING_COMMAND_START, sizeof start, &start, nullptr),
          "clGetEventProfilingInfo");
    check(clGetEventProfilingInfo(e, CL_PROFILING_COMMAND_END, sizeof end, &end, nullptr), "clGetEventProfilingInfo");
    return static_cast<double>(end - start) * 1e-6;
  }

 private:
  EventHandle event_;
};

using ClPrograms = ProgramCache<ProgramHandle, ClKernel>;

// OpenCL has no indirect launch: a recording keeps each launch's argument
// values and replays them as plain launches sized from the counts' host copy.
class ClRecording final : public Recording {
 public:
  struct Launch {
    ClKernel* kernel;
    std::vector<ClArg> args;
    const LaunchCounts* counts;
    std::size_t slot;
    Range3 local;
  };
  ClRecording(Device& device, std::vector<Launch> launches) : device_(device), launches_(std::move(launches)) {}
  void replay() override {
    for (const auto& l : launches_) {
      l.kernel->restore(l.args);
      device_.launch(*l.kernel, l.counts->at(l.slot), l.local, false);
    }
  }

 private:
  Device& device_;
  std::vector<Launch> launches_;
};

class ClRecorder final : public Recorder {
 public:
  explicit ClRecorder(Device& device) : device_(device) {}
  void launch(Kernel& kernel, const LaunchCounts& counts, std::size_t slot, Range3 local) override {
    auto& k = static_cast<ClKernel&>(kernel);
    counts.check_slot(slot);
    launches_.push_back({&k, k.args(), &counts, slot, local});
  }
  std::unique_ptr<Recording> close() override { return std::make_unique<ClRecording>(device_, std::move(launches_)); }

 private:
  Device& device_;
  std::vector<ClRecording::Launch> launches_;
};

class ClDevice final : public Device {
 public:
  ClDevice(const Located& at, DeviceInfo info, Settings settings)
      : Device(std::move(settings)), device_(at.device), info_(std::move(info)) {
    cl_int err = CL_SUCCESS;
    context_ = ContextHandle(clCreateContext(nullptr, 1, &device_, nullptr, nullptr, &err));
    check(err, "clCreateContext", info_.name);
    const cl_queue_properties props[] = {CL_QUEUE_PROPERTIES, CL_QUEUE_PROFILING_ENABLE, 0};
    queue_ = QueueHandle(clCreateCommandQueueWithProperties(context_.get(), device_, props, &err));
    check(err, "clCreateCommandQueueWithProperties", info_.name);
  }
  // The caller's context and queue (cl::adopt): one more reference to each.
  ClDevice(cl_context context, cl_device_id device, cl_command_queue queue, DeviceInfo info, Settings settings)
      : Device(std::move(settings)), device_(device), info_(std::move(info)) {
    check(clRetainContext(context), "clRetainContext");
    context_ = ContextHandle(context);
    check(clRetainCommandQueue(queue), "clRetainCommandQueue");
    queue_ = QueueHandle(queue);
  }

  std::unique_ptr<Buffer> wrap(void* native, std::size_t bytes) override {
    const auto mem = static_cast<cl_mem>(native);
    require(mem != nullptr, "Device::wrap", "the cl_mem is null");
    cl_context owner = nullptr;
    std::size_t size = 0;
    check(clGetMemObjectInfo(mem, CL_MEM_CONTEXT, sizeof owner, &owner, nullptr), "clGetMemObjectInfo");
    check(clGetMemObjectInfo(mem, CL_MEM_SIZE, sizeof size, &size, nullptr), "clGetMemObjectInfo");
    require(owner == context_.get(), "Device::wrap", "the cl_mem belongs to another cl_context than the runtime's");
    require(bytes <= size, "Device::wrap", [&] {
      return "the cl_mem holds " + std::to_string(size) + " bytes; " + std::to_string(bytes) + " were named";
    });
    return std::make_unique<ClBuffer>(mem, bytes);
  }
  ~ClDevice() override {
    if (queue_.get() != nullptr) clFinish(queue_.get());
  }

  const DeviceInfo& info() const override { return info_; }

  std::unique_ptr<Buffer> allocate(std::size_t bytes) override {
    return std::make_unique<ClBuffer>(context_.get(), bytes);
  }

  void write(Buffer& dst, const void* src, std::size_t bytes, std::size_t offset) override {
    check_copy_range(dst, bytes, offset, "write");
    if (bytes == 0) return;
    check(clEnqueueWriteBuffer(queue_.get(), static_cast<ClBuffer&>(dst).mem(), CL_TRUE, offset, bytes, src, 0, nullptr,
                               nullptr),
          "clEnqueueWriteBuffer");
  }

  void read(const Buffer& src, void* dst, std::size_t bytes, std::size_t offset) override {
    check_copy_range(src, bytes, offset, "read");
    if (bytes == 0) return;
    check(clEnqueueReadBuffer(queue_.get(), static_cast<const ClBuffer&>(src).mem(), CL_TRUE, offset, bytes, dst, 0,
                              nullptr, nullptr),
          "clEnqueueReadBuffer");
  }

  Kernel& kernel(const ProgramKey& key, std::string_view name) override {
    return ClPrograms::kernel(program(key), name, [](const ProgramHandle& p, std::string n) {
      return std::make_unique<ClKernel>(p.get(), std::move(n));
    });
  }

  const kernels::KernelBinary* loaded_binary(const ProgramKey& key) const override { return programs_.binary(key); }

  std::unique_ptr<Event> launch(Kernel& kernel, Range3 groups, Range3 local, bool timed) override {
    const std::size_t global[3] = {groups.x * local.x, groups.y * local.y, groups.z * local.z};
    const std::size_t local_size[3] = {local.x, local.y, local.z};
    cl_event event = nullptr;
    check(clEnqueueNDRangeKernel(queue_.get(), static_cast<ClKernel&>(kernel).get(), 3, nullptr, global, local_size, 0,
                                 nullptr, timed ? &event : nullptr),
          "clEnqueueNDRangeKernel", std::string(kernel.name()));
    return timed ? std::make_unique<ClEvent>(event) : nullptr;
  }

  void finish() override { check(clFinish(queue_.get()), "clFinish"); }

  std::unique_ptr<Recorder> record() override { return std::make_unique<ClRecorder>(*this); }

 private:
  ClPrograms::Entry& program(const ProgramKey& key) {
    if (auto* cached = programs_.find(key)) return *cached;
    const BinaryChoice choice = choose_binary(info_, key, settings().emulated_dpas_sub_group);
    const auto& bin = *choice.binary;
    // SPIR-V carries its macros already; source gets the same -D options ocloc got,
    // and the device facts the source reads.
    std::string options = bin.format == kernels::BinaryFormat::spirv ? "" : std::string(bin.build_options);
    if (const std::string facts = source_defines(info_);
        !facts.empty() && bin.format == kernels::BinaryFormat::opencl_c) {
      options += " " + facts;
    }
    // A tuning knob for source builds on a vendor's driver (say
    // -cl-nv-verbose, -cl-nv-maxrregcount=64, -DSCORE_TOKENS=4): appended
    // last so it can override the embedded defaults.
    if (const std::string& extra = settings().cl_build_options;
        !extra.empty() && bin.format != kernels::BinaryFormat::spirv) {
      options += " " + extra;
      log::warn("OpenCL build options extended by ZEMLA_CL_BUILD_OPTIONS: " + options);
    }
    const std::string stored_as = store_key(key, bin, options);
    if (auto stored = from_store(stored_as)) {
      log::info("OpenCL " + info_.name + ": " + key.name() + " from the program cache (" +
                store_.file_for(stored_as).string() + "), built from " + choice.reason);
      return programs_.insert(key, &bin, std::move(*stored));
    }
    log::info("OpenCL " + info_.name + ": " + key.name() + " from " + choice.reason);
    cl_int err = CL_SUCCESS;
    ProgramHandle program;
    if (bin.format == kernels::BinaryFormat::spirv) {
      program = ProgramHandle(clCreateProgramWithIL(context_.get(), bin.bytes.data(), bin.bytes.size(), &err));
      check(err, "clCreateProgramWithIL", key.program);
    } else {
      const std::string_view text = bin.text();
      const char* src = text.data();
      const std::size_t len = text.size();
      program = ProgramHandle(clCreateProgramWithSource(context_.get(), 1, &src, &len, &err));
      check(err, "clCreateProgramWithSource", key.program);
    }
    err = clBuildProgram(program.get(), 1, &device_, options.c_str(), nullptr, nullptr);
    const std::string build_log = program_build_log(program.get());
    check(err, "clBuildProgram", key.name() + " (" + choice.reason + ") build log:\n" + build_log);
    if (build_log.find_first_not_of(" \n\r\t\0", 0) != std::string::npos) {
      log::info(key.name() + " build log:\n" + build_log);
    }
    if (store_.enabled()) store_.save(stored_as, program_binary(program.get()));
    return programs_.insert(key, &bin, std::move(program));
  }

  // Everything a built program depends on, for the on-disk store: the
  // embedded binary (by its sha256), the options it was built with, and the
  // device and driver that built it.
  std::string store_key(const ProgramKey& key, const kernels::KernelBinary& bin, const std::string& options) const {
    return "program=" + key.name() + "\ntarget=" + std::string(bin.target) + "\nsha256=" + std::string(bin.sha256) +
           "\noptions=" + options + "\ndevice=" + info_.name + "\nvendor=" + info_.vendor +
           "\ndriver=" + info_.driver_version + "\nplatform=" + info_.platform;
  }

  // The stored program for `stored_as`, built for this device, or an empty
  // handle when there is none or the driver no longer takes it.
  std::optional<ProgramHandle> from_store(const std::string& stored_as) {
    const auto bytes = store_.load(stored_as);
    if (!bytes) return std::nullopt;
    const unsigned char* data = bytes->data();
    const std::size_t size = bytes->size();
    cl_int status = CL_SUCCESS;
    cl_int err = CL_SUCCESS;
    ProgramHandle program(clCreateProgramWithBinary(context_.get(), 1, &device_, &size, &data, &status, &err));
    if (err == CL_SUCCESS && status == CL_SUCCESS) {
      err = clBuildProgram(program.get(), 1, &device_, "", nullptr, nullptr);
    }
    if (err != CL_SUCCESS || status != CL_SUCCESS) {
      log::info("OpenCL program cache: " + store_.file_for(stored_as).string() + " refused by the driver (" +
                std::string(result_name(err != CL_SUCCESS ? err : status)) + "); rebuilding");
      return std::nullopt;
    }
    return program;
  }

  cl_device_id device_;
  DeviceInfo info_;
  ContextHandle context_;
  QueueHandle queue_;
  ClPrograms programs_;
  ProgramStore store_{settings().cl_cache_dir};
};

}  // namespace

std::vector<DeviceInfo> enumerate() {
  std::vector<DeviceInfo> out;
  const std::lock_guard lock(discovery_mutex());
  const auto all = locate_all();
  for (std::size_t i = 0; i < all.size(); ++i) out.push_back(describe(all[i], static_cast<int>(i)));
  return out;
}

std::unique_ptr<Device> adopt(void* context_ptr, void* device_ptr, void* queue_ptr, const Settings& settings) {
  constexpr const char* kCall = "Runtime::from_opencl";
  const auto context = static_cast<cl_context>(context_ptr);
  const auto device = static_cast<cl_device_id>(device_ptr);
  const auto queue = static_cast<cl_command_queue>(queue_ptr);
  require(context && device && queue, kCall, "the context, device and queue must all be given");
  cl_context queue_context = nullptr;
  cl_device_id queue_device = nullptr;
  cl_command_queue_properties props = 0;
  check(clGetCommandQueueInfo(queue, CL_QUEUE_CONTEXT, sizeof queue_context, &queue_context, nullptr),
        "clGetCommandQueueInfo");
  check(clGetCommandQueueInfo(queue, CL_QUEUE_DEVICE, sizeof queue_device, &queue_device, nullptr),
        "clGetCommandQueueInfo");
  check(clGetCommandQueueInfo(queue, CL_QUEUE_PROPERTIES, sizeof props, &props, nullptr), "clGetCommandQueueInfo");
  require(queue_context == context && queue_device == device, kCall,
          "the queue belongs to another context or device than the ones given");
  // zemla's launches depend on one another in enqueue order (Device's rule).
  require((props & CL_QUEUE_OUT_OF_ORDER_EXEC_MODE_ENABLE) == 0, kCall,
          "the queue runs out of order; zemla needs an in-order queue");
  cl_platform_id platform = nullptr;
  check(clGetDeviceInfo(device, CL_DEVICE_PLATFORM, sizeof platform, &platform, nullptr), "clGetDeviceInfo");
  const std::lock_guard lock(discovery_mutex());
  int index = -1;
  const auto all = locate_all();
  for (std::size_t i = 0; i < all.size(); ++i) {
    if (all[i].device == device) index = static_cast<int>(i);
  }
  DeviceInfo info = describe({platform, device}, index);
  return std::make_unique<ClDevice>(context, device, queue, std::move(info), settings);
}

std::unique_ptr<Device> open(int index, const Settings& settings) {
  const std::lock_guard lock(discovery_mutex());
  const auto all = locate_all();
  if (index < 0 || static_cast<std::size_t>(index) >= all.size()) {
    throw Error("cl::open", kNotFound,
                "OpenCL device index " + std::to_string(index) + " does not exist; " + std::to_string(all.size()) +
                    " device(s) found");
  }
  return std::make_unique<ClDevice>(all[index], describe(all[index], index), settings);
}

}  // namespace zemla::rt::cl
