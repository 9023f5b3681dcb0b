// libFuzzer target: arbitrary bytes -> npy::parse. Any input may be refused
// with zemla::Error; nothing may crash or read past the input, and an
// accepted array must be self-consistent and survive a serialize/parse
// round trip unchanged.

#include <cstdint>
#include <cstdlib>

#include "harness/npy.hpp"
#include "zemla/error.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  zemla::npy::Array a;
  try {
    a = zemla::npy::parse({data, size}, "fuzz.npy");
  } catch (const zemla::Error&) {
    return 0;
  }
  if (a.data.size() != static_cast<std::size_t>(a.elements()) * zemla::npy::elem_bytes(a.elem)) std::abort();
  const auto again = zemla::npy::parse(zemla::npy::serialize(a), "again.npy");
  if (again.shape != a.shape || again.elem != a.elem || again.data != a.data) std::abort();
  return 0;
}
