#include "tools/device_json.hpp"

#include "runtime/binary_choice.hpp"
#include "zemla/error.hpp"
#include "zemla_kernels/zebin_info.hpp"

namespace zemla::cli {

nlohmann::json describe_device(const rt::DeviceInfo& d, const rt::Settings& settings) {
  nlohmann::json j{{"index", d.index},
                   {"name", d.name},
                   {"vendor", d.vendor},
                   {"platform", d.platform},
                   {"driver_version", d.driver_version},
                   {"type", d.is_gpu   ? "gpu"
                            : d.is_cpu ? "cpu"
                                       : "other"},
                   {"compute_units", d.compute_units},
                   {"max_work_group_size", d.max_work_group_size},
                   {"sub_group_sizes", d.sub_group_sizes},
                   {"local_mem_bytes", d.local_mem_bytes},
                   {"global_mem_bytes", d.global_mem_bytes},
                   {"accepts_spirv", d.accepts_spirv},
                   {"matrix_engines", d.matrix_engines}};
  if (d.ip_version) j["ip_version"] = kernels::ip_version_string(*d.ip_version);
  try {
    const rt::Variant variant = rt::choose_variant(d, settings.variant);
    const auto choice = rt::choose_binary(d, {"mla_decode", variant, "bf16"}, settings.emulated_dpas_sub_group);
    j["mla_decode_variant"] = rt::variant_name(variant);
    j["gqa_decode_variant"] = rt::variant_name(rt::choose_variant(d, settings.variant, /*program_has_matrix=*/false));
    j["binary"] = {{"format", kernels::format_name(choice.binary->format)},
                   {"target", choice.binary->target},
                   {"reason", choice.reason}};
  } catch (const Error& e) {
    j["binary"] = {{"error", e.what()}};
  }
  return j;
}

}  // namespace zemla::cli
