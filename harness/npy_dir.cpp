#include "npy_dir.hpp"

#include <cmath>
#include <cstring>
#include <limits>

#include "zemla/error.hpp"

namespace zemla {

namespace {

namespace fs = std::filesystem;

std::string str(std::int64_t v) { return std::to_string(v); }

template <typename T>
T element(const npy::Array& a, std::size_t i) {
  T v;
  std::memcpy(&v, a.data.data() + i * sizeof(T), sizeof(T));
  return v;
}

}  // namespace

std::string npy_index_string(const npy::Array& a, std::size_t i) {
  std::vector<std::int64_t> idx(a.shape.size());
  for (std::size_t d = a.shape.size(); d-- > 0;) {
    idx[d] = static_cast<std::int64_t>(i) % a.shape[d];
    i /= static_cast<std::size_t>(a.shape[d]);
  }
  std::string s = "[";
  for (std::size_t d = 0; d < idx.size(); ++d) s += (d ? ", " : "") + str(idx[d]);
  return s + "]";
}

NpyDir::NpyDir(fs::path dir, const char* call) : dir_(std::move(dir)), call_(call) {
  if (!fs::is_directory(dir_)) throw Error(call_, kInvalidArgument, dir_.string() + " is not a directory");
}

bool NpyDir::has(const std::string& file) const { return fs::exists(dir_ / file); }

void NpyDir::fail(const std::string& file, const std::string& what) const {
  throw Error(call_, kInvalidArgument, file + ": " + what);
}

npy::Array NpyDir::read(const std::string& file) const {
  if (!has(file)) fail(file, "missing from " + dir_.string());
  return npy::read_file(dir_ / file);
}

void NpyDir::expect_shape(const npy::Array& a, const std::string& file, const std::vector<std::int64_t>& want,
                          const std::string& spelled) const {
  if (a.shape != want) {
    fail(file, "has shape " + a.shape_string() + "; expected " + spelled + " = " + npy::shape_string(want));
  }
}

// float32/float64 values must round-trip exactly: silently rounding captured
// tensors would make a comparison with the capturing framework meaningless.
std::vector<std::uint16_t> NpyDir::to_dtype(const npy::Array& a, const std::string& file, DType dtype) const {
  const auto n = static_cast<std::size_t>(a.elements());
  std::vector<std::uint16_t> out(n);
  const bool same_bits =
      (a.elem == npy::Elem::u16 && dtype == DType::bf16) || (a.elem == npy::Elem::f16 && dtype == DType::f16);
  for (std::size_t i = 0; i < n; ++i) {
    double x = 0;
    switch (a.elem) {
      case npy::Elem::f32:
        x = element<float>(a, i);
        break;
      case npy::Elem::f64:
        x = element<double>(a, i);
        break;
      case npy::Elem::f16:
        x = f16_to_float(element<std::uint16_t>(a, i));
        break;
      case npy::Elem::u16:
        x = bf16_to_float(element<std::uint16_t>(a, i));
        break;
      default:
        fail(file, "dtype " + std::string(npy::descr(a.elem)) +
                       " is not a float tensor; expected float32, float16 or uint16 (bf16 bits)");
    }
    // Non-finite values are refused in every encoding: the kernels pass a
    // NaN on to the request's output, but an input file holding one is a
    // broken capture, not a case to check.
    if (!std::isfinite(x)) fail(file, "element " + npy_index_string(a, i) + " is not finite");
    if (same_bits) {
      out[i] = element<std::uint16_t>(a, i);
      continue;
    }
    out[i] = from_float(dtype, static_cast<float>(x));
    if (static_cast<double>(to_float(dtype, out[i])) != x) {
      fail(file, "element " + npy_index_string(a, i) + " = " + std::to_string(x) + " is not exactly representable in " +
                     std::string(dtype_name(dtype)) + "; round it to the run dtype first or choose --dtype");
    }
  }
  return out;
}

std::vector<std::int32_t> NpyDir::to_int32(const npy::Array& a, const std::string& file) const {
  const auto n = static_cast<std::size_t>(a.elements());
  std::vector<std::int32_t> out(n);
  for (std::size_t i = 0; i < n; ++i) {
    if (a.elem == npy::Elem::i32) {
      out[i] = element<std::int32_t>(a, i);
    } else if (a.elem == npy::Elem::i64) {
      const auto v = element<std::int64_t>(a, i);
      if (v < std::numeric_limits<std::int32_t>::min() || v > std::numeric_limits<std::int32_t>::max()) {
        fail(file, "element " + npy_index_string(a, i) + " = " + str(v) + " does not fit int32");
      }
      out[i] = static_cast<std::int32_t>(v);
    } else {
      fail(file, "dtype " + std::string(npy::descr(a.elem)) + " is not an integer tensor; expected int32 or int64");
    }
  }
  return out;
}

std::vector<float> NpyDir::to_float32(const npy::Array& a, const std::string& file) const {
  if (a.elem != npy::Elem::f32) fail(file, "dtype " + std::string(npy::descr(a.elem)) + "; expected float32 <f4");
  std::vector<float> out(static_cast<std::size_t>(a.elements()));
  std::memcpy(out.data(), a.data.data(), a.data.size());
  return out;
}

double NpyDir::scalar(const npy::Array& a, const std::string& file) const {
  if (a.elements() != 1 || a.shape.size() > 1) fail(file, "has shape " + a.shape_string() + "; expected ()");
  // np.save(x) of a Python float writes float64: take it as NumPy wrote it.
  if (a.elem == npy::Elem::f64) return element<double>(a, 0);
  return to_float32(a, file)[0];
}

float NpyDir::positive_scalar(const std::string& file, float fallback) const {
  if (!has(file)) return fallback;
  const auto v = static_cast<float>(scalar(read(file), file));
  if (!(std::isfinite(v) && v > 0)) fail(file, "value " + std::to_string(v) + " is not a positive finite number");
  return v;
}

int NpyDir::paging_shapes(const npy::Array& table, const npy::Array& lens, std::int64_t batch,
                          const std::string& batch_file) const {
  if (table.shape.size() != 2 || table.shape[0] != batch || table.shape[1] < 1) {
    fail("page_table.npy", "has shape " + table.shape_string() + "; expected [batch = " + str(batch) + " (from " +
                               batch_file + "), max_pages >= 1]");
  }
  expect_shape(lens, "cache_seqlens.npy", {batch}, "[batch] from " + batch_file);
  return static_cast<int>(table.shape[1]);
}

void NpyDir::check_paging(const std::vector<std::int32_t>& seqlens, const std::vector<std::int32_t>& page_table,
                          int max_pages, int page_size, int num_pages, const std::string& cache_file) const {
  const std::int64_t capacity = std::int64_t{max_pages} * page_size;
  for (std::size_t b = 0; b < seqlens.size(); ++b) {
    const std::int64_t len = seqlens[b];
    if (len < 0 || len > capacity) {
      fail("cache_seqlens.npy", "element [" + str(static_cast<std::int64_t>(b)) + "] = " + str(len) +
                                    " is outside [0, max_pages * page_size = " + str(capacity) + "]");
    }
    for (std::int64_t i = 0; i < (len + page_size - 1) / page_size; ++i) {
      const std::int32_t page = page_table[b * static_cast<std::size_t>(max_pages) + static_cast<std::size_t>(i)];
      if (page < 0 || page >= num_pages) {
        fail("page_table.npy", "element [" + str(static_cast<std::int64_t>(b)) + ", " + str(i) + "] = " + str(page) +
                                   " is not a page of " + cache_file + " [0, " + str(num_pages) + ")");
      }
    }
  }
}

void prepare_npy_save_dir(const fs::path& dir, std::initializer_list<const char*> names) {
  constexpr const char* kCall = "--save";
  std::error_code ec;
  fs::create_directories(dir, ec);
  require(!ec && fs::is_directory(dir), kCall, [&] {
    return "cannot use " + dir.string() +
           " as the output directory: " + (ec ? ec.message() : std::string("it exists and is not a directory"));
  });
  for (const char* name : names) {
    require(!fs::exists(dir / name, ec), kCall, [&] {
      return (dir / name).string() + " already exists; zemla does not overwrite files (choose a new or empty " +
             "directory, never the --load one)";
    });
  }
}

}  // namespace zemla
