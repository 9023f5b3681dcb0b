#include "validation/mma_check.hpp"

#include <algorithm>
#include <cmath>
#include <random>
#include <vector>

namespace zemla::validation {

namespace {

constexpr int kM = 16, kN = 8, kK = 16;

struct Operands {
  std::vector<std::uint16_t> a, b;  // row-major M x K, K x N
  std::vector<float> c0;            // row-major M x N
};

Operands random_operands(DType dtype, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  Operands o;
  for (int i = 0; i < kM * kK; ++i) o.a.push_back(from_float(dtype, normal(rng)));
  for (int i = 0; i < kK * kN; ++i) o.b.push_back(from_float(dtype, normal(rng)));
  for (int i = 0; i < kM * kN; ++i) o.c0.push_back(normal(rng));
  return o;
}

std::vector<float> run_probe(rt::Device& device, const rt::ProgramKey& key, const Operands& o) {
  rt::Kernel& k = device.kernel(key, "mma_probe");
  auto a = device.upload_vector(o.a), b = device.upload_vector(o.b), c0 = device.upload_vector(o.c0);
  auto c = device.allocate(o.c0.size() * sizeof(float));
  k.set_buffer(0, a.get());
  k.set_buffer(1, b.get());
  k.set_buffer(2, c0.get());
  k.set_buffer(3, c.get());
  device.launch(k, {1, 1, 1}, {32, 1, 1}, false);
  std::vector<float> out(o.c0.size());
  device.read(*c, out.data(), out.size() * sizeof(float));
  return out;
}

}  // namespace

MmaCheck check_mma_fragments(rt::Device& device, DType dtype) {
  const rt::ProgramKey key{"mma_probe", "nv_mma", std::string(dtype_name(dtype))};
  MmaCheck r;
  auto fail = [&](const char* what, int m, int n, double got, double want) {
    if (r.failure.empty()) {
      r.failure = std::string(what) + ": C[" + std::to_string(m) + "][" + std::to_string(n) + "] is " +
                  std::to_string(got) + ", expected " + std::to_string(want);
    }
  };
  // Random operands against fp64.
  Operands o = random_operands(dtype, 5);
  auto got = run_probe(device, key, o);
  for (int m = 0; m < kM; ++m) {
    for (int n = 0; n < kN; ++n, ++r.elements_checked) {
      double ref = o.c0[m * kN + n], magnitude = std::abs(ref);
      for (int k = 0; k < kK; ++k) {
        const double term = double(to_float(dtype, o.a[m * kK + k])) * to_float(dtype, o.b[k * kN + n]);
        ref += term;
        magnitude += std::abs(term);
      }
      const double err = std::abs(got[m * kN + n] - ref);
      r.worst_ratio = std::max(r.worst_ratio, err / (1e-6 * magnitude));
      if (err > 1e-6 * magnitude) fail("random operands", m, n, got[m * kN + n], ref);
    }
  }
  const std::uint16_t one = from_float(dtype, 1.0f);
  // A = I (M = K = 16) gives C = B exactly.
  o = random_operands(dtype, 9);
  std::fill(o.c0.begin(), o.c0.end(), 0.0f);
  std::fill(o.a.begin(), o.a.end(), 0);
  for (int m = 0; m < kM; ++m) o.a[m * kK + m] = one;
  got = run_probe(device, key, o);
  for (int i = 0; i < kM * kN; ++i, ++r.elements_checked) {
    if (got[i] != to_float(dtype, o.b[i])) fail("A = I", i / kN, i % kN, got[i], to_float(dtype, o.b[i]));
  }
  // B = [I; 0] picks A's first N columns: C = A[:][0:N], exactly.
  o = random_operands(dtype, 10);
  std::fill(o.c0.begin(), o.c0.end(), 0.0f);
  std::fill(o.b.begin(), o.b.end(), 0);
  for (int k = 0; k < kN; ++k) o.b[k * kN + k] = one;
  got = run_probe(device, key, o);
  for (int m = 0; m < kM; ++m) {
    for (int n = 0; n < kN; ++n, ++r.elements_checked) {
      const float want = to_float(dtype, o.a[m * kK + n]);
      if (got[m * kN + n] != want) fail("B = [I; 0]", m, n, got[m * kN + n], want);
    }
  }
  return r;
}

}  // namespace zemla::validation
