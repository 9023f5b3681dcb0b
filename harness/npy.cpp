#include "npy.hpp"

#include <algorithm>
#include <array>
#include <cctype>
#include <fstream>
#include <iterator>
#include <limits>
#include <optional>
#include <utility>

#include "zemla/error.hpp"

namespace zemla::npy {

namespace {

constexpr std::array<unsigned char, 6> kMagic = {0x93, 'N', 'U', 'M', 'P', 'Y'};
// NumPy keeps headers small; a bound stops a hostile length from driving a
// huge allocation or scan.
constexpr std::size_t kMaxHeaderBytes = 1 << 16;
constexpr std::size_t kMaxDims = 8;

struct ElemName {
  Elem elem;
  std::string_view descr;
  std::size_t bytes;
};
constexpr std::array<ElemName, 7> kElems = {{{Elem::f32, "<f4", 4},
                                             {Elem::f64, "<f8", 8},
                                             {Elem::f16, "<f2", 2},
                                             {Elem::u16, "<u2", 2},
                                             {Elem::i32, "<i4", 4},
                                             {Elem::i64, "<i8", 8},
                                             {Elem::u8, "|u1", 1}}};

[[noreturn]] void fail(const std::string& name, const std::string& what) {
  throw Error("npy", kInvalidArgument, name + ": " + what);
}

// The header is a Python dict literal with three keys, e.g.
//   {'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }
// This reads exactly that grammar and nothing more.
class HeaderReader {
 public:
  HeaderReader(std::string_view text, const std::string& name) : text_(text), name_(name) {}

  void parse(Array& out) {
    std::optional<std::string> descr_value;
    std::optional<bool> fortran;
    std::optional<std::vector<std::int64_t>> shape;
    expect('{');
    while (true) {
      skip_space();
      if (peek() == '}') break;
      const std::string key = read_string();
      expect(':');
      if (key == "descr") {
        descr_value = read_string();
      } else if (key == "fortran_order") {
        fortran = read_bool();
      } else if (key == "shape") {
        shape = read_shape();
      } else {
        fail(name_, "unexpected header key '" + key + "'; expected descr, fortran_order and shape");
      }
      skip_space();
      if (peek() == ',') ++pos_;
    }
    if (!descr_value || !fortran || !shape) fail(name_, "header lacks one of descr, fortran_order, shape");
    if (*fortran) fail(name_, "is in Fortran order; save it C-contiguous (numpy.ascontiguousarray)");
    std::string d = *descr_value;
    if (d.size() == 3 && d[0] == '=') d[0] = '<';  // native order on a little-endian writer
    bool known = false;
    for (const auto& e : kElems) {
      if (e.descr == d) {
        out.elem = e.elem;
        known = true;
      }
    }
    if (!known) {
      fail(name_, "dtype '" + *descr_value +
                      "' is not supported; expected little-endian float32 <f4, float64 <f8, float16 <f2, "
                      "uint16 <u2 (bf16 bits), int32 <i4, int64 <i8 or uint8 |u1 (FP8 codes)");
    }
    out.shape = *shape;
  }

 private:
  char peek() const {
    if (pos_ >= text_.size()) fail(name_, "header ends early");
    return text_[pos_];
  }
  void skip_space() {
    while (pos_ < text_.size() && std::isspace(static_cast<unsigned char>(text_[pos_]))) ++pos_;
  }
  void expect(char c) {
    skip_space();
    if (peek() != c) fail(name_, std::string("malformed header: expected '") + c + "' at byte " + std::to_string(pos_));
    ++pos_;
  }
  std::string read_string() {
    skip_space();
    const char quote = peek();
    if (quote != '\'' && quote != '"') fail(name_, "malformed header: expected a quoted string");
    const std::size_t end = text_.find(quote, pos_ + 1);
    if (end == std::string_view::npos) fail(name_, "malformed header: unterminated string");
    std::string s(text_.substr(pos_ + 1, end - pos_ - 1));
    pos_ = end + 1;
    return s;
  }
  bool read_bool() {
    skip_space();
    for (const auto& [word, value] : {std::pair{std::string_view("True"), true}, {"False", false}}) {
      if (text_.substr(pos_, word.size()) == word) {
        pos_ += word.size();
        return value;
      }
    }
    fail(name_, "malformed header: fortran_order must be True or False");
  }
  std::vector<std::int64_t> read_shape() {
    expect('(');
    std::vector<std::int64_t> dims;
    while (true) {
      skip_space();
      if (peek() == ')') break;
      if (!std::isdigit(static_cast<unsigned char>(peek()))) fail(name_, "malformed header: shape holds a non-integer");
      std::int64_t v = 0;
      while (pos_ < text_.size() && std::isdigit(static_cast<unsigned char>(text_[pos_]))) {
        if (v > (std::numeric_limits<std::int64_t>::max() - 9) / 10) fail(name_, "shape dimension overflows int64");
        v = v * 10 + (text_[pos_++] - '0');
      }
      if (dims.size() == kMaxDims) fail(name_, "shape has more than " + std::to_string(kMaxDims) + " dimensions");
      dims.push_back(v);
      skip_space();
      if (peek() == ',') ++pos_;
    }
    ++pos_;
    return dims;
  }

