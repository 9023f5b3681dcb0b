#include "backend_config.hpp"

#include <algorithm>
#include <charconv>
#include <string_view>
#include <tuple>

#include "capability_registry.hpp"
#include "zemla/error.hpp"

namespace zemla {

namespace {

constexpr std::string_view kSpeculative[] = {"EAGLE", "EAGLE3", "NEXTN", "STANDALONE", "NGRAM"};
// sglang's spellings, and vLLM's fp8_ds_mla (zemla's extension: DeepSeek's rows).
constexpr std::string_view kKvCacheDtypes[] = {"auto",     "fp8_e5m2", "fp8_e4m3",  "bf16",
                                               "bfloat16", "fp4_e2m1", "fp8_ds_mla"};

template <class List>
std::string join(const List& items) {
  std::string out;
  for (const auto& k : items) out += (out.empty() ? "" : ", ") + std::string(k);
  return out;
}

std::string list_ints(std::span<const int> values) {
  std::string out;
  for (int v : values) out += (out.empty() ? "" : ", ") + std::to_string(v);
  return out;
}

void add(std::vector<Diagnostic>& out, Severity severity, std::string code, std::string message) {
  out.push_back({severity, std::move(code), std::move(message)});
}

}  // namespace

std::span<const std::string_view> known_speculative_algorithms() { return kSpeculative; }

bool ValidatedConfig::ok() const {
  return std::none_of(diagnostics.begin(), diagnostics.end(),
                      [](const Diagnostic& d) { return d.severity == Severity::error; });
}

EffectiveBackends resolve_backends(const BackendConfig& config) {
  const std::string base = config.attention_backend.value_or(kDefaultAttentionBackend);
  const std::string prefill_default =
      config.attention_backend || config.model_arch != ModelArch::mla ? base : kDefaultMlaPrefillBackend;
  return {config.prefill_attention_backend.value_or(prefill_default), config.decode_attention_backend.value_or(base)};
}

ValidatedConfig validate_config(const BackendConfig& input) {
  ValidatedConfig result{input, resolve_backends(input), {}};
  auto& diags = result.diagnostics;
  const bool mla = input.model_arch == ModelArch::mla;

  const BackendCapabilities* prefill = find_backend(result.backends.prefill);
  const BackendCapabilities* decode = find_backend(result.backends.decode);
  auto require_known = [&](const char* role, const std::string& name, const BackendCapabilities* caps) {
    if (caps == nullptr) {
      add(diags, Severity::error, "unknown-backend",
          std::string(role) + " attention backend '" + name + "' is unknown; known backends: " + known_backend_names());
    }
  };
  require_known("prefill", result.backends.prefill, prefill);
  require_known("decode", result.backends.decode, decode);

  if (input.page_size <= 0) {
    add(diags, Severity::error, "invalid-page-size",
        "page size " + std::to_string(input.page_size) + " must be a positive number of tokens");
  }

  if (prefill != nullptr) {
    if (!(mla ? prefill->mla_prefill : prefill->mha_prefill)) {
      add(diags, Severity::error, "mla-prefill-unsupported",
          "prefill attention backend '" + result.backends.prefill +
              "' is only supported on decode for MLA models; use --prefill-attention-backend triton "
              "for prefill");
    } else if (input.chunked_prefill && !prefill->chunked_prefill) {
      add(diags, Severity::error, "chunked-prefill-unsupported",
          "prefill attention backend '" + result.backends.prefill +
              "' does not support chunked prefill; set --chunked-prefill-size -1");
    }
  }

  if (decode != nullptr) {
    if (!(mla ? decode->mla_decode : decode->mha_decode)) {
      add(diags, Severity::error, "decode-unsupported",
          "decode attention backend '" + result.backends.decode + "' does not support " + (mla ? "MLA" : "non-MLA") +
              " decode");
    }
    const auto sizes = mla ? decode->mla_decode_page_sizes : decode->mha_decode_page_sizes;
    if (input.page_size > 0 && !sizes.empty() &&
        std::find(sizes.begin(), sizes.end(), input.page_size) == sizes.end()) {
      result.config.page_size = decode->fallback_page_size;
      add(diags, Severity::warning, "page-size-corrected",
          "page size " + std::to_string(input.page_size) + " is not supported by " + result.backends.decode + " for " +
              (mla ? "MLA" : "non-MLA") + " decode (allowed: " + list_ints(sizes) + "); using " +
              std::to_string(decode->fallback_page_size));
    }
    if (std::find(decode->dtypes.begin(), decode->dtypes.end(), input.dtype) == decode->dtypes.end()) {
      add(diags, Severity::error, "dtype-unsupported",
          "dtype " + std::string(dtype_name(input.dtype)) + " is not supported by " + result.backends.decode);
    }
  }

  // The KV cache's storage (sglang's --kv-cache-dtype).
  const std::string& kv = input.kv_cache_dtype;
  const auto unsupported_kv = [&](const std::string& why) {
    add(diags, Severity::error, "kv-cache-dtype-unsupported", "--kv-cache-dtype " + kv + " " + why);
  };
  if (kv == "fp8_e4m3" || kv == "fp8_e5m2") {
    result.kv_format = parse_kv_format(kv);
    if (decode != nullptr && !(mla ? decode->fp8_mla_kv_cache : decode->fp8_mha_kv_cache)) {
      unsupported_kv("is not supported by " + result.backends.decode + " for " + (mla ? "MLA" : "non-MLA") +
                     " decode; use --kv-cache-dtype auto");
    }
  } else if (kv == "fp8_ds_mla") {
    result.kv_format = KvFormat::fp8_ds_mla;
    if (!mla) {
      unsupported_kv("holds DeepSeek's MLA rows; a non-MLA model cannot use it");
    } else if (decode != nullptr && !decode->fp8_ds_mla_kv_cache) {
      unsupported_kv("is not supported by " + result.backends.decode + "; use intel_xpu for MLA decode");
    } else if (input.dtype != DType::bf16) {
      unsupported_kv("keeps its rope values in bf16 and is served with --dtype bf16, not " +
                     std::string(dtype_name(input.dtype)));
    }
  } else if ((kv == "bf16" || kv == "bfloat16") && input.dtype != DType::bf16) {
    unsupported_kv("differs from --dtype " + std::string(dtype_name(input.dtype)) +
                   ": zemla keeps a 16-bit cache in the model's dtype; use --kv-cache-dtype auto");
  } else if (kv == "fp4_e2m1") {
    unsupported_kv(
        "is not supported by zemla (its kernels read 16-bit and FP8 caches); use auto, fp8_e4m3, fp8_e5m2 "
        "or fp8_ds_mla");
  }

  if (input.speculative_algorithm) {
    const auto& algo = *input.speculative_algorithm;
    if (std::find(std::begin(kSpeculative), std::end(kSpeculative), algo) == std::end(kSpeculative)) {
      add(diags, Severity::error, "unknown-speculative-algorithm",
          "speculative algorithm '" + algo + "' is unknown; known: " + join(kSpeculative));
    } else if (mla && decode != nullptr && !decode->speculative_mla_decode) {
      add(diags, Severity::error, "speculative-mla-decode-unsupported",
          "speculative decoding (" + algo + ") with MLA decode on " + result.backends.decode +
              " is not supported; use --decode-attention-backend triton or drop --speculative-algorithm");
    } else if (mla && decode != nullptr) {
      // Upstream intel_xpu asserts mid-serving (`assert not use_cascade_attn`);
      // zemla verifies a linear chain of up to max_speculative_mla_tokens,
      // and refuses the rest here, before any request. Without the flags,
      // sglang's own choice for DeepSeek's NEXTN: 3 steps, top-k 1, 4 tokens.
      const int topk = input.speculative_eagle_topk.value_or(1);
      const int tokens = input.speculative_num_draft_tokens.value_or(input.speculative_num_steps.value_or(3) + 1);
      if (topk < 1 || tokens < 1) {
        add(diags, Severity::error, "speculative-flags-invalid",
            "--speculative-eagle-topk " + std::to_string(topk) + " and --speculative-num-draft-tokens " +
                std::to_string(tokens) + " must be positive");
      } else if (topk > 1 && !decode->speculative_mla_tree_drafts) {
        add(diags, Severity::error, "speculative-tree-unsupported",
            "--speculative-eagle-topk " + std::to_string(topk) +
                " drafts a tree, which needs a custom mask; MLA "
                "decode on " +
                result.backends.decode + " verifies a linear chain: use --speculative-eagle-topk 1");
      } else if (decode->max_speculative_mla_tokens > 0 && tokens > decode->max_speculative_mla_tokens) {
        add(diags, Severity::error, "speculative-too-many-tokens",
            "--speculative-num-draft-tokens " + std::to_string(tokens) + " is more than the " +
                std::to_string(decode->max_speculative_mla_tokens) + " tokens per request MLA decode on " +
                result.backends.decode + " verifies in one step");
      }
    }
  }
  return result;
}

namespace {

int parse_int_flag(std::string_view flag, const std::string& value) {
  int out = 0;
  const auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), out);
  if (ec != std::errc() || end != value.data() + value.size()) {
    throw Error("parse_backend_flags", kInvalidArgument,
                std::string(flag) + " expects an integer, got '" + value + "'");
  }
  return out;
}

}  // namespace

