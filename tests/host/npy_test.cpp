// The .npy reader and writer: round trips, NumPy's header spellings, and a
// clear error for each way a file can be malformed.

#include "harness/npy.hpp"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <string>

#include "zemla/error.hpp"

namespace zemla::npy {
namespace {

std::vector<unsigned char> file_with_header(const std::string& header, std::size_t data_bytes, int version = 1) {
  std::vector<unsigned char> out = {0x93, 'N', 'U', 'M', 'P', 'Y', static_cast<unsigned char>(version), 0};
  const auto len = header.size();
  out.push_back(len & 0xff);
  out.push_back((len >> 8) & 0xff);
  if (version > 1) {
    out.push_back(0);
    out.push_back(0);
  }
  out.insert(out.end(), header.begin(), header.end());
  out.resize(out.size() + data_bytes, 0);
  return out;
}

std::string error_of(const std::vector<unsigned char>& bytes) {
  try {
    parse(bytes, "t.npy");
  } catch (const Error& e) {
    EXPECT_EQ(e.result_name(), kInvalidArgument);
    return e.detail();
  }
  return "no error";
}

TEST(Npy, RoundTripsEveryElementTypeAndShape) {
  const std::vector<std::int32_t> values = {1, -2, 3, 2147483647, -5, 6};
  for (const auto& shape : {std::vector<std::int64_t>{6}, {2, 3}, {1, 2, 3}}) {
    const Array a = make<std::int32_t>(Elem::i32, shape, values);
    const auto bytes = serialize(a);
    EXPECT_EQ((bytes.size() - values.size() * 4) % 64, 0u) << "data must start 64-byte aligned";
    const Array b = parse(bytes, "t.npy");
    EXPECT_EQ(b.elem, Elem::i32);
    EXPECT_EQ(b.shape, shape);
    EXPECT_EQ(b.data, a.data);
  }
  const float scalar = 0.5f;
  const Array s = parse(serialize(make<float>(Elem::f32, {}, std::span<const float>(&scalar, 1))), "s.npy");
  EXPECT_TRUE(s.shape.empty());
  EXPECT_EQ(s.elements(), 1);
  EXPECT_EQ(s.shape_string(), "()");
}

TEST(Npy, ReadsNumpySpellings) {
  // Double quotes, key order, no trailing comma, native '=' order, version 2.
  const auto a =
      parse(file_with_header("{\"shape\": (3,), \"fortran_order\": False, \"descr\": \"=u2\"}\n", 6, 2), "t.npy");
  EXPECT_EQ(a.elem, Elem::u16);
  EXPECT_EQ(a.shape, std::vector<std::int64_t>{3});
  const auto empty = parse(file_with_header("{'descr': '<f2', 'fortran_order': False, 'shape': (0, 4), }", 0), "e");
  EXPECT_EQ(empty.elements(), 0);
  // uint8, as np.save writes it ('|u1': no byte order): FP8 codes.
  const auto codes = parse(file_with_header("{'descr': '|u1', 'fortran_order': False, 'shape': (2, 3), }", 6, 1), "c");
  EXPECT_EQ(codes.elem, Elem::u8);
  EXPECT_EQ(codes.data.size(), 6u);
  EXPECT_EQ(serialize(codes), serialize(parse(serialize(codes), "again")));
}

TEST(Npy, RejectsMalformedFilesNamingThem) {
  const std::string ok_header = "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 2), }";
  EXPECT_NE(error_of({'N', 'U', 'M', 'P', 'Y'}).find("t.npy: is not a .npy file"), std::string::npos);
  EXPECT_NE(error_of(file_with_header(ok_header, 16, 7)).find("version 7"), std::string::npos);
  EXPECT_NE(error_of(file_with_header(ok_header, 15)).find("the file's 15 bytes"), std::string::npos);
  EXPECT_NE(error_of(file_with_header(ok_header, 17)).find("the file holds 17"), std::string::npos);
  EXPECT_NE(error_of(file_with_header("{'descr': '>f4', 'fortran_order': False, 'shape': (2, 2), }", 16))
                .find("dtype '>f4' is not supported"),
            std::string::npos);
  EXPECT_NE(error_of(file_with_header("{'descr': '<f4', 'fortran_order': True, 'shape': (2, 2), }", 16))
                .find("Fortran order"),
            std::string::npos);
  EXPECT_NE(error_of(file_with_header("{'descr': '<f4', 'shape': (2, 2), }", 16)).find("lacks"), std::string::npos);
  EXPECT_NE(
      error_of(file_with_header("{'descr': '<f4', 'fortran_order': False, 'shape': (2, x), }", 16)).find("non-integer"),
      std::string::npos);
  EXPECT_NE(error_of(file_with_header("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 2)", 16))
                .find("header ends early"),
            std::string::npos);
  // A shape whose product overflows must be refused, not wrapped around.
  EXPECT_NE(error_of(file_with_header("{'descr': '<f4', 'fortran_order': False, 'shape': (4294967296, "
                                      "4294967296, 4294967296), }",
                                      16))
                .find("needs more data"),
            std::string::npos);
  EXPECT_NE(error_of(file_with_header("{'descr': '<f4', 'fortran_order': False, 'shape': "
                                      "(99999999999999999999,), }",
                                      16))
                .find("overflows"),
            std::string::npos);
  auto short_header = file_with_header(ok_header, 0);
  short_header[8] = 0xff;  // header length past the end
  EXPECT_NE(error_of(short_header).find("ends inside the header"), std::string::npos);
}

// Zero-size arrays are valid .npy files and read as such; data behind one
// is refused.
TEST(Npy, ReadsZeroSizeArrays) {
  const Array a = parse(file_with_header("{'descr': '<f4', 'fortran_order': False, 'shape': (3, 0), }", 0), "z.npy");
  EXPECT_EQ(a.shape, (std::vector<std::int64_t>{3, 0}));
  EXPECT_TRUE(a.data.empty());
  // Found by fuzz_npy: a zero beside dimensions whose product overflows
  // int64 (counting elements multiplied them all).
  const Array huge =
      parse(file_with_header("{'descr': '<i4', 'fortran_order': False, 'shape': (4000000000000000, 80000000, 0), }", 0),
            "h.npy");
  EXPECT_EQ(huge.elements(), 0);
  EXPECT_NE(error_of(file_with_header("{'descr': '<f4', 'fortran_order': False, 'shape': (3, 0), }", 4))
                .find("holds no elements; the file has 4 data bytes"),
            std::string::npos);
}

// read_file looks at what a path is before reading it: a FIFO (which used to
// hang the reader forever), a character device and a directory are refused,
// and a regular file is read header first, then its payload.
TEST(Npy, ReadFileRefusesWhatIsNotARegularFile) {
  const auto dir = std::filesystem::temp_directory_path() / ("zemla_npy_test_" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  const auto read_error = [](const std::filesystem::path& p) {
    try {
      read_file(p);
    } catch (const Error& e) {
      return e.detail();
    }
    return std::string("no error");
  };
  ASSERT_EQ(::mkfifo((dir / "fifo.npy").c_str(), 0600), 0);
  EXPECT_NE(read_error(dir / "fifo.npy").find("is not a regular file"), std::string::npos);
  EXPECT_NE(read_error("/dev/zero").find("is not a regular file"), std::string::npos);
  EXPECT_NE(read_error(dir).find("is not a regular file"), std::string::npos);
  EXPECT_NE(read_error(dir / "missing.npy").find("cannot be read"), std::string::npos);
  const float values[6] = {1, 2, 3, 4, 5, 6};
  write_file(dir / "a.npy", make<float>(Elem::f32, {2, 3}, std::span<const float>(values, 6)));
  const Array a = read_file(dir / "a.npy");
  ASSERT_EQ(a.data.size(), sizeof values);
  EXPECT_EQ(std::memcmp(a.data.data(), values, sizeof values), 0);
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace zemla::npy
