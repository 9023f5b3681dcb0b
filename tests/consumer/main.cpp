// Decodes a few steps of one request through the installed public API and
// checks the result is a convex combination of the cached latents: each
// output value lies within the range of that column over the cached rows.

#include <zemla/zemla.hpp>

#include <algorithm>
#include <cstring>
#include <cstdio>
#include <vector>

int main() {
  try {
    zemla::Runtime runtime({"opencl", 0});
    zemla::MlaCache cache(runtime, {{"--decode-attention-backend", "intel_xpu", "--prefill-attention-backend",
                                     "triton", "--page-size", "32"},
                                    1,
                                    4});
    cache.add_request(1);
    const std::int64_t ids[] = {1};
    std::vector<std::uint16_t> rows;
    std::vector<std::uint16_t> out(512);
    for (int step = 0; step < 40; ++step) {
      auto s = cache.begin_step(ids, 1);
      std::vector<std::uint16_t> row(576);
      for (int c = 0; c < 576; ++c) row[c] = static_cast<std::uint16_t>(0x3f80 + ((c * 7 + step * 13) % 64));  // 1..2
      rows.insert(rows.end(), row.begin(), row.end());
      auto r = runtime.allocate(576 * 2), qn = runtime.allocate(512 * 2), qr = runtime.allocate(64 * 2),
           o = runtime.allocate(512 * 2);
      r.upload(row.data(), 576 * 2);
      s.append(0, r);
      const std::vector<std::uint16_t> q(576, 0x3c00);  // bf16 1/128
      qn.upload(q.data(), 512 * 2);
      qr.upload(q.data(), 64 * 2);
      s.decode(0, qn, qr, o, nullptr, 0.0722f);
      o.download(out.data(), 512 * 2);
    }
    auto bf16 = [](std::uint16_t b) {
      const std::uint32_t u = std::uint32_t{b} << 16;
      float f;
      std::memcpy(&f, &u, 4);
      return f;
    };
    for (int c = 0; c < 512; ++c) {
      float lo = 1e30f, hi = -1e30f;
      for (std::size_t t = 0; t < rows.size() / 576; ++t) {
        lo = std::min(lo, bf16(rows[t * 576 + c]));
        hi = std::max(hi, bf16(rows[t * 576 + c]));
      }
      const float v = bf16(out[c]);
      if (!(v >= lo * 0.99f && v <= hi * 1.01f)) {
        std::printf("consumer FAIL: column %d = %g outside [%g, %g]\n", c, v, lo, hi);
        return 1;
      }
    }
    std::printf("consumer OK on %s: 40 steps, length %lld\n", runtime.device().name.c_str(),
                static_cast<long long>(cache.length(1)));
    return 0;
  } catch (const zemla::Error& e) {
    std::printf("consumer FAIL: %s (%s)\n", e.what(), e.result_name().c_str());
    return 1;
  }
}
