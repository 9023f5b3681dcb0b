#pragma once
// The runtime's named choices, each with one name() and one parser, so no
// other file compares their spellings.

#include <optional>
#include <string_view>

namespace zemla::rt {

enum class Backend { level_zero, opencl };
std::string_view backend_name(Backend backend);

// A kernel variant (runtime/binary_choice.hpp says which device runs which);
// `any` for a program built once for every device (kv_append).
enum class Variant { any, portable, intel_sg, intel_xmx, nv_mma };
std::string_view variant_name(Variant variant);
// The variant a name spells (as the manifest and ZEMLA_VARIANT do), or nullopt.
std::optional<Variant> parse_variant(std::string_view name);

}  // namespace zemla::rt