  std::string_view text_;
  const std::string& name_;
  std::size_t pos_ = 0;
};

std::uint32_t read_le(std::span<const unsigned char> b, std::size_t at, std::size_t n) {
  std::uint32_t v = 0;
  for (std::size_t i = 0; i < n; ++i) v |= std::uint32_t{b[at + i]} << (8 * i);
  return v;
}

}  // namespace

std::string_view descr(Elem e) { return kElems[static_cast<std::size_t>(e)].descr; }
std::size_t elem_bytes(Elem e) { return kElems[static_cast<std::size_t>(e)].bytes; }

std::int64_t Array::elements() const {
  // A zero dimension makes the product zero whatever the others are (the
  // parser accepts such shapes, whose other dimensions it does not bound).
  if (std::find(shape.begin(), shape.end(), 0) != shape.end()) return 0;
  std::int64_t n = 1;
  for (auto d : shape) n *= d;
  return n;
}

std::string shape_string(std::span<const std::int64_t> shape) {
  std::string s = "(";
  for (std::size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + (shape.size() == 1 ? ",)" : ")");
}

std::string Array::shape_string() const { return npy::shape_string(shape); }

namespace {

// Where the header dict starts and ends, from a file's first bytes; fails
// unless `bytes` holds the magic, the version and the header length.
std::pair<std::size_t, std::size_t> header_span(std::span<const unsigned char> bytes, const std::string& name) {
  if (bytes.size() < 10 || !std::equal(kMagic.begin(), kMagic.end(), bytes.begin())) {
    fail(name, "is not a .npy file (no \\x93NUMPY magic)");
  }
  const unsigned major = bytes[6];
  if (major < 1 || major > 3) fail(name, ".npy format version " + std::to_string(major) + " is not 1, 2 or 3");
  const std::size_t len_bytes = major == 1 ? 2 : 4;
  if (bytes.size() < 8 + len_bytes) fail(name, "ends inside the header length");
  const std::size_t header_len = read_le(bytes, 8, len_bytes);
  if (header_len > kMaxHeaderBytes) fail(name, "header length " + std::to_string(header_len) + " is implausible");
  return {8 + len_bytes, header_len};
}

// The array's dtype and shape from `bytes`, which hold at least the whole
// header; `data_at` is where its payload starts.
Array parse_header(std::span<const unsigned char> bytes, const std::string& name, std::size_t& data_at) {
  const auto [header_at, header_len] = header_span(bytes, name);
  if (bytes.size() < header_at + header_len) fail(name, "ends inside the header");
  Array a;
  HeaderReader(std::string_view(reinterpret_cast<const char*>(bytes.data() + header_at), header_len), name).parse(a);
  data_at = header_at + header_len;
  return a;
}

// The payload bytes the shape needs, checked against the `payload` bytes
// the file holds (with overflow checks): an array with a zero dimension
// needs none.
std::uint64_t check_payload(const Array& a, std::uint64_t payload, const std::string& name) {
  if (std::find(a.shape.begin(), a.shape.end(), 0) != a.shape.end()) {
    if (payload != 0) {
      fail(name,
           "shape " + a.shape_string() + " holds no elements; the file has " + std::to_string(payload) + " data bytes");
    }
    return 0;
  }
  std::uint64_t n = elem_bytes(a.elem);
  for (auto d : a.shape) {
    if (n > payload / static_cast<std::uint64_t>(d)) {
      fail(name,
           "shape " + a.shape_string() + " needs more data than the file's " + std::to_string(payload) + " bytes");
    }
    n *= static_cast<std::uint64_t>(d);
  }
  if (n != payload) {
    fail(name, "shape " + a.shape_string() + " of " + std::string(descr(a.elem)) + " needs " + std::to_string(n) +
                   " data bytes; the file holds " + std::to_string(payload));
  }
  return n;
}

}  // namespace

Array parse(std::span<const unsigned char> bytes, const std::string& name) {
  std::size_t data_at = 0;
  Array a = parse_header(bytes, name, data_at);
  check_payload(a, bytes.size() - data_at, name);
  a.data.assign(bytes.begin() + static_cast<std::ptrdiff_t>(data_at), bytes.end());
  return a;
}

// The header first, then the size against the file's, then the payload read
// once into its place: a FIFO or a device is refused before any read, and a
// large file costs its payload in memory, not twice that.
Array read_file(const std::filesystem::path& path) {
  const std::string name = path.filename().string();
  std::error_code ec;
  const auto status = std::filesystem::status(path, ec);
  if (ec) throw Error("npy", kInvalidArgument, path.string() + ": cannot be read (" + ec.message() + ")");
  if (!std::filesystem::is_regular_file(status)) {
    throw Error("npy", kInvalidArgument, path.string() + ": is not a regular file");
  }
  const std::uint64_t size = std::filesystem::file_size(path, ec);
  if (ec) throw Error("npy", kInvalidArgument, path.string() + ": cannot be read (" + ec.message() + ")");
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error("npy", kInvalidArgument, path.string() + ": cannot be opened for reading");
  const auto read_into = [&](unsigned char* dst, std::size_t n) {
    in.read(reinterpret_cast<char*>(dst), static_cast<std::streamsize>(n));
    if (static_cast<std::size_t>(in.gcount()) != n) fail(name, "changed or ended while it was read");
  };
  std::vector<unsigned char> head(std::min<std::uint64_t>(size, 12));
  read_into(head.data(), head.size());
  const auto [header_at, header_len] = header_span(head, name);
  if (size < header_at + header_len) fail(name, "ends inside the header");
  const std::size_t have = head.size();
  if (header_at + header_len > have) {
    head.resize(header_at + header_len);
    read_into(head.data() + have, head.size() - have);
  }
  std::size_t data_at = 0;
  Array a = parse_header(head, name, data_at);
  a.data.resize(check_payload(a, size - data_at, name));
  in.seekg(static_cast<std::streamoff>(data_at));
  read_into(a.data.data(), a.data.size());
  return a;
}

std::vector<unsigned char> serialize(const Array& a) {
  const auto expect_bytes = static_cast<std::size_t>(a.elements()) * elem_bytes(a.elem);
  require(a.data.size() == expect_bytes, "npy",
          "array of shape " + a.shape_string() + " holds " + std::to_string(a.data.size()) + " bytes, not " +
              std::to_string(expect_bytes));
  std::string header =
      "{'descr': '" + std::string(descr(a.elem)) + "', 'fortran_order': False, 'shape': " + a.shape_string() + ", }";
  // Version 1.0: magic, version, u16 length; data starts 64-byte aligned
  // and the header ends with a newline, as NumPy writes it.
  const std::size_t unpadded = 10 + header.size() + 1;
  header.append((64 - unpadded % 64) % 64, ' ');
  header += '\n';
  std::vector<unsigned char> out(kMagic.begin(), kMagic.end());
  out.push_back(1);
  out.push_back(0);
  out.push_back(static_cast<unsigned char>(header.size() & 0xff));
  out.push_back(static_cast<unsigned char>(header.size() >> 8));
  out.insert(out.end(), header.begin(), header.end());
  out.insert(out.end(), a.data.begin(), a.data.end());
  return out;
}

void write_file(const std::filesystem::path& path, const Array& array) {
  const auto bytes = serialize(array);
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  if (!out) throw Error("npy", kInvalidArgument, path.string() + ": cannot be opened for writing");
  out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
  if (!out) throw Error("npy", kInvalidArgument, path.string() + ": write failed");
}

}  // namespace zemla::npy
