#include "host/backend_config.hpp"

#include <gtest/gtest.h>

#include "host/capability_registry.hpp"
#include "zemla/error.hpp"

namespace zemla {
namespace {

ValidatedConfig validate_flags(std::vector<std::string> flags) { return validate_config(parse_backend_flags(flags)); }

const Diagnostic* find(const ValidatedConfig& v, const std::string& code) {
  for (const auto& d : v.diagnostics) {
    if (d.code == code) return &d;
  }
  return nullptr;
}

TEST(ResolveBackends, SpecificFlagsOverrideAttentionBackend) {
  BackendConfig c;
  c.attention_backend = "intel_xpu";
  c.prefill_attention_backend = "triton";
  EXPECT_EQ(resolve_backends(c).prefill, "triton");
  EXPECT_EQ(resolve_backends(c).decode, "intel_xpu");
  c.decode_attention_backend = "triton";
  EXPECT_EQ(resolve_backends(c).decode, "triton");
  BackendConfig none;
  EXPECT_EQ(resolve_backends(none).decode, kDefaultAttentionBackend);
}

TEST(ValidateConfig, RejectsMlaPrefillOnIntelXpu) {
  const auto v = validate_flags({"--model-arch", "mla", "--attention-backend", "intel_xpu"});
  EXPECT_FALSE(v.ok());
  EXPECT_EQ(v.exit_code(), 2);
  const auto* d = find(v, "mla-prefill-unsupported");
  ASSERT_NE(d, nullptr);
  EXPECT_NE(d->message.find("only supported on decode for MLA models"), std::string::npos);
  EXPECT_NE(d->message.find("triton"), std::string::npos);
}

TEST(ValidateConfig, AcceptsTritonPrefillWithIntelXpuDecodeForMla) {
  const auto v =
      validate_flags({"--attention-backend=intel_xpu", "--prefill-attention-backend=triton", "--page-size=64"});
  EXPECT_TRUE(v.ok()) << (v.diagnostics.empty() ? "" : v.diagnostics[0].message);
  EXPECT_TRUE(v.diagnostics.empty());
  EXPECT_EQ(v.config.page_size, 64);
}

TEST(ValidateConfig, AllowsNonMlaPrefillOnIntelXpu) {
  const auto v = validate_flags({"--model-arch", "mha", "--attention-backend", "intel_xpu", "--page-size", "64"});
  EXPECT_TRUE(v.ok());
}

TEST(ValidateConfig, ForcesUnsupportedMlaPageSizeTo128WithAWarning) {
  for (int ok : {16, 32, 64, 128}) {
    const auto v = validate_flags({"--prefill-attention-backend", "triton", "--page-size", std::to_string(ok)});
    EXPECT_EQ(v.config.page_size, ok);
    EXPECT_EQ(find(v, "page-size-corrected"), nullptr);
  }
  const auto v = validate_flags({"--prefill-attention-backend", "triton", "--page-size", "48"});
  EXPECT_TRUE(v.ok());  // a warning, not an error
  EXPECT_EQ(v.config.page_size, 128);
  const auto* d = find(v, "page-size-corrected");
  ASSERT_NE(d, nullptr);
  EXPECT_EQ(d->severity, Severity::warning);
  EXPECT_NE(d->message.find("page size 48"), std::string::npos);
  EXPECT_NE(d->message.find("16, 32, 64, 128"), std::string::npos);
}

TEST(ValidateConfig, ForcesUnsupportedNonMlaPageSizeTo128) {
  const auto v =
      validate_flags({"--model-arch", "mha", "--decode-attention-backend", "intel_xpu", "--page-size", "32"});
  EXPECT_TRUE(v.ok());
  EXPECT_EQ(v.config.page_size, 128);
  const auto* d = find(v, "page-size-corrected");
  ASSERT_NE(d, nullptr);
  EXPECT_NE(d->message.find("64, 128"), std::string::npos);
  EXPECT_EQ(validate_flags({"--model-arch", "mha", "--page-size", "64"}).config.page_size, 64);
}

TEST(ValidateConfig, LeavesPageSizeAloneForTritonDecode) {
  const auto v = validate_flags({"--attention-backend", "triton", "--page-size", "48"});
  EXPECT_EQ(v.config.page_size, 48);
  EXPECT_TRUE(v.diagnostics.empty());
}

// Upstream intel_xpu asserts mid-serving on speculative MLA decode; zemla
// verifies a linear chain of up to 8 tokens and refuses the rest at config time.
TEST(ValidateConfig, SpeculativeMlaDecodeOnIntelXpuVerifiesLinearChainsOfUpTo8Tokens) {
  EXPECT_TRUE(validate_flags({"--speculative-algorithm", "NEXTN"}).ok()) << "sglang's default: 4 tokens, top-k 1";
  EXPECT_TRUE(validate_flags({"--speculative-algorithm", "EAGLE", "--speculative-num-steps", "7",
                              "--speculative-eagle-topk", "1", "--speculative-num-draft-tokens", "8"})
                  .ok());
  const auto tree = validate_flags(
      {"--speculative-algorithm", "EAGLE", "--speculative-eagle-topk", "4", "--speculative-num-draft-tokens", "8"});
  EXPECT_FALSE(tree.ok());
  const auto* d = find(tree, "speculative-tree-unsupported");
  ASSERT_NE(d, nullptr);
  EXPECT_NE(d->message.find("--speculative-eagle-topk 4 drafts a tree"), std::string::npos) << d->message;
  const auto long_chain = validate_flags({"--speculative-algorithm", "NEXTN", "--speculative-num-draft-tokens", "9"});
  d = find(long_chain, "speculative-too-many-tokens");
  ASSERT_NE(d, nullptr);
  EXPECT_NE(d->message.find("--speculative-num-draft-tokens 9 is more than the 8"), std::string::npos) << d->message;
  EXPECT_FALSE(validate_flags({"--speculative-algorithm", "NEXTN", "--speculative-num-steps", "8"}).ok())
      << "8 steps make 9 tokens";
  EXPECT_NE(find(validate_flags({"--speculative-algorithm", "NEXTN", "--speculative-eagle-topk", "0"}),
                 "speculative-flags-invalid"),
            nullptr);
  // Non-MLA models and triton decode keep their own rules.
  EXPECT_TRUE(validate_flags({"--model-arch", "mha", "--page-size", "64", "--speculative-algorithm", "EAGLE",
                              "--speculative-eagle-topk", "4"})
                  .ok());
  EXPECT_TRUE(validate_flags({"--attention-backend", "triton", "--speculative-algorithm", "EAGLE",
                              "--speculative-eagle-topk", "4", "--speculative-num-draft-tokens", "16"})
                  .ok());
}

TEST(ValidateConfig, RejectsUnknownBackendsListingKnownOnes) {
  const auto v = validate_flags({"--decode-attention-backend", "flashinfer", "--prefill-attention-backend", "triton"});
  const auto* d = find(v, "unknown-backend");
  ASSERT_NE(d, nullptr);
  EXPECT_NE(d->message.find("'flashinfer'"), std::string::npos);
  EXPECT_NE(d->message.find(known_backend_names()), std::string::npos);
}

TEST(ValidateConfig, RejectsUnknownSpeculativeAlgorithmAndBadPageSize) {
  EXPECT_NE(find(validate_flags({"--attention-backend", "triton", "--speculative-algorithm", "MEDUSA"}),
                 "unknown-speculative-algorithm"),
            nullptr);
  EXPECT_NE(find(validate_flags({"--attention-backend", "triton", "--page-size", "0"}), "invalid-page-size"), nullptr);
}

// `zemla config` with no flags: the defaults must pass their own rules, so an
// MLA model's prefill goes to the partner that does it.
TEST(ValidateConfig, DefaultsAreAccepted) {
  const auto mla = validate_flags({});
  EXPECT_TRUE(mla.ok()) << (mla.diagnostics.empty() ? "" : mla.diagnostics[0].message);
  EXPECT_EQ(mla.backends.prefill, kDefaultMlaPrefillBackend);
  EXPECT_EQ(mla.backends.decode, kDefaultAttentionBackend);
  const auto mha = validate_flags({"--model-arch", "mha"});
  EXPECT_TRUE(mha.ok());
  EXPECT_EQ(mha.backends.prefill, kDefaultAttentionBackend);
}

// sglang's spellings: --dtype auto, and every --kv-cache-dtype it knows.
TEST(ValidateConfig, KvCacheDtypeFollowsSglangsSpellingsAndZemlasLimits) {
  EXPECT_EQ(validate_flags({"--dtype", "auto"}).config.dtype, DType::bf16);
  const auto fp8 = validate_flags({"--kv-cache-dtype", "fp8_e4m3"});
  EXPECT_TRUE(fp8.ok());
  EXPECT_EQ(fp8.kv_format, KvFormat::fp8_e4m3);
  EXPECT_EQ(validate_flags({"--kv-cache-dtype=fp8_e5m2", "--dtype=fp16"}).kv_format, KvFormat::fp8_e5m2);
  EXPECT_EQ(validate_flags({"--kv-cache-dtype", "auto"}).kv_format, KvFormat::same);
  const auto bf16 = validate_flags({"--kv-cache-dtype", "bfloat16"});
  EXPECT_TRUE(bf16.ok());
  EXPECT_EQ(bf16.kv_format, KvFormat::same);
  // Known to sglang, refused by zemla with the reason.
  for (const auto& flags :
       std::vector<std::vector<std::string>>{{"--kv-cache-dtype", "fp8_e4m3", "--model-arch", "mha"},
                                             {"--kv-cache-dtype", "bf16", "--dtype", "fp16"},
                                             {"--kv-cache-dtype", "fp4_e2m1"}}) {
    const auto v = validate_flags(flags);
    EXPECT_FALSE(v.ok()) << flags[1];
    const auto* d = find(v, "kv-cache-dtype-unsupported");
    ASSERT_NE(d, nullptr) << flags[1];
    EXPECT_NE(d->message.find("--kv-cache-dtype " + flags[1]), std::string::npos) << d->message;
  }
  // Non-MLA FP8 is fine where the decode backend reads it.
  EXPECT_TRUE(
      validate_flags({"--kv-cache-dtype", "fp8_e4m3", "--model-arch", "mha", "--attention-backend", "triton"}).ok());
  EXPECT_THROW(parse_backend_flags(std::vector<std::string>{"--kv-cache-dtype", "fp8"}), Error);
}

// fp8_ds_mla (vLLM's spelling for DeepSeek's rows; zemla's extension): MLA
// decode on intel_xpu with bf16, and nothing else.
TEST(BackendConfig, Fp8DsMlaIsForMlaDecodeOnIntelXpuInBf16) {
  const auto ok = validate_flags({"--kv-cache-dtype", "fp8_ds_mla"});
  EXPECT_TRUE(ok.ok());
  EXPECT_EQ(ok.kv_format, KvFormat::fp8_ds_mla);
  const std::pair<std::vector<std::string>, std::string> refused[] = {
      {{"--kv-cache-dtype", "fp8_ds_mla", "--dtype", "fp16"}, "served with --dtype bf16, not f16"},
      {{"--kv-cache-dtype", "fp8_ds_mla", "--model-arch", "mha"}, "a non-MLA model cannot use it"},
      {{"--kv-cache-dtype", "fp8_ds_mla", "--decode-attention-backend", "triton"}, "not supported by triton"},
  };
  for (const auto& [flags, why] : refused) {
    const auto v = validate_flags(flags);
    const auto* d = find(v, "kv-cache-dtype-unsupported");
    ASSERT_NE(d, nullptr) << flags[2];
    EXPECT_NE(d->message.find(why), std::string::npos) << d->message;
  }
  EXPECT_THROW(parse_backend_flags(std::vector<std::string>{"--dtype", "float32"}), Error);
}

TEST(CapabilityRegistry, IsTheOnlySourceOfPageSizeRules) {
  const auto* xpu = find_backend("intel_xpu");
  ASSERT_NE(xpu, nullptr);
  EXPECT_FALSE(xpu->mla_prefill);
  EXPECT_EQ(std::vector<int>(xpu->mla_decode_page_sizes.begin(), xpu->mla_decode_page_sizes.end()),
            (std::vector<int>{16, 32, 64, 128}));
  EXPECT_EQ(std::vector<int>(xpu->mha_decode_page_sizes.begin(), xpu->mha_decode_page_sizes.end()),
            (std::vector<int>{64, 128}));
  EXPECT_EQ(find_backend("nope"), nullptr);
}

TEST(ParseBackendFlags, RejectsUnknownFlagsAndBadValuesByName) {
  auto message = [](std::vector<std::string> flags) {
    try {
      parse_backend_flags(flags);
    } catch (const Error& e) {
      EXPECT_EQ(e.result_name(), kInvalidArgument);
      return std::string(e.what());
    }
    return std::string("accepted");
  };
  EXPECT_NE(message({"--attention"}).find("--attention"), std::string::npos);
  EXPECT_NE(message({"--page-size", "big"}).find("'big'"), std::string::npos);
  EXPECT_NE(message({"--model-arch", "gqa"}).find("mla or mha"), std::string::npos);
  EXPECT_NE(message({"--page-size"}).find("expects a value"), std::string::npos);
  EXPECT_NE(message({"--bogus", "1"}).find("known flags"), std::string::npos);
  EXPECT_NE(message({"--enable-deterministic-inference=yes"}).find("takes no value"), std::string::npos);
}

// sglang's --enable-deterministic-inference is a switch: it takes no value,
// so the flag after it is read as a flag, not as its value.
TEST(ParseBackendFlags, DeterministicInferenceIsASwitch) {
  EXPECT_FALSE(parse_backend_flags(std::vector<std::string>{"--page-size", "64"}).deterministic_inference);
  const auto c = parse_backend_flags(std::vector<std::string>{"--enable-deterministic-inference", "--page-size", "64"});
  EXPECT_TRUE(c.deterministic_inference);
  EXPECT_EQ(c.page_size, 64);
  EXPECT_TRUE(validate_config(c).ok());
}

}  // namespace
}  // namespace zemla
