// The OpenCL program store on the suite's runtime: a second device made with
// the same ZEMLA_CL_CACHE_DIR loads the program the first one built and
// decodes the same bits; a stored program the driver refuses is rebuilt,
// and the decode is still right. What was loaded is read from the log, the
// way an embedding server would see it.

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <mutex>
#include <string>
#include <vector>

#include "kernels/mla_cases.hpp"
#include "runtime/log.hpp"
#include "runtime/settings.hpp"

namespace zemla {
namespace {

namespace fs = std::filesystem;

// Every message logged while it lives, at info and above.
class LogCapture {
 public:
  LogCapture() {
    log::set_sink(
        [this](log::Level, std::string_view m) {
          const std::lock_guard lock(mutex_);
          messages_.emplace_back(m);
        },
        log::Level::info);
  }
  ~LogCapture() { log::set_sink({}, log::Level::warn); }
  LogCapture(const LogCapture&) = delete;
  LogCapture& operator=(const LogCapture&) = delete;

  // How many messages hold both `a` and `b`.
  int count(std::string_view a, std::string_view b) {
    const std::lock_guard lock(mutex_);
    int n = 0;
    for (const auto& m : messages_) n += m.find(a) != std::string::npos && m.find(b) != std::string::npos;
    return n;
  }
  // Every message, one per line, for a failure's report.
  std::string all() {
    const std::lock_guard lock(mutex_);
    std::string text;
    for (const auto& m : messages_) text += m + "\n";
    return text;
  }
  void clear() {
    const std::lock_guard lock(mutex_);
    messages_.clear();
  }

 private:
  std::mutex mutex_;
  std::vector<std::string> messages_;
};

class ProgramCache : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("zemla-cl-cache-test-" + std::to_string(::getpid()) + "-" +
                                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    settings_ = rt::Settings::from_environment();
    settings_.cl_cache_dir = dir_.string();
    RandomMlaSpec spec;
    spec.dtype = DType::bf16;
    spec.heads = 16;
    spec.page_size = 32;
    spec.seqlens = {70, 1, 33};
    spec.seed = 7;
    problem_ = make_random_problem(spec);
  }
  void TearDown() override { fs::remove_all(dir_); }

  // A decode on a device of its own, opened with the test's store.
  DecodeResult decode_on_a_new_device() {
    const auto device = rt::open_device({rt::Backend::opencl, 0}, settings_);
    const auto outcome = ops::run_mla_problem(*device, problem_, {});
    expect_the_suites_binary(outcome);
    const auto cmp =
        compare_with_reference(outcome.result, reference::mla_decode(problem_), DType::bf16, mla::kLatentDim, true);
    EXPECT_TRUE(cmp.pass) << cmp.failure;
    return outcome.result;
  }
  std::vector<fs::path> stored_files() const {
    std::vector<fs::path> files;
    for (const auto& e : fs::directory_iterator(dir_)) files.push_back(e.path());
    return files;
  }

  fs::path dir_;
  rt::Settings settings_;
  MlaProblem problem_;
};

bool same_bits(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

TEST_F(ProgramCache, ALaterDeviceLoadsTheStoredProgramAndDecodesTheSameBits) {
  LogCapture log;
  const DecodeResult built = decode_on_a_new_device();
  EXPECT_EQ(log.count("mla_decode", "from the program cache"), 0);
  const auto files = stored_files();
  ASSERT_FALSE(files.empty()) << "the first device stored nothing in " << dir_;
  for (const auto& f : files) EXPECT_EQ(f.filename().string().rfind("zemla-cl-", 0), 0u) << f;

  log.clear();
  const DecodeResult loaded = decode_on_a_new_device();
  EXPECT_EQ(log.count("mla_decode", "from the program cache"), 1) << "the second device rebuilt it:\n" << log.all();
  EXPECT_TRUE(same_bits(built.out, loaded.out));
  EXPECT_TRUE(same_bits(built.lse, loaded.lse));
  EXPECT_EQ(stored_files().size(), files.size());
}

TEST_F(ProgramCache, AStoredProgramTheDriverRefusesIsRebuilt) {
  LogCapture log;
  const DecodeResult built = decode_on_a_new_device();
  // Every stored program's driver binary overwritten with junk of the same
  // length, its header (which ends with the key's platform line and the
  // size) left intact: the file still reads as this build's.
  for (const auto& f : stored_files()) {
    std::string bytes;
    {
      std::ifstream in(f, std::ios::binary);
      bytes.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
    }
    const auto key_end = bytes.find('\n', bytes.find("\nplatform=") + 1);
    const auto payload = bytes.find('\n', key_end + 1) + 1;
    ASSERT_LT(payload, bytes.size()) << f;
    for (std::size_t i = payload; i < bytes.size(); ++i) bytes[i] = static_cast<char>(0xA5 ^ (i * 131));
    std::ofstream(f, std::ios::binary | std::ios::trunc) << bytes;
  }
  log.clear();
  const DecodeResult rebuilt = decode_on_a_new_device();
  EXPECT_EQ(log.count("mla_decode", "from the program cache"), 0);
  EXPECT_GE(log.count("program cache", "refused by the driver"), 1) << log.all();
  EXPECT_TRUE(same_bits(built.out, rebuilt.out));
  // The rebuild stored a good program again.
  log.clear();
  decode_on_a_new_device();
  EXPECT_EQ(log.count("mla_decode", "from the program cache"), 1);
}

TEST_F(ProgramCache, WithoutADirectoryNothingIsStored) {
  settings_.cl_cache_dir.clear();
  LogCapture log;
  decode_on_a_new_device();
  EXPECT_EQ(log.count("mla_decode", "from the program cache"), 0);
  EXPECT_FALSE(fs::exists(dir_)) << "a device with no store made " << dir_;
}

}  // namespace
}  // namespace zemla
