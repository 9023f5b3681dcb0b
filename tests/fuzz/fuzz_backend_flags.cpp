// libFuzzer target: sglang-style flags -> parse_backend_flags -> validate_config.
// Input bytes are split into arguments at NUL or newline. Any input may be
// rejected with zemla::Error; nothing may crash, and an accepted config must
// keep the rules: a usable (ok) MLA config never prefills on intel_xpu, and
// the corrected page size is one the decode backend allows, and an FP8
// cache is accepted only where the decode backend reads one.

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

#include "host/backend_config.hpp"
#include "host/capability_registry.hpp"
#include "zemla/error.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::vector<std::string> args(1);
  for (std::size_t i = 0; i < size; ++i) {
    if (data[i] == 0 || data[i] == '\n') {
      args.emplace_back();
    } else {
      args.back().push_back(static_cast<char>(data[i]));
    }
  }
  if (args.back().empty()) args.pop_back();
  zemla::BackendConfig config;
  try {
    config = zemla::parse_backend_flags(args);
  } catch (const zemla::Error&) {
    return 0;
  }
  const zemla::ValidatedConfig v = zemla::validate_config(config);
  if (!v.ok()) return 0;
  const auto* decode = zemla::find_backend(v.backends.decode);
  const auto* prefill = zemla::find_backend(v.backends.prefill);
  if (decode == nullptr || prefill == nullptr) std::abort();  // unknown backends must be errors
  const bool mla = v.config.model_arch == zemla::ModelArch::mla;
  if (mla && !prefill->mla_prefill) std::abort();
  const auto sizes = mla ? decode->mla_decode_page_sizes : decode->mha_decode_page_sizes;
  if (!sizes.empty() && std::find(sizes.begin(), sizes.end(), v.config.page_size) == sizes.end()) std::abort();
  if (v.config.page_size <= 0) std::abort();
  if (v.kv_format == zemla::KvFormat::fp8_ds_mla) {
    if (!mla || !decode->fp8_ds_mla_kv_cache || v.config.dtype != zemla::DType::bf16) std::abort();
  } else if (zemla::is_fp8(v.kv_format) && !(mla ? decode->fp8_mla_kv_cache : decode->fp8_mha_kv_cache)) {
    std::abort();
  }
  return 0;
}
