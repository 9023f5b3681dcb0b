// zemla::Runtime and zemla::Tensor: the public face of rt::Device/rt::Buffer.

#include "api/impl.hpp"
#include "runtime/binary_choice.hpp"
#include "runtime/cl/cl_device.hpp"
#include "runtime/log.hpp"
#include "runtime/select.hpp"
#include "zemla_kernels/manifest.hpp"
#if ZEMLA_HAVE_LEVEL_ZERO
#include "runtime/ze/ze_device.hpp"
#endif

namespace zemla {

void set_log_sink(LogSink sink, LogLevel level) {
  if (!sink) return log::set_sink({}, log::Level::warn);
  log::set_sink([sink = std::move(sink)](log::Level l, std::string_view m) { sink(static_cast<LogLevel>(l), m); },
                static_cast<log::Level>(level));
}

Runtime::Runtime(const DeviceSelection& selection)
    : impl_(std::make_unique<Impl>(rt::open_device(rt::selection(selection.backend, selection.index)))) {}
std::string version() { return ZEMLA_VERSION; }
std::string kernels_build_id() { return std::string(kernels::build_id()); }

Runtime::Runtime(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Runtime::~Runtime() = default;

Runtime Runtime::from_opencl(const OpenClHandles& h) {
  return Runtime(std::make_unique<Impl>(rt::cl::adopt(h.context, h.device, h.queue, rt::Settings::from_environment())));
}

Runtime Runtime::from_level_zero(const LevelZeroHandles& h) {
#if ZEMLA_HAVE_LEVEL_ZERO
  return Runtime(std::make_unique<Impl>(
      rt::ze::adopt({h.driver, h.context, h.device, h.command_list}, rt::Settings::from_environment())));
#else
  (void)h;
  throw Error("Runtime::from_level_zero", kUnsupported, "this zemla was built without the Level Zero backend");
#endif
}

Tensor Runtime::wrap(void* native_buffer, std::size_t bytes) {
  Tensor t;
  t.impl_ =
      std::make_unique<Tensor::Impl>(Tensor::Impl{impl_->device.get(), impl_->device->wrap(native_buffer, bytes)});
  return t;
}
Runtime::Runtime(Runtime&&) noexcept = default;
Runtime& Runtime::operator=(Runtime&&) noexcept = default;

DeviceDescription Runtime::device() const {
  const auto& info = impl_->device->info();
  return {info.name, std::string(rt::backend_name(info.backend)),
          std::string(rt::variant_name(rt::choose_variant(*impl_->device))), info.compute_units, info.global_mem_bytes};
}

Tensor Runtime::allocate(std::size_t bytes) {
  Tensor t;
  t.impl_ = std::make_unique<Tensor::Impl>(Tensor::Impl{impl_->device.get(), impl_->device->allocate(bytes)});
  return t;
}

void Runtime::synchronize() { impl_->device->finish(); }

Tensor::Tensor() = default;
Tensor::~Tensor() = default;
Tensor::Tensor(Tensor&&) noexcept = default;
Tensor& Tensor::operator=(Tensor&&) noexcept = default;

std::size_t Tensor::bytes() const { return impl_ ? impl_->buffer->bytes() : 0; }

void Tensor::upload(const void* host, std::size_t bytes, std::size_t offset) {
  require(impl_ != nullptr, "Tensor::upload", "the tensor is empty (moved from or default-constructed)");
  impl_->device->write(*impl_->buffer, host, bytes, offset);
}

void Tensor::download(void* host, std::size_t bytes, std::size_t offset) const {
  require(impl_ != nullptr, "Tensor::download", "the tensor is empty (moved from or default-constructed)");
  impl_->device->read(*impl_->buffer, host, bytes, offset);
}

rt::Buffer* buffer_of(const rt::Device& device, Tensor* t, const char* call, const char* name) {
  if (t == nullptr) return nullptr;
  require(t->impl() != nullptr, call, [&] { return std::string(name) + " is an empty tensor"; });
  require(t->impl()->device == &device, call,
          [&] { return std::string(name) + " was allocated by another zemla::Runtime"; });
  return t->impl()->buffer.get();
}

const rt::Buffer* buffer_of(const rt::Device& device, const Tensor* t, const char* call, const char* name) {
  return buffer_of(device, const_cast<Tensor*>(t), call, name);  // the const result keeps it read-only
}

void require_distinct(const char* call, std::initializer_list<std::pair<const char*, const rt::Buffer*>> buffers) {
  for (auto a = buffers.begin(); a != buffers.end(); ++a) {
    for (auto b = a + 1; b != buffers.end(); ++b) {
      require(a->second == nullptr || a->second != b->second, call,
              [&] { return std::string(a->first) + " and " + b->first + " are the same tensor"; });
    }
  }
}

}  // namespace zemla
