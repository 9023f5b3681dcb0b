#include "validation/fragment_check.hpp"

#include <algorithm>
#include <cmath>
#include <random>
#include <vector>

#include "runtime/binary_choice.hpp"

namespace zemla::validation {

namespace {

// One probe: C (m x n) = A (m x k) B (k x n) + C0, all row-major.
struct Probe {
  rt::ProgramKey key;
  const char* kernel;
  int m, n, k;
  std::size_t items;  // the work-group: one sub-group or warp
};

struct Operands {
  std::vector<std::uint16_t> a, b;
  std::vector<float> c0;
};

Operands random_operands(const Probe& p, DType dtype, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  Operands o;
  for (int i = 0; i < p.m * p.k; ++i) o.a.push_back(from_float(dtype, normal(rng)));
  for (int i = 0; i < p.k * p.n; ++i) o.b.push_back(from_float(dtype, normal(rng)));
  for (int i = 0; i < p.m * p.n; ++i) o.c0.push_back(normal(rng));
  return o;
}

std::vector<float> run_probe(rt::Device& device, const Probe& p, const Operands& o) {
  rt::Kernel& kernel = device.kernel(p.key, p.kernel);
  auto a = device.upload_vector(o.a), b = device.upload_vector(o.b), c0 = device.upload_vector(o.c0);
  auto c = device.allocate(o.c0.size() * sizeof(float));
  kernel.set_buffer(0, a.get());
  kernel.set_buffer(1, b.get());
  kernel.set_buffer(2, c0.get());
  kernel.set_buffer(3, c.get());
  device.launch(kernel, {1, 1, 1}, {p.items, 1, 1}, false);
  std::vector<float> out(o.c0.size());
  device.read(*c, out.data(), out.size() * sizeof(float));
  return out;
}

FragmentCheck check(rt::Device& device, DType dtype, const Probe& p) {
  FragmentCheck r;
  const int m_dim = p.m, n_dim = p.n, k_dim = p.k;
  auto fail = [&](const char* what, int m, int n, double got, double want) {
    if (r.failure.empty()) {
      r.failure = std::string(what) + ": C[" + std::to_string(m) + "][" + std::to_string(n) + "] is " +
                  std::to_string(got) + ", expected " + std::to_string(want);
    }
  };
  // Random operands against fp64.
  Operands o = random_operands(p, dtype, 5);
  auto got = run_probe(device, p, o);
  for (int m = 0; m < m_dim; ++m) {
    for (int n = 0; n < n_dim; ++n, ++r.elements_checked) {
      double ref = o.c0[m * n_dim + n], magnitude = std::abs(ref);
      for (int k = 0; k < k_dim; ++k) {
        const double term = double(to_float(dtype, o.a[m * k_dim + k])) * to_float(dtype, o.b[k * n_dim + n]);
        ref += term;
        magnitude += std::abs(term);
      }
      const double err = std::abs(got[m * n_dim + n] - ref);
      r.worst_ratio = std::max(r.worst_ratio, err / (1e-6 * magnitude));
      if (err > 1e-6 * magnitude) fail("random operands", m, n, got[m * n_dim + n], ref);
    }
  }
  const std::uint16_t one = from_float(dtype, 1.0f);
  // A = [I 0] (M <= K) picks B's first M rows: C = B[0:M][:], exactly.
  o = random_operands(p, dtype, 9);
  std::fill(o.c0.begin(), o.c0.end(), 0.0f);
  std::fill(o.a.begin(), o.a.end(), 0);
  for (int m = 0; m < m_dim; ++m) o.a[m * k_dim + m] = one;
  got = run_probe(device, p, o);
  for (int i = 0; i < m_dim * n_dim; ++i, ++r.elements_checked) {
    if (got[i] != to_float(dtype, o.b[i])) fail("A = [I 0]", i / n_dim, i % n_dim, got[i], to_float(dtype, o.b[i]));
  }
  // B = [I; 0] (N <= K) picks A's first N columns: C = A[:][0:N], exactly.
  o = random_operands(p, dtype, 10);
  std::fill(o.c0.begin(), o.c0.end(), 0.0f);
  std::fill(o.b.begin(), o.b.end(), 0);
  for (int k = 0; k < n_dim; ++k) o.b[k * n_dim + k] = one;
  got = run_probe(device, p, o);
  for (int m = 0; m < m_dim; ++m) {
    for (int n = 0; n < n_dim; ++n, ++r.elements_checked) {
      const float want = to_float(dtype, o.a[m * k_dim + n]);
      if (got[m * n_dim + n] != want) fail("B = [I; 0]", m, n, got[m * n_dim + n], want);
    }
  }
  return r;
}

}  // namespace

FragmentCheck check_dpas_fragments(rt::Device& device, DType dtype) {
  const rt::ProgramKey key{"dpas_probe", rt::Variant::intel_xmx, std::string(dtype_name(dtype))};
  const std::string target(
      rt::choose_binary(device.info(), key, device.settings().emulated_dpas_sub_group).binary->target);
  const int sg = target == "emulated-sg8" || target == "acm-g10" ? 8 : 16;
  FragmentCheck r = check(device, dtype, {key, "dpas_probe", 8, sg, 16, static_cast<std::size_t>(sg)});
  r.sub_group = sg;
  return r;
}

FragmentCheck check_mma_fragments(rt::Device& device, DType dtype) {
  FragmentCheck r = check(
      device, dtype, {{"mma_probe", rt::Variant::nv_mma, std::string(dtype_name(dtype))}, "mma_probe", 16, 8, 16, 32});
  r.sub_group = 32;
  return r;
}

}  // namespace zemla::validation
