// Every ZEMLA_* variable is read in one place, typed, and refused by name
// when its value is bad; the README lists exactly the variables read.

#include "runtime/settings.hpp"

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <string>

#include "zemla/error.hpp"

namespace zemla::rt {
namespace {

// Sets one variable for the scope of a test and restores the old value.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const char* value) : name_(name) {
    if (const char* old = std::getenv(name)) old_ = old;
    setenv(name, value, 1);
  }
  ~ScopedEnv() {
    if (old_) {
      setenv(name_, old_->c_str(), 1);
    } else {
      unsetenv(name_);
    }
  }

 private:
  const char* name_;
  std::optional<std::string> old_;
};

std::string read_text(const std::filesystem::path& p) {
  std::ifstream in(p);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

TEST(Settings, EachVariableIsTyped) {
  ScopedEnv backend("ZEMLA_BACKEND", "opencl");
  ScopedEnv device("ZEMLA_DEVICE", "2");
  ScopedEnv variant("ZEMLA_VARIANT", "intel_xmx");
  ScopedEnv sg("ZEMLA_XMX_EMULATION", "sg8");
  ScopedEnv options("ZEMLA_CL_BUILD_OPTIONS", "-DX=1");
  ScopedEnv level("ZEMLA_LOG_LEVEL", "debug");
  ScopedEnv hw("ZEMLA_REQUIRE_HW", "1");
  const Settings s = Settings::from_environment();
  EXPECT_EQ(s.backend, Backend::opencl);
  EXPECT_EQ(s.device, 2);
  EXPECT_EQ(s.variant, Variant::intel_xmx);
  EXPECT_EQ(s.emulated_dpas_sub_group, 8);
  EXPECT_EQ(s.cl_build_options, "-DX=1");
  EXPECT_EQ(s.log_level, log::Level::debug);
  EXPECT_TRUE(s.require_hardware);
}

TEST(Settings, AutoAndUnsetMeanTheDefaults) {
  ScopedEnv backend("ZEMLA_BACKEND", "auto");
  ScopedEnv device("ZEMLA_DEVICE", "");
  const Settings s = Settings::from_environment();
  EXPECT_EQ(s.backend, std::nullopt);
  EXPECT_EQ(s.device, std::nullopt);
}

// Each bad value is refused, and the message names the variable and value.
TEST(Settings, ABadValueIsRefusedByName) {
  const std::pair<const char*, const char*> bad[] = {
      {"ZEMLA_BACKEND", "cuda"},      {"ZEMLA_DEVICE", "-1"},      {"ZEMLA_DEVICE", "1x"},
      {"ZEMLA_VARIANT", "xmx"},       {"ZEMLA_VARIANT", "any"},    {"ZEMLA_XMX_EMULATION", "sg4"},
      {"ZEMLA_LOG_LEVEL", "verbose"}, {"ZEMLA_REQUIRE_HW", "yes"},
  };
  for (const auto& [name, value] : bad) {
    ScopedEnv env(name, value);
    try {
      Settings::from_environment();
      ADD_FAILURE() << name << "=" << value << " was accepted";
    } catch (const Error& e) {
      EXPECT_EQ(e.kind(), ErrorKind::invalid_argument);
      EXPECT_NE(std::string(e.what()).find(std::string(name) + "='" + value + "'"), std::string::npos) << e.what();
    }
  }
}

// The README's table of variables is the list Settings reads, no more, no less.
TEST(Settings, TheReadmeListsExactlyTheVariablesRead) {
  const std::string readme = read_text(std::filesystem::path(ZEMLA_SOURCE_DIR) / "README.md");
  // Rows of the table: lines that start with "| `ZEMLA_".
  std::set<std::string> listed;
  std::istringstream lines(readme);
  for (std::string line; std::getline(lines, line);) {
    const std::string start = "| `ZEMLA_";
    if (line.rfind(start, 0) != 0) continue;
    const auto end = line.find('`', 3);
    if (end != std::string::npos) listed.insert(line.substr(3, end - 3));
  }
  std::set<std::string> read;
  for (const auto& v : setting_variables()) read.insert(std::string(v.name));
  EXPECT_EQ(listed, read);
}

// No library or harness source reads the environment itself.
TEST(Settings, OnlySettingsCallsGetenv) {
  const std::filesystem::path root(ZEMLA_SOURCE_DIR);
  for (const char* dir : {"api", "host", "runtime", "ops", "harness", "validation", "tools"}) {
    for (const auto& entry : std::filesystem::recursive_directory_iterator(root / dir)) {
      const auto ext = entry.path().extension();
      if (ext != ".cpp" && ext != ".hpp") continue;
      if (entry.path().filename() == "settings.cpp") continue;
      EXPECT_EQ(read_text(entry.path()).find("getenv("), std::string::npos) << entry.path();
    }
  }
}

// An error's kind is read once from its result name: the C API's status and
// the CLI's exit code both come from it.
TEST(ErrorKinds, EachResultNameHasOneKind) {
  const std::pair<const char*, ErrorKind> cases[] = {
      {kInvalidArgument, ErrorKind::invalid_argument},
      {kUnsupported, ErrorKind::unsupported},
      {kNotFound, ErrorKind::not_found},
      {kOutOfResources, ErrorKind::out_of_resources},
      {"ZE_RESULT_ERROR_OUT_OF_DEVICE_MEMORY", ErrorKind::out_of_resources},
      {"CL_MEM_OBJECT_ALLOCATION_FAILURE", ErrorKind::out_of_resources},
      {"CL_OUT_OF_RESOURCES", ErrorKind::out_of_resources},
      {"CL_INVALID_BUFFER_SIZE", ErrorKind::out_of_resources},
      {"ZE_RESULT_ERROR_UNSUPPORTED_SIZE", ErrorKind::out_of_resources},
      {"CL_INVALID_KERNEL_ARGS", ErrorKind::device},
      {"ZE_RESULT_ERROR_DEVICE_LOST", ErrorKind::device},
  };
  for (const auto& [name, kind] : cases) {
    EXPECT_EQ(Error("call", name, "").kind(), kind) << name;
  }
  EXPECT_EQ(error_kind_name(ErrorKind::out_of_resources), "out_of_resources");
}

}  // namespace
}  // namespace zemla::rt
