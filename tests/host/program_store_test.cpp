// The OpenCL program store (ZEMLA_CL_CACHE_DIR) on its own, no device: a
// stored binary comes back only under its full key, a damaged or foreign
// file is a miss, a failed write is a miss and never an error, and no file
// but its own is touched.

#include <gtest/gtest.h>
#include <unistd.h>  // getpid

#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "runtime/cl/cl_program_store.hpp"

namespace zemla::rt::cl {
namespace {

namespace fs = std::filesystem;

class ProgramStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("zemla-store-" + std::to_string(::getpid()) + "-" +
                                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  static std::string slurp(const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
  }
  fs::path dir_;
  const std::vector<unsigned char> binary_{0x7f, 'E', 'L', 'F', 0, 1, 2, '\n', 255};
};

TEST_F(ProgramStoreTest, AStoredBinaryComesBackUnderItsKeyAndNoOther) {
  const ProgramStore store(dir_ / "made" / "on" / "demand");
  ASSERT_TRUE(store.save("program=a\ndevice=x", binary_));
  EXPECT_EQ(store.load("program=a\ndevice=x"), binary_);
  EXPECT_FALSE(store.load("program=a\ndevice=y"));
  // Another binary under the same key replaces it.
  const std::vector<unsigned char> other{1, 2, 3};
  ASSERT_TRUE(store.save("program=a\ndevice=x", other));
  EXPECT_EQ(store.load("program=a\ndevice=x"), other);
  // Nothing but the final file is left behind (no temporaries).
  EXPECT_EQ(std::distance(fs::directory_iterator(dir_ / "made" / "on" / "demand"), fs::directory_iterator{}), 1);
}

TEST_F(ProgramStoreTest, AFileUnderAnotherKeysNameIsAMiss) {
  // Two keys whose file names collide: the stored key decides, not the name.
  const ProgramStore store(dir_);
  ASSERT_TRUE(store.save("key-a", binary_));
  fs::rename(store.file_for("key-a"), store.file_for("key-b"));
  EXPECT_FALSE(store.load("key-b"));
}

TEST_F(ProgramStoreTest, DamagedFilesAreMisses) {
  const ProgramStore store(dir_);
  const std::string key = "program=mla_decode";
  ASSERT_TRUE(store.save(key, binary_));
  const std::string good = slurp(store.file_for(key));
  const auto write = [&](const std::string& contents) {
    std::ofstream(store.file_for(key), std::ios::binary | std::ios::trunc) << contents;
  };
  write(good.substr(0, good.size() - 1));  // cut short
  EXPECT_FALSE(store.load(key));
  write(good + "x");  // padded
  EXPECT_FALSE(store.load(key));
  write("");  // empty
  EXPECT_FALSE(store.load(key));
  std::string other_version = good;
  other_version[other_version.find('1')] = '2';  // the magic's version
  write(other_version);
  EXPECT_FALSE(store.load(key));
  write(good);  // and the intact file still loads
  EXPECT_EQ(store.load(key), binary_);
}

TEST_F(ProgramStoreTest, AStoreNoOneCanWriteIsAMissNotAnError) {
  // /proc takes no new files, not even from root (CI runs as root, so a
  // read-only directory would not do).
  const ProgramStore store("/proc/self/zemla-cl-cache");
  EXPECT_FALSE(store.save("k", binary_));
  EXPECT_FALSE(store.load("k"));
}

TEST_F(ProgramStoreTest, AStoreUnderAFileIsAMissNotAnError) {
  fs::create_directories(dir_);
  std::ofstream(dir_ / "plain-file") << "not a directory";
  const ProgramStore store(dir_ / "plain-file" / "cache");
  EXPECT_FALSE(store.save("k", binary_));
  EXPECT_FALSE(store.load("k"));
  EXPECT_EQ(slurp(dir_ / "plain-file"), "not a directory");
}

TEST_F(ProgramStoreTest, OtherFilesInTheDirectoryAreNeverTouched) {
  fs::create_directories(dir_);
  std::ofstream(dir_ / "users-notes.bin") << "keep me";
  const ProgramStore store(dir_);
  ASSERT_TRUE(store.save("k", binary_));
  EXPECT_EQ(slurp(dir_ / "users-notes.bin"), "keep me");
  EXPECT_EQ(store.file_for("k").filename().string().rfind("zemla-cl-", 0), 0u);
}

TEST_F(ProgramStoreTest, AStoreWithNoDirectoryNeverHitsNorWrites) {
  const ProgramStore store("");
  EXPECT_FALSE(store.enabled());
  EXPECT_FALSE(store.save("k", binary_));
  EXPECT_FALSE(store.load("k"));
}

}  // namespace
}  // namespace zemla::rt::cl
