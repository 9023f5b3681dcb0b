// zemla_mad_k16 (kernels_spirv/common/dpas.clh) against a plain matrix
// multiply, through the dpas_probe kernel: row-major A (8 x 16), B (16 x N)
// and C0 (8 x N) are packed into the extension's fragments on the device, so
// a wrong A, B or C layout, or a wrong emulation, gives wrong elements. On
// Intel's CPU runtime the emulation runs (sub-group 16, or 8 with
// ZEMLA_XMX_EMULATION=sg8); on a GPU with matrix engines, the hardware.
//
// Tolerance: products of bf16/fp16 values are exact in fp32, so the only
// error is fp32 accumulation over 17 terms: |err| <= 1e-6 x sum |terms|.

#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <string>
#include <vector>

#include "host/dtype.hpp"
#include "kernels/device_fixture.hpp"
#include "runtime/binary_choice.hpp"

namespace zemla {
namespace {

struct Probe {
  DType dtype;
  int n = 0;  // the sub-group size the chosen binary runs at
  std::vector<std::uint16_t> a, b;
  std::vector<float> c0;
};

int probe_width(const rt::ProgramKey& key) {
  const auto target = std::string(rt::choose_binary(testing::test_device().info(), key).binary->target);
  return target == "emulated-sg8" || target == "acm-g10" ? 8 : 16;
}

// C as the device computes it.
std::vector<float> run_probe(const Probe& p) {
  rt::Device& device = testing::test_device();
  const rt::ProgramKey key{"dpas_probe", "intel_xmx", std::string(dtype_name(p.dtype))};
  rt::Kernel& k = device.kernel(key, "dpas_probe");
  auto a = device.upload_vector(p.a), b = device.upload_vector(p.b);
  auto c0 = device.upload_vector(p.c0);
  auto c = device.allocate(p.c0.size() * sizeof(float));
  k.set_buffer(0, a.get());
  k.set_buffer(1, b.get());
  k.set_buffer(2, c0.get());
  k.set_buffer(3, c.get());
  device.launch(k, {1, 1, 1}, {static_cast<std::size_t>(p.n), 1, 1}, false);
  std::vector<float> out(p.c0.size());
  device.read(*c, out.data(), out.size() * sizeof(float));
  return out;
}

class DpasEmulation : public ::testing::TestWithParam<DType> {
 protected:
  Probe make(std::uint64_t seed) const {
    Probe p;
    p.dtype = GetParam();
    p.n = probe_width({"dpas_probe", "intel_xmx", std::string(dtype_name(p.dtype))});
    std::mt19937_64 rng(seed);
    std::normal_distribution<float> normal(0.0f, 1.0f);
    for (int i = 0; i < 8 * 16; ++i) p.a.push_back(from_float(p.dtype, normal(rng)));
    for (int i = 0; i < 16 * p.n; ++i) p.b.push_back(from_float(p.dtype, normal(rng)));
    for (int i = 0; i < 8 * p.n; ++i) p.c0.push_back(normal(rng));
    return p;
  }
};

TEST_P(DpasEmulation, MatchesAPlainMatrixMultiply) {
  const Probe p = make(5);
  const auto got = run_probe(p);
  for (int m = 0; m < 8; ++m) {
    for (int n = 0; n < p.n; ++n) {
      double ref = p.c0[m * p.n + n], magnitude = std::abs(ref);
      for (int k = 0; k < 16; ++k) {
        const double term = to_float(p.dtype, p.a[m * 16 + k]) * to_float(p.dtype, p.b[k * p.n + n]);
        ref += term;
        magnitude += std::abs(term);
      }
      EXPECT_NEAR(got[m * p.n + n], ref, 1e-6 * magnitude) << "C[" << m << "][" << n << "] at N = " << p.n;
    }
  }
}

// Each fragment's layout on its own: A = [I 0] picks B's first 8 rows, so
// C[m][n] = B[m][n] exactly, and B = [I; 0] (N >= 8) gives C = A's first N
// columns: a transposed or shifted fragment moves values visibly.
TEST_P(DpasEmulation, IdentityOperandsExposeEachFragmentLayout) {
  Probe p = make(9);
  const std::uint16_t one = from_float(p.dtype, 1.0f);
  std::fill(p.c0.begin(), p.c0.end(), 0.0f);
  std::fill(p.a.begin(), p.a.end(), 0);
  for (int m = 0; m < 8; ++m) p.a[m * 16 + m] = one;
  auto got = run_probe(p);
  for (int i = 0; i < 8 * p.n; ++i) {
    EXPECT_EQ(got[i], to_float(p.dtype, p.b[i])) << "A = [I 0]: C[" << i / p.n << "][" << i % p.n << "]";
  }
  p = make(10);
  std::fill(p.c0.begin(), p.c0.end(), 0.0f);
  std::fill(p.b.begin(), p.b.end(), 0);
  for (int k = 0; k < p.n && k < 16; ++k) p.b[k * p.n + k] = one;
  got = run_probe(p);
  for (int m = 0; m < 8; ++m) {
    for (int n = 0; n < p.n; ++n) {
      EXPECT_EQ(got[m * p.n + n], to_float(p.dtype, p.a[m * 16 + n])) << "B = [I; 0]: C[" << m << "][" << n << "]";
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Dtypes, DpasEmulation, ::testing::Values(DType::bf16, DType::f16),
                         [](const auto& info) { return std::string(dtype_name(info.param)); });

}  // namespace
}  // namespace zemla
