#include "validation/dpas_check.hpp"

#include <algorithm>
#include <cmath>
#include <random>
#include <vector>

#include "runtime/binary_choice.hpp"

namespace zemla::validation {

namespace {

struct Operands {
  std::vector<std::uint16_t> a, b;  // row-major 8 x 16, 16 x N
  std::vector<float> c0;            // row-major 8 x N
};

Operands random_operands(DType dtype, int n, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  Operands o;
  for (int i = 0; i < 8 * 16; ++i) o.a.push_back(from_float(dtype, normal(rng)));
  for (int i = 0; i < 16 * n; ++i) o.b.push_back(from_float(dtype, normal(rng)));
  for (int i = 0; i < 8 * n; ++i) o.c0.push_back(normal(rng));
  return o;
}

std::vector<float> run_probe(rt::Device& device, const rt::ProgramKey& key, int n, const Operands& o) {
  rt::Kernel& k = device.kernel(key, "dpas_probe");
  auto a = device.upload_vector(o.a), b = device.upload_vector(o.b), c0 = device.upload_vector(o.c0);
  auto c = device.allocate(o.c0.size() * sizeof(float));
  k.set_buffer(0, a.get());
  k.set_buffer(1, b.get());
  k.set_buffer(2, c0.get());
  k.set_buffer(3, c.get());
  device.launch(k, {1, 1, 1}, {static_cast<std::size_t>(n), 1, 1}, false);
  std::vector<float> out(o.c0.size());
  device.read(*c, out.data(), out.size() * sizeof(float));
  return out;
}

std::string element(const char* what, int m, int n) {
  return std::string(what) + ": C[" + std::to_string(m) + "][" + std::to_string(n) + "]";
}

}  // namespace

DpasCheck check_dpas_fragments(rt::Device& device, DType dtype) {
  const rt::ProgramKey key{"dpas_probe", "intel_xmx", std::string(dtype_name(dtype))};
  const std::string target(rt::choose_binary(device.info(), key).binary->target);
  DpasCheck r;
  r.sub_group = target == "emulated-sg8" || target == "acm-g10" ? 8 : 16;
  const int n = r.sub_group;
  auto fail = [&](const std::string& where, double got, double want) {
    if (r.failure.empty()) r.failure = where + " is " + std::to_string(got) + ", expected " + std::to_string(want);
  };

  // Random operands against fp64.
  Operands o = random_operands(dtype, n, 5);
  auto got = run_probe(device, key, n, o);
  for (int m = 0; m < 8; ++m) {
    for (int j = 0; j < n; ++j) {
      double ref = o.c0[m * n + j], magnitude = std::abs(ref);
      for (int k = 0; k < 16; ++k) {
        const double term = double(to_float(dtype, o.a[m * 16 + k])) * to_float(dtype, o.b[k * n + j]);
        ref += term;
        magnitude += std::abs(term);
      }
      const double err = std::abs(got[m * n + j] - ref);
      r.worst_ratio = std::max(r.worst_ratio, err / (1e-6 * magnitude));
      if (err > 1e-6 * magnitude) fail(element("random operands", m, j), got[m * n + j], ref);
      ++r.elements_checked;
    }
  }
  // A = [I 0] picks B's first 8 rows: C = B[0:8][:], exactly.
  const std::uint16_t one = from_float(dtype, 1.0f);
  o = random_operands(dtype, n, 9);
  std::fill(o.c0.begin(), o.c0.end(), 0.0f);
  std::fill(o.a.begin(), o.a.end(), 0);
  for (int m = 0; m < 8; ++m) o.a[m * 16 + m] = one;
  got = run_probe(device, key, n, o);
  for (int i = 0; i < 8 * n; ++i, ++r.elements_checked) {
    if (got[i] != to_float(dtype, o.b[i])) fail(element("A = [I 0]", i / n, i % n), got[i], to_float(dtype, o.b[i]));
  }
  // B = [I; 0] picks A's first N columns: C = A[:][0:N], exactly.
  o = random_operands(dtype, n, 10);
  std::fill(o.c0.begin(), o.c0.end(), 0.0f);
  std::fill(o.b.begin(), o.b.end(), 0);
  for (int k = 0; k < n; ++k) o.b[k * n + k] = one;
  got = run_probe(device, key, n, o);
  for (int m = 0; m < 8; ++m) {
    for (int j = 0; j < n; ++j, ++r.elements_checked) {
      const float want = to_float(dtype, o.a[m * 16 + j]);
      if (got[m * n + j] != want) fail(element("B = [I; 0]", m, j), got[m * n + j], want);
    }
  }
  return r;
}

}  // namespace zemla::validation
