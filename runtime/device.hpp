#pragma once
// The device interface the rest of zemla uses, with two implementations:
// Level Zero (runtime/ze, the product path on Intel GPUs) and OpenCL
// (runtime/cl, the same kernels on any OpenCL 3.0 device). Every handle is an
// RAII object owned through unique_ptr or by its Device: movable, never copied.

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "runtime/enums.hpp"
#include "runtime/settings.hpp"
#include "zemla_kernels/manifest.hpp"

namespace zemla::rt {

class Recorder;

struct DeviceInfo {
  Backend backend = Backend::opencl;
  int index = 0;  // position in its backend's device list
  std::string name;
  std::string vendor;
  std::string platform;  // OpenCL platform / Level Zero driver
  std::string driver_version;
  bool is_gpu = false;
  bool is_cpu = false;    // an OpenCL CPU runtime (PoCL, Intel's): `zemla devices` says so
  int compute_units = 0;  // SMs / Xe-cores: what the planner fills
  std::size_t max_work_group_size = 0;
  std::vector<std::uint32_t> sub_group_sizes;
  std::uint64_t local_mem_bytes = 0;
  std::uint64_t global_mem_bytes = 0;
  std::optional<std::uint32_t> ip_version;  // Intel GPUs on Level Zero
  bool accepts_spirv = false;
  std::vector<std::string> extensions;
  // Matrix engines (DPAS): OpenCL's cl_intel_subgroup_matrix_multiply_accumulate,
  // or Level Zero's module dot-product properties reporting DPAS.
  bool matrix_engines = false;
  // NVIDIA GPUs on OpenCL (cl_nv_device_attribute_query): compute capability
  // as major * 10 + minor, 90 on an H100; 0 elsewhere.
  int nv_compute_capability = 0;

  bool has_extension(std::string_view name) const;
};

class Buffer {
 public:
  virtual ~Buffer() = default;
  Buffer(const Buffer&) = delete;
  Buffer& operator=(const Buffer&) = delete;
  std::size_t bytes() const { return bytes_; }

 protected:
  explicit Buffer(std::size_t bytes) : bytes_(bytes) {}

 private:
  std::size_t bytes_;
};

// Throws zemla::Error unless [offset, offset + bytes) lies inside `b`: every
// backend's copy checks this before touching the device.
void check_copy_range(const Buffer& b, std::size_t bytes, std::size_t offset, const char* what);

class Kernel {
 public:
  virtual ~Kernel() = default;
  virtual std::string_view name() const = 0;
  // A device buffer, or nullptr for an absent optional argument.
  virtual void set_buffer(std::uint32_t index, const Buffer* buffer) = 0;
  virtual void set_bytes(std::uint32_t index, const void* data, std::size_t size) = 0;

  template <typename T>
  requires std::is_arithmetic_v<T>
  void set_scalar(std::uint32_t index, T value) { set_bytes(index, &value, sizeof(T)); }
};

// A launched kernel's device-clock time; waits for the kernel when asked.
class Event {
 public:
  virtual ~Event() = default;
  virtual double elapsed_ms() = 0;
};

struct Range3 {
  std::size_t x = 1, y = 1, z = 1;
};

struct ProgramKey {
  std::string program;  // "mla_decode"
  Variant variant = Variant::any;
  std::string dtype;  // "bf16", "f16", "any"
  auto operator<=>(const ProgramKey&) const = default;
  // "mla_decode/intel_sg/bf16", for messages and logs.
  std::string name() const;
  // Whether an embedded binary is a build of this program.
  bool matches(const kernels::KernelBinary& binary) const;
};

// Copies and launches on one Device run in the order they were enqueued,
// whatever the backend (an in-order OpenCL queue; barriers on Level Zero),
// and so do replays of its Recordings among them.
class Device {
 public:
  virtual ~Device() = default;
  Device(const Device&) = delete;
  Device& operator=(const Device&) = delete;

  virtual const DeviceInfo& info() const = 0;
  // The environment as read when the device was opened (runtime/settings.hpp).
  const Settings& settings() const { return settings_; }
  virtual std::unique_ptr<Buffer> allocate(std::size_t bytes) = 0;
  // The caller's own device memory as a Buffer of `bytes`, without a copy:
  // on OpenCL a cl_mem of this device's context, whose reference the Buffer
  // holds (retained, released when it goes; the memory is the caller's); on
  // Level Zero a USM pointer of this device's context, never freed.
  // Refused when the memory is smaller than `bytes` or foreign.
  virtual std::unique_ptr<Buffer> wrap(void* native, std::size_t bytes) = 0;
  virtual void write(Buffer& dst, const void* src, std::size_t bytes, std::size_t offset = 0) = 0;
  virtual void read(const Buffer& src, void* dst, std::size_t bytes, std::size_t offset = 0) = 0;
  // The kernel `name` of a program built from the embedded binary that suits
  // this device; programs and kernels are built once and cached.
  virtual Kernel& kernel(const ProgramKey& key, std::string_view name) = 0;
  // Enqueues groups x local work-items; returns a timing event when `timed`.
  virtual std::unique_ptr<Event> launch(Kernel& kernel, Range3 groups, Range3 local, bool timed) = 0;
  virtual void finish() = 0;
  // Starts recording launches to replay later (runtime/recording.hpp).
  virtual std::unique_ptr<Recorder> record() = 0;
  // Which embedded binary `key` loaded from, once it has been built.
  virtual const kernels::KernelBinary* loaded_binary(const ProgramKey& key) const = 0;

  template <typename T>
  void write_vector(Buffer& dst, const std::vector<T>& v, std::size_t offset = 0) {
    write(dst, v.data(), v.size() * sizeof(T), offset);
  }
  // A new buffer holding `v`.
  template <typename T>
  std::unique_ptr<Buffer> upload_vector(const std::vector<T>& v) {
    auto b = allocate(v.size() * sizeof(T));
    write_vector(*b, v);
    return b;
  }

 protected:
  explicit Device(Settings settings) : settings_(std::move(settings)) {}

 private:
  Settings settings_;
};

}  // namespace zemla::rt
