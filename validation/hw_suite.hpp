#pragma once
// The hardware validation suite: the checks an Intel GPU owner runs to learn
// whether zemla is right (and how fast) on their card. `ctest -L hw` runs
// each check as a test; `zemla validate` runs the same list and writes a
// report. Both find the device with find_level_zero_gpu().

#include <functional>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "host/dtype.hpp"
#include "host/fp8.hpp"
#include "runtime/device.hpp"

namespace zemla::validation {

struct CheckOutcome {
  enum class Status { pass, fail, skip } status = Status::pass;
  std::string detail;  // what was compared and how close; or why skipped
};

struct Check {
  std::string name;
  std::function<CheckOutcome(rt::Device&)> run;
};

// Every check, in the order they run. Numerics first, then the binary the
// runtime chose, fault handling, and last a timed default decode step.
std::vector<Check> hardware_checks();

// The first Level Zero GPU, or nullptr with `why` saying what is missing.
std::unique_ptr<rt::Device> find_level_zero_gpu(std::string& why);

// ZEMLA_REQUIRE_HW=1: a run without a GPU is a failure, not a skip.
bool hardware_required();

std::string status_name(CheckOutcome::Status s);

// The cache kv_append writes into: 16-bit (rows copied bit for bit, whatever
// their dtype), FP8 (rows of `dtype` quantized with `kv_scale`), or
// fp8_ds_mla (MLA rows of bf16, their scales computed per 128 values).
struct KvAppendFormat {
  DType dtype = DType::bf16;
  KvFormat kv_format = KvFormat::same;
  float kv_scale = 1.0f;
};

// kv_append of rows of `row_values` values into a random cache at `slots` (a
// slot outside the pool must be skipped), read back: the number of cache
// elements that differ from the expected bits (host/fp8.hpp's quantize_fp8
// for an FP8 cache, quantize_ds_mla_row for fp8_ds_mla's bytes). The rows'
// values run through every 16-bit pattern in a seeded order, so 114 MLA
// rows hold each pattern once: NaNs, infinities, subnormals and values past
// the FP8 range included; or they are `rows`, when given. Shared with the
// kernel tests.
std::size_t kv_append_mismatches(rt::Device& device, int num_pages, int page_size, int row_values,
                                 const std::vector<std::int32_t>& slots, unsigned seed,
                                 const KvAppendFormat& format = {}, std::span<const std::uint16_t> rows = {});

}  // namespace zemla::validation
