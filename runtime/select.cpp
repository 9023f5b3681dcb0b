#include "runtime/select.hpp"

#include <optional>

#include "runtime/binary_choice.hpp"
#include "runtime/cl/cl_device.hpp"
#include "runtime/log.hpp"
#include "zemla/error.hpp"
#if ZEMLA_HAVE_LEVEL_ZERO
#include "runtime/ze/ze_device.hpp"
#endif

namespace zemla::rt {

bool level_zero_built() { return ZEMLA_HAVE_LEVEL_ZERO != 0; }

std::vector<BackendReport> survey() {
  std::vector<BackendReport> out;
  BackendReport ze;
  ze.backend = Backend::level_zero;
#if ZEMLA_HAVE_LEVEL_ZERO
  ze.built = true;
  const auto a = ze::availability();
  ze.available = a.available;
  ze.reason = a.reason;
  if (a.available) ze.devices = ze::enumerate();
#else
  ze.reason = "not built: the Level Zero loader (libze-dev) was missing at build time";
#endif
  out.push_back(std::move(ze));

  BackendReport cl;
  cl.backend = Backend::opencl;
  cl.built = true;
  try {
    cl.devices = cl::enumerate();
    cl.available = !cl.devices.empty();
    if (!cl.available) cl.reason = "the OpenCL ICD loader found no platform (set OCL_ICD_VENDORS?)";
  } catch (const Error& e) {
    cl.reason = e.what();
  }
  out.push_back(std::move(cl));
  return out;
}

Selection selection(std::string_view backend, int device) { return {parse_backend(backend, "backend"), device}; }

namespace {

std::unique_ptr<Device> open_backend(Backend backend, int index, const Settings& settings) {
  if (backend == Backend::opencl) return cl::open(index, settings);
#if ZEMLA_HAVE_LEVEL_ZERO
  return ze::open(index, settings);
#else
  throw Error("open_device", kUnsupported, "the Level Zero backend was not built into this zemla");
#endif
}

}  // namespace

int pick_device(Backend backend, const std::vector<DeviceInfo>& devices, int requested) {
  const std::string name(backend_name(backend));
  if (requested >= 0) {
    for (const auto& d : devices)
      if (d.index == requested) return d.index;
    throw Error("open_device", kNotFound,
                name + " has no device " + std::to_string(requested) + "; it has " + std::to_string(devices.size()));
  }
  if (devices.empty()) throw Error("open_device", kNotFound, name + " shows no device");
  const DeviceInfo* best = &devices.front();
  for (const auto& d : devices) {
    if (rank_device(d) > rank_device(*best)) best = &d;
  }
  return best->index;
}

DeviceRank rank_device(const DeviceInfo& device) {
  const Variant v = choose_variant(device, std::nullopt);
  const int variant = is_matrix_variant(v) ? 3 : v == Variant::intel_sg ? 2 : 1;
  return {device.is_gpu, variant, device.compute_units};
}

std::string rank_reason(const DeviceInfo& device) {
  return std::string(device.is_gpu ? "GPU" : "not a GPU") + ", runs " +
         std::string(variant_name(choose_variant(device, std::nullopt))) + ", " + std::to_string(device.compute_units) +
         " compute units";
}

std::unique_ptr<Device> open_device(const Selection& requested) {
  return open_device(requested, Settings::from_environment());
}

std::unique_ptr<Device> open_device(const Selection& requested, const Settings& settings) {
  require(requested.device >= -1, "open_device", [&] {
    return "device index " + std::to_string(requested.device) + " is neither -1 (the best device) nor an index >= 0";
  });
  Selection s = requested;
  if (!s.backend) s.backend = settings.backend;
  if (s.device < 0 && settings.device) s.device = *settings.device;
  if (s.backend) {
    const Backend b = *s.backend;
    // An explicit index opens directly; -1 means the best device of this
    // backend, which needs its device list.
    if (s.device >= 0) return open_backend(b, s.device, settings);
    for (const auto& r : survey()) {
      if (r.backend != b) continue;
      if (!r.available) throw Error("open_device", kNotFound, std::string(backend_name(b)) + ": " + r.reason);
      return open_backend(b, pick_device(b, r.devices, -1), settings);
    }
  }
  const auto reports = survey();
  static bool said_why = false;
  for (const auto& r : reports) {
    if (r.backend == Backend::level_zero && !r.available && !said_why) {
      log::debug("auto: skipping Level Zero: " + r.reason);
      said_why = true;
    }
  }
  // Best device: a Level Zero GPU, else the best-ranked OpenCL device (a
  // GPU first); an index given without a backend is taken in that order.
  for (auto [backend, want_gpu] : {std::pair{Backend::level_zero, true}, std::pair{Backend::opencl, false}}) {
    for (const auto& r : reports) {
      if (r.backend != backend) continue;
      std::vector<DeviceInfo> candidates;
      for (const auto& d : r.devices) {
        if ((!want_gpu || d.is_gpu) && (s.device < 0 || d.index == s.device)) candidates.push_back(d);
      }
      if (!candidates.empty()) return open_backend(backend, pick_device(backend, candidates, -1), settings);
    }
  }
  std::string why;
  for (const auto& r : reports)
    why += "\n  " + std::string(backend_name(r.backend)) + ": " + (r.available ? "no matching device" : r.reason);
  throw Error("open_device", kNotFound, "no device found:" + why);
}

}  // namespace zemla::rt
