// Hardware validation (label `hw`): needs a Level Zero GPU. Without one every
// test skips and says why; with ZEMLA_REQUIRE_HW=1 that is a failure instead,
// so a validation run on a machine that lost its GPU cannot pass silently.

#include <gtest/gtest.h>

#include <cstdlib>
#include <string>

#include "host/compare.hpp"
#include "host/reference.hpp"
#include "runtime/ops/mla_runner.hpp"
#include "runtime/select.hpp"

namespace zemla {
namespace {

bool hardware_required() {
  const char* v = std::getenv("ZEMLA_REQUIRE_HW");
  return v != nullptr && std::string(v) == "1";
}

// The first Level Zero GPU, or the reason there is none.
std::unique_ptr<rt::Device> level_zero_gpu(std::string& why) {
  for (const auto& r : rt::survey()) {
    if (r.backend != rt::Backend::level_zero) continue;
    if (!r.built || !r.available) {
      why = "no Level Zero GPU: " + r.reason;
      return nullptr;
    }
    for (const auto& d : r.devices) {
      if (d.is_gpu && d.name != "Null Device") return rt::open_device({"level_zero", d.index});
    }
  }
  why = "no Level Zero GPU: the driver lists no GPU device";
  return nullptr;
}

#define ZEMLA_NEED_GPU(device)                                         \
  std::string why;                                                     \
  auto device = level_zero_gpu(why);                                   \
  if (!device) {                                                       \
    if (hardware_required()) FAIL() << why << " (ZEMLA_REQUIRE_HW=1)"; \
    GTEST_SKIP() << why;                                               \
  }

TEST(HardwareValidation, MlaDecodeOnLevelZeroGpuMatchesReference) {
  ZEMLA_NEED_GPU(device);
  for (DType dt : {DType::bf16, DType::f16}) {
    for (int heads : {16, 128, 24}) {
      RandomMlaSpec spec;
      spec.dtype = dt;
      spec.heads = heads;
      spec.page_size = 64;
      spec.seqlens = {8192, 1, 63, 64, 65, 0, 3000};
      const auto problem = make_random_problem(spec);
      const auto outcome = ops::run_mla_problem(*device, problem, {-1, 0, 0, true});
      const auto cmp =
          compare_with_reference(outcome.result, reference::mla_decode(problem), dt, mla::kLatentDim, true);
      EXPECT_TRUE(cmp.pass) << dtype_name(dt) << " H" << heads << ": " << cmp.failure;
    }
  }
}

TEST(HardwareValidation, LoadsTheNativeZebinForThisGpu) {
  ZEMLA_NEED_GPU(device);
  RandomMlaSpec spec;
  spec.seqlens = {100};
  const auto outcome = ops::run_mla_problem(*device, make_random_problem(spec), {-1, 0, 0, true});
  EXPECT_EQ(outcome.binary.rfind("zebin", 0), 0u)
      << "ran from " << outcome.binary << "; no native binary matches this GPU's IP version";
}

}  // namespace
}  // namespace zemla
