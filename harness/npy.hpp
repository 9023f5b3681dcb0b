#pragma once
// NumPy's .npy format (versions 1.0, 2.0 and 3.0), little-endian, C order:
// the exchange format for captured tensors. Parsing is strict and bounded,
// because the bytes come from outside: every malformed header, unsupported
// dtype or size mismatch is a zemla::Error naming the file.

#include <cstdint>
#include <cstring>
#include <filesystem>
#include <span>
#include <string>
#include <vector>

namespace zemla::npy {

// The element types zemla reads and writes. `descr` is NumPy's spelling.
enum class Elem { f32, f64, f16, u16, i32, i64, u8 };  // u8: FP8 codes (uint8 |u1)
std::string_view descr(Elem e);                        // "<f4", ...
std::size_t elem_bytes(Elem e);

struct Array {
  Elem elem = Elem::f32;
  std::vector<std::int64_t> shape;  // empty for a 0-d array
  std::vector<unsigned char> data;  // little-endian elements, C order

  std::int64_t elements() const;
  std::string shape_string() const;  // "(2, 16, 512)"
};

// NumPy's spelling of a shape: "(2, 16, 512)", "(3,)", "()".
std::string shape_string(std::span<const std::int64_t> shape);

// `name` labels errors ("q_nope.npy"). Throws zemla::Error(kInvalidArgument).
Array parse(std::span<const unsigned char> bytes, const std::string& name);
Array read_file(const std::filesystem::path& path);

std::vector<unsigned char> serialize(const Array& array);
void write_file(const std::filesystem::path& path, const Array& array);

// Builds an array from typed values; the element type must match T's size.
template <typename T>
Array make(Elem elem, std::vector<std::int64_t> shape, std::span<const T> values) {
  Array a;
  a.elem = elem;
  a.shape = std::move(shape);
  a.data.resize(values.size_bytes());
  std::memcpy(a.data.data(), values.data(), values.size_bytes());
  return a;
}

}  // namespace zemla::npy
