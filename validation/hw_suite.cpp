#include "hw_suite.hpp"

#include <algorithm>
#include <cstdlib>
#include <random>
#include <sstream>

#include "harness/compare.hpp"
#include "harness/mla_runner.hpp"
#include "harness/reference.hpp"
#include "harness/roofline.hpp"
#include "host/fp8.hpp"
#include "host/page_pool.hpp"
#include "ops/kv_append/kv_append.hpp"
#include "ops/mla/mla_shape.hpp"
#include "runtime/select.hpp"
#include "validation/fragment_check.hpp"
#include "validation/recorded_layer_check.hpp"
#include "zemla/error.hpp"

namespace zemla::validation {

namespace {

using Status = CheckOutcome::Status;

// Long and short requests, page-boundary lengths and an empty one: the
// cases where split planning, masking and the combine stage can go wrong.
const std::vector<std::int32_t> kMixedLengths = {8192, 1, 63, 64, 65, 0, 3000};

// `q_len` > 1: multi-token decode (speculative verify), causally masked;
// `kv_format`: an FP8 cache.
CheckOutcome mla_numerics(rt::Device& device, DType dtype, int heads, int q_len = 1,
                          KvFormat kv_format = KvFormat::same) {
  RandomMlaSpec spec;
  spec.dtype = dtype;
  spec.heads = heads;
  spec.q_len = q_len;
  spec.kv_format = kv_format;
  spec.page_size = 64;
  spec.seqlens = kMixedLengths;
  // Every request holds its q_len query tokens.
  for (auto& len : spec.seqlens) len = len == 0 ? 0 : std::max(len, q_len);
  spec.seed = 17 + heads;
  const auto problem = make_random_problem(spec);
  const auto outcome = ops::run_mla_problem(device, problem, {-1, 0, 0, true});
  const auto c = compare_with_reference(outcome.result, reference::mla_decode(problem), dtype, mla::kLatentDim, true);
  std::ostringstream os;
  os << rt::variant_name(outcome.variant) << " variant from " << outcome.binary << ", " << outcome.plan.total_splits()
     << " splits: worst row err/tol " << c.worst_row_ratio << ", 1-cos " << c.cosine_distance << ", max lse err "
     << c.max_lse_error;
  if (!c.pass) os << "; " << c.failure;
  return {c.pass ? Status::pass : Status::fail, os.str()};
}

// The matrix engines against the fragment layouts the intel_xmx kernels assume.
CheckOutcome dpas_fragments(rt::Device& device, DType dtype) {
  if (!device.info().matrix_engines) {
    return {Status::skip, "the device reports no matrix engines (DPAS), so the intel_xmx variant does not run on it"};
  }
  const auto r = check_dpas_fragments(device, dtype);
  std::ostringstream os;
  os << "sub-group " << r.sub_group << ", " << r.elements_checked << " elements against a plain matrix multiply: worst "
     << "err/tol " << r.worst_ratio;
  if (!r.pass()) os << "; " << r.failure;
  return {r.pass() ? Status::pass : Status::fail, os.str()};
}

// NVIDIA's tensor cores against the fragment layouts the nv_mma kernels
// assume (`zemla validate --backend opencl` on an NVIDIA GPU).
CheckOutcome mma_fragments(rt::Device& device, DType dtype) {
  if (device.info().nv_compute_capability < 80) {
    return {Status::skip, "not an NVIDIA GPU of sm_80 or later, so the nv_mma variant does not run on it"};
  }
  const auto r = check_mma_fragments(device, dtype);
  std::ostringstream os;
  os << r.elements_checked << " elements against a plain matrix multiply: worst err/tol " << r.worst_ratio;
  if (!r.pass()) os << "; " << r.failure;
  return {r.pass() ? Status::pass : Status::fail, os.str()};
}

CheckOutcome kv_append_exact(rt::Device& device) {
  const int num_pages = 8, page_size = 64;
  PagePool pool(num_pages, page_size);
  pool.add_request(1);
  pool.add_request(2);
  pool.append_tokens(1, 60);
  std::vector<std::int64_t> slots64 = pool.append_tokens(1, 10);  // crosses a page boundary
  const auto more = pool.append_tokens(2, 3);
  slots64.insert(slots64.end(), more.begin(), more.end());
  const std::vector<std::int32_t> slots(slots64.begin(), slots64.end());
  const std::size_t wrong = kv_append_mismatches(device, num_pages, page_size, mla::kRowDim, slots, 5);
  // The same rows quantized into an FP8 cache, against host/fp8.hpp's rule.
  const std::size_t wrong_fp8 = kv_append_mismatches(device, num_pages, page_size, mla::kRowDim, slots, 5,
                                                     {DType::bf16, KvFormat::fp8_e4m3, 0.037f});
  // And into fp8_ds_mla rows, against quantize_ds_mla_row.
  const std::size_t wrong_ds = kv_append_mismatches(device, num_pages, page_size, mla::kRowDim, slots, 5,
                                                    {DType::bf16, KvFormat::fp8_ds_mla, 1.0f});
  return {wrong + wrong_fp8 + wrong_ds == 0 ? Status::pass : Status::fail,
          std::to_string(slots.size()) + " rows into " + std::to_string(num_pages) +
              " pages: " + std::to_string(wrong) + " 16-bit, " + std::to_string(wrong_fp8) + " fp8_e4m3 and " +
              std::to_string(wrong_ds) + " fp8_ds_mla cache elements differ from the expected bits"};
}

CheckOutcome native_binary(rt::Device& device) {
  if (device.info().backend != rt::Backend::level_zero) {
    return {Status::skip, "native zebins load only through Level Zero; this device is on OpenCL"};
  }
  RandomMlaSpec spec;
  spec.seqlens = {100};
  const auto outcome = ops::run_mla_problem(device, make_random_problem(spec), {-1, 0, 0, true});
  const bool native = outcome.binary.rfind("zebin", 0) == 0;
  return {native ? Status::pass : Status::fail,
          "ran from " + outcome.binary +
              (native ? "" : "; no embedded native binary matches this GPU's IP version (see `zemla kernels`)")};
}

// A refused call must name the bad value, and the device must stay usable.
CheckOutcome recovers_from_bad_arguments(rt::Device& device) {
  RandomMlaSpec spec;
  spec.seqlens = {200, 5};
  auto problem = make_random_problem(spec);
  auto bad = problem;
  bad.page_size = 48;
  std::string message;
  try {
    ops::run_mla_problem(device, bad, {-1, 0, 0, true});
  } catch (const Error& e) {
    message = e.what();
  }
  if (message.find("page_size 48") == std::string::npos) {
    return {Status::fail, "page_size 48 was not refused by name (got: '" + message + "')"};
  }
  const auto outcome = ops::run_mla_problem(device, problem, {-1, 0, 0, true});
  const auto c =
      compare_with_reference(outcome.result, reference::mla_decode(problem), problem.dtype, mla::kLatentDim, true);
  return {c.pass ? Status::pass : Status::fail,
          "refused with: " + message + "; the next valid step " + (c.pass ? "passed" : "failed: " + c.failure)};
}

// The CLI's default job, timed on the device clock: a figure for the report
// (with the same byte count as `zemla bench`), and a check that timing works
// and the result is still right.
CheckOutcome timed_default_step(rt::Device& device) {
  RandomMlaSpec spec = default_step_spec();
  spec.fast_fill = true;
  const auto problem = make_random_problem(spec);
  const auto outcome = ops::run_mla_problem(device, problem, {-1, 2, 10, true});
  const auto c =
      compare_with_reference(outcome.result, reference::mla_decode(problem), problem.dtype, mla::kLatentDim, true);
  const double median = outcome.median_step_ms();
  const StepCost cost = mla_step_cost(outcome.plan, problem.seqlens, mla_row_bytes(problem.kv_format));
  std::ostringstream os;
  os << "DeepSeek-V3 step B=" << problem.batch << " H=" << problem.heads << " bf16: median " << median << " ms of 10, "
     << (median > 0 ? cost.bytes / median * 1e-6 : 0) << " GB/s";
  if (const auto roof = known_roofline(device.info().name); roof && median > 0) {
    os << " (" << 100 * cost.bytes / median * 1e-6 / roof->bandwidth_gbs << "% of " << roof->bandwidth_gbs << " GB/s)";
  }
  if (!c.pass) os << "; numerics: " << c.failure;
  return {c.pass && median > 0 ? Status::pass : Status::fail, os.str()};
}

// On Level Zero this is the only numerical check of the recorded command
// list (indirect launches, arguments captured at record time).
CheckOutcome recorded_layer(rt::Device& device) {
  std::ostringstream os;
  bool pass = true;
  for (const auto& r : replay_recorded_layer(device)) {
    const bool ok =
        r.out_bits_differ == 0 && r.lse_bits_differ == 0 && r.append_values_wrong == 0 && r.vs_reference.pass;
    pass = pass && ok;
    os << (os.tellp() > 0 ? "; " : "") << r.seqlens.size() << " requests, " << r.total_splits << " splits: ";
    if (ok) {
      os << "same bits as plain launches";
    } else {
      os << r.out_bits_differ << " out and " << r.lse_bits_differ << " lse values differ from plain launches, "
         << r.append_values_wrong << " appended values wrong"
         << (r.vs_reference.pass ? "" : ", " + r.vs_reference.failure);
    }
  }
  return {pass ? Status::pass : Status::fail, os.str()};
}

}  // namespace

std::size_t kv_append_mismatches(rt::Device& device, int num_pages, int page_size, int row_values,
                                 const std::vector<std::int32_t>& slots, unsigned seed, const KvAppendFormat& format,
                                 std::span<const std::uint16_t> given_rows) {
  const int n = static_cast<int>(slots.size());
  const bool fp8 = is_fp8(format.kv_format);
  const bool ds_mla = format.kv_format == KvFormat::fp8_ds_mla;
  const int cache_row = ds_mla ? mla::kDsRowBytes : row_values;  // elements
  std::mt19937 rng(seed);
  // Cache elements as 16-bit words; an FP8 cache's use their low bytes.
  std::vector<std::uint16_t> cache(std::size_t(num_pages) * page_size * cache_row);
  for (auto& v : cache) v = static_cast<std::uint16_t>(fp8 ? rng() & 0xff : rng());
  // An odd multiplier walks every 16-bit pattern before repeating one.
  std::vector<std::uint16_t> rows(std::size_t(n) * row_values);
  const std::uint32_t offset = rng();
  for (std::size_t j = 0; j < rows.size(); ++j) rows[j] = static_cast<std::uint16_t>(j * 40503u + offset);
  if (!given_rows.empty()) {
    require(given_rows.size() == rows.size(), "kv_append_mismatches", "the rows given must be one per slot");
    rows.assign(given_rows.begin(), given_rows.end());
  }
  auto cache_buf =
      fp8 ? device.upload_vector(std::vector<std::uint8_t>(cache.begin(), cache.end())) : device.upload_vector(cache);
  auto rows_buf = device.upload_vector(rows);
  auto slots_buf = device.upload_vector(slots);
  ops::KvAppendArgs args;
  args.kv_cache = cache_buf.get();
  args.num_pages = num_pages;
  args.page_size = page_size;
  args.rows = rows_buf.get();
  args.slots = slots_buf.get();
  args.num_rows = n;
  args.row_values = row_values;
  args.kv_scale = format.kv_scale;
  ops::KvAppender(device, format.dtype, format.kv_format).run(args);
  std::vector<std::uint16_t> got(cache.size());
  if (fp8) {
    std::vector<std::uint8_t> bytes(cache.size());
    device.read(*cache_buf, bytes.data(), bytes.size());
    std::copy(bytes.begin(), bytes.end(), got.begin());
  } else {
    device.read(*cache_buf, got.data(), got.size() * 2);
  }

  auto expect = cache;
  const std::int64_t capacity = std::int64_t{num_pages} * page_size;
  const float inv_scale = 1.0f / format.kv_scale;
  std::vector<std::uint8_t> ds_row(mla::kDsRowBytes);
  for (int r = 0; r < n; ++r) {
    if (slots[r] < 0 || slots[r] >= capacity) continue;
    const std::uint16_t* row = &rows[std::size_t(r) * row_values];
    std::uint16_t* out = &expect[std::size_t(slots[r]) * cache_row];
    if (ds_mla) {
      quantize_ds_mla_row(row, ds_row.data());
      std::copy(ds_row.begin(), ds_row.end(), out);
      continue;
    }
    for (int k = 0; k < row_values; ++k) {
      out[k] = fp8 ? quantize_fp8(format.kv_format, to_float(format.dtype, row[k]), inv_scale) : row[k];
    }
  }
  std::size_t wrong = 0;
  for (std::size_t i = 0; i < got.size(); ++i) wrong += got[i] != expect[i];
  return wrong;
}

std::vector<Check> hardware_checks() {
  std::vector<Check> checks;
  for (DType dt : {DType::bf16, DType::f16}) {
    for (int heads : {16, 128, 24}) {
      checks.push_back({"mla_decode_" + std::string(dtype_name(dt)) + "_h" + std::to_string(heads),
                        [dt, heads](rt::Device& d) { return mla_numerics(d, dt, heads); }});
    }
  }
  // Speculative verify (4 tokens of DeepSeek's 128 heads) and FP8 caches.
  checks.push_back({"mla_decode_bf16_h128_q4", [](rt::Device& d) { return mla_numerics(d, DType::bf16, 128, 4); }});
  for (KvFormat kv : {KvFormat::fp8_e4m3, KvFormat::fp8_e5m2, KvFormat::fp8_ds_mla}) {
    checks.push_back({"mla_decode_bf16_h16_" + std::string(kv_format_name(kv)),
                      [kv](rt::Device& d) { return mla_numerics(d, DType::bf16, 16, 1, kv); }});
  }
  for (DType dt : {DType::bf16, DType::f16}) {
    checks.push_back(
        {"dpas_fragments_" + std::string(dtype_name(dt)), [dt](rt::Device& d) { return dpas_fragments(d, dt); }});
    checks.push_back(
        {"mma_fragments_" + std::string(dtype_name(dt)), [dt](rt::Device& d) { return mma_fragments(d, dt); }});
  }
  checks.push_back({"kv_append_bit_exact", kv_append_exact});
  checks.push_back({"recorded_layer_replay", recorded_layer});
  checks.push_back({"native_binary_loaded", native_binary});
  checks.push_back({"recovers_from_bad_arguments", recovers_from_bad_arguments});
  checks.push_back({"timed_default_step", timed_default_step});
  return checks;
}

std::unique_ptr<rt::Device> find_level_zero_gpu(std::string& why) {
  for (const auto& r : rt::survey()) {
    if (r.backend != rt::Backend::level_zero) continue;
    if (!r.built || !r.available) {
      why = "no Level Zero GPU: " + r.reason;
      return nullptr;
    }
    for (const auto& d : r.devices) {
      // The loader's null driver (used by the call-sequence tests) is not hardware.
      if (d.is_gpu && d.name != "Null Device") return rt::open_device({rt::Backend::level_zero, d.index});
    }
  }
  why = "no Level Zero GPU: the driver lists no GPU device";
  return nullptr;
}

bool hardware_required() { return rt::Settings::from_environment().require_hardware; }

std::string status_name(CheckOutcome::Status s) {
  switch (s) {
    case Status::pass:
      return "PASS";
    case Status::fail:
      return "FAIL";
    case Status::skip:
      return "SKIP";
  }
  return "?";
}

}  // namespace zemla::validation