BackendConfig parse_backend_flags(std::span<const std::string> args) {
  BackendConfig config;
  constexpr std::string_view kKnown =
      "--attention-backend, --prefill-attention-backend, --decode-attention-backend, --page-size, "
      "--speculative-algorithm, --speculative-num-steps, --speculative-eagle-topk, --speculative-num-draft-tokens, "
      "--model-arch, --chunked-prefill-size, --dtype, --kv-cache-dtype, --enable-deterministic-inference";
  for (std::size_t i = 0; i < args.size(); ++i) {
    std::string flag = args[i];
    // sglang's one switch among these: present means on, and it takes no value.
    if (flag == "--enable-deterministic-inference") {
      config.deterministic_inference = true;
      continue;
    }
    if (flag.rfind("--enable-deterministic-inference=", 0) == 0) {
      throw Error("parse_backend_flags", kInvalidArgument,
                  "--enable-deterministic-inference takes no value (it is a switch), got '" + flag + "'");
    }
    std::string value;
    if (const auto eq = flag.find('='); eq != std::string::npos) {
      value = flag.substr(eq + 1);
      flag.resize(eq);
    } else {
      if (i + 1 >= args.size()) {
        throw Error("parse_backend_flags", kInvalidArgument, flag + " expects a value");
      }
      value = args[++i];
    }
    if (flag == "--attention-backend") {
      config.attention_backend = value;
    } else if (flag == "--prefill-attention-backend") {
      config.prefill_attention_backend = value;
    } else if (flag == "--decode-attention-backend") {
      config.decode_attention_backend = value;
    } else if (flag == "--page-size") {
      config.page_size = parse_int_flag(flag, value);
    } else if (flag == "--speculative-algorithm") {
      config.speculative_algorithm = value;
    } else if (flag == "--speculative-num-steps") {
      config.speculative_num_steps = parse_int_flag(flag, value);
    } else if (flag == "--speculative-eagle-topk") {
      config.speculative_eagle_topk = parse_int_flag(flag, value);
    } else if (flag == "--speculative-num-draft-tokens") {
      config.speculative_num_draft_tokens = parse_int_flag(flag, value);
    } else if (flag == "--chunked-prefill-size") {
      config.chunked_prefill = parse_int_flag(flag, value) > 0;
    } else if (flag == "--dtype") {
      config.dtype = value == "auto" ? DType::bf16 : parse_dtype(value);
    } else if (flag == "--kv-cache-dtype") {
      if (std::find(std::begin(kKvCacheDtypes), std::end(kKvCacheDtypes), value) == std::end(kKvCacheDtypes)) {
        throw Error("parse_backend_flags", kInvalidArgument,
                    "--kv-cache-dtype expects one of " + join(kKvCacheDtypes) + ", got '" + value + "'");
      }
      config.kv_cache_dtype = value;
    } else if (flag == "--model-arch") {
      if (value == "mla") {
        config.model_arch = ModelArch::mla;
      } else if (value == "mha") {
        config.model_arch = ModelArch::mha;
      } else {
        throw Error("parse_backend_flags", kInvalidArgument, "--model-arch expects mla or mha, got '" + value + "'");
      }
    } else {
      throw Error("parse_backend_flags", kInvalidArgument,
                  "unknown flag '" + flag + "'; known flags: " + std::string(kKnown));
    }
  }
  return config;
}

}  // namespace zemla
