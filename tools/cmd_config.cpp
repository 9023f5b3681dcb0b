// `zemla config`: sglang-style backend flags in, the resolved backends, the
// corrected page size, the diagnostics, and the exit code a server should use.

#include <iostream>
#include <nlohmann/json.hpp>

#include "host/backend_config.hpp"
#include "host/capability_registry.hpp"
#include "host/decode_planner.hpp"
#include "tools/commands.hpp"

namespace zemla::cli {

void add_config_command(CLI::App& app, const Global& global, int& exit_code) {
  auto* cmd = app.add_subcommand(
      "config",
      "Validate sglang-style attention flags, e.g.\n"
      "  zemla config --model-arch mla --attention-backend intel_xpu --page-size 48\n"
      "Flags: --attention-backend, --prefill-attention-backend, --decode-attention-backend, --page-size,\n"
      "--speculative-algorithm, --model-arch mla|mha, --chunked-prefill-size, --dtype,\n"
      "--kv-cache-dtype auto|fp8_e4m3|fp8_e5m2|bf16|bfloat16|fp4_e2m1 (sglang's spellings), or fp8_ds_mla\n"
      "  (vLLM's: DeepSeek's 656-byte MLA rows, bf16 only; zemla's extension).\n"
      "Exit code 0: usable (warnings allowed); 2: rejected.");
  cmd->allow_extras();
  cmd->prefix_command();
  // Every flag after `config` is sglang's, kept here: none falls through to
  // zemla's own (--json goes before `config`).
  cmd->fallthrough(false);
  cmd->callback([cmd, &global, &exit_code] {
    const std::vector<std::string> flags = cmd->remaining();
    const ValidatedConfig v = validate_config(parse_backend_flags(flags));
    nlohmann::json diags = nlohmann::json::array();
    for (const auto& d : v.diagnostics) {
      diags.push_back({{"severity", d.severity == Severity::error ? "error" : "warning"},
                       {"code", d.code},
                       {"message", d.message}});
    }
    if (global.json) {
      std::cout << nlohmann::json{{"model_arch", v.config.model_arch == ModelArch::mla ? "mla" : "mha"},
                                  {"prefill_backend", v.backends.prefill},
                                  {"decode_backend", v.backends.decode},
                                  {"page_size", v.config.page_size},
                                  {"dtype", dtype_name(v.config.dtype)},
                                  {"kv_cache_dtype", v.config.kv_cache_dtype},
                                  {"kv_format", kv_format_name(v.kv_format)},
                                  {"deterministic_split_tokens",
                                   v.config.deterministic_inference ? kDeterministicSplitTokens : 0},
                                  {"ok", v.ok()},
                                  {"exit_code", v.exit_code()},
                                  {"diagnostics", diags}}
                       .dump(2)
                << '\n';
    } else {
      std::cout << "model:    " << (v.config.model_arch == ModelArch::mla ? "MLA" : "non-MLA") << '\n'
                << "prefill:  " << v.backends.prefill << '\n'
                << "decode:   " << v.backends.decode << '\n'
                << "page size " << v.config.page_size << '\n'
                << "dtype     " << dtype_name(v.config.dtype) << '\n'
                << "kv cache  " << v.config.kv_cache_dtype
                << (v.kv_format == KvFormat::fp8_ds_mla
                        ? " (DeepSeek's 656-byte rows: e4m3 latent, a scale per 128 values, bf16 rope)"
                    : is_fp8(v.kv_format) ? " (FP8, one scale per layer)"
                                          : " (the model's dtype)")
                << '\n';
      if (v.config.deterministic_inference) {
        std::cout << "deterministic: splits of " << kDeterministicSplitTokens
                  << " tokens, so a request's result does not depend on its batch\n";
      }
      if (v.config.speculative_algorithm) {
        const auto* decode = find_backend(v.backends.decode);
        std::cout << "speculative " << *v.config.speculative_algorithm;
        if (decode != nullptr && v.config.model_arch == ModelArch::mla && decode->max_speculative_mla_tokens > 0) {
          std::cout << ": " << v.backends.decode << " verifies linear chains (top-k 1) of up to "
                    << decode->max_speculative_mla_tokens << " tokens per request";
        }
        std::cout << '\n';
      }
      for (const auto& d : v.diagnostics) {
        std::cout << (d.severity == Severity::error ? "error" : "warning") << " [" << d.code << "]: " << d.message
                  << '\n';
      }
      std::cout << (v.ok() ? "config OK" : "config REJECTED") << " (exit " << v.exit_code() << ")\n";
    }
    exit_code = v.exit_code();
  });
}

}  // namespace zemla::cli
