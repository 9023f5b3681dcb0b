#pragma once
// The attention-backend configuration a server passes (sglang's flags), how
// the effective prefill/decode backends are resolved, and validation that
// returns the corrected config plus diagnostics instead of only logging them.

#include <optional>
#include <span>
#include <string>
#include <vector>

#include "dtype.hpp"
#include "fp8.hpp"

namespace zemla {

enum class ModelArch { mla, mha };

struct BackendConfig {
  std::optional<std::string> attention_backend;          // --attention-backend
  std::optional<std::string> prefill_attention_backend;  // --prefill-attention-backend
  std::optional<std::string> decode_attention_backend;   // --decode-attention-backend
  int page_size = 128;                                   // --page-size
  ModelArch model_arch = ModelArch::mla;                 // --model-arch
  std::optional<std::string> speculative_algorithm;      // --speculative-algorithm
  std::optional<int> speculative_num_steps;              // --speculative-num-steps
  std::optional<int> speculative_eagle_topk;             // --speculative-eagle-topk
  std::optional<int> speculative_num_draft_tokens;       // --speculative-num-draft-tokens
  bool chunked_prefill = true;                           // --chunked-prefill-size <= 0 turns it off
  DType dtype = DType::bf16;                             // --dtype (auto: bf16, see parse_backend_flags)
  std::string kv_cache_dtype = "auto";                   // --kv-cache-dtype, sglang's spelling
  bool deterministic_inference = false;                  // --enable-deterministic-inference (takes no value)
};

// zemla's default when no backend flag is given: the backend it implements,
// for both phases, except MLA prefill, which intel_xpu does not do (sglang's
// rule): there the default is the partner that does, triton.
inline constexpr const char* kDefaultAttentionBackend = "intel_xpu";
inline constexpr const char* kDefaultMlaPrefillBackend = "triton";

struct EffectiveBackends {
  std::string prefill;
  std::string decode;
};

// prefill = prefill_attention_backend or attention_backend; decode likewise;
// with neither, the defaults above.
EffectiveBackends resolve_backends(const BackendConfig& config);

enum class Severity { warning, error };

struct Diagnostic {
  Severity severity;
  std::string code;     // stable, for machines: "page-size-corrected", ...
  std::string message;  // names the bad value and what is allowed
};

struct ValidatedConfig {
  BackendConfig config;  // with corrections applied (e.g. page size)
  EffectiveBackends backends;
  std::vector<Diagnostic> diagnostics;
  // How the cache stores values: kv_cache_dtype resolved (auto, or bf16 for
  // a bf16 model, is `same`). Meaningful only when ok().
  KvFormat kv_format = KvFormat::same;

  bool ok() const;  // no error diagnostics
  // Exit status a server should use: 0 ok (warnings allowed), 2 config error.
  int exit_code() const { return ok() ? 0 : 2; }
};

ValidatedConfig validate_config(const BackendConfig& config);

// sglang-style flags: `--name value` or `--name=value`. Unknown flags and bad
// values throw zemla::Error naming the flag and what it accepts. sglang's
// spellings are accepted: --dtype auto (sglang takes the checkpoint's dtype,
// which zemla cannot see; it means bf16, DeepSeek's) and every
// --kv-cache-dtype sglang knows; validate_config refuses the ones zemla cannot
// serve, with the reason.
BackendConfig parse_backend_flags(std::span<const std::string> args);

// The speculative algorithms sglang knows.
std::span<const std::string_view> known_speculative_algorithms();

}  // namespace zemla
