#pragma once
// kv_append: write one step's new cache rows into their paged-cache slots
// (slot = page * page_size + offset, from host/page_pool): MLA's 576-wide
// latent rows, or GQA's K or V rows of kv_heads x head_dim values. Into an
// FP8 cache it quantizes the rows (host/fp8.hpp's quantize_fp8).

#include <cstddef>
#include <cstdint>
#include <optional>

#include "host/dtype.hpp"
#include "host/fp8.hpp"
#include "runtime/device.hpp"
#include "runtime/recording.hpp"

namespace zemla::ops {

struct KvAppendArgs {
  // [num_pages, page_size, row_values] in the appender's kv_format (fp8_ds_mla: 656-byte rows)
  rt::Buffer* kv_cache = nullptr;
  int num_pages = 0;
  int page_size = 0;
  std::int64_t kv_stride_page = 0;    // elements; 0 = dense
  std::int64_t kv_stride_token = 0;   // elements; 0 = dense
  const rt::Buffer* rows = nullptr;   // [num_rows, row_values]
  std::int64_t rows_stride = 0;       // elements; 0 = dense
  const rt::Buffer* slots = nullptr;  // int32 [num_rows]
  int num_rows = 0;
  int row_values = 576;   // per token; a multiple of 8 (MLA's c_kv + k_rope by default)
  float kv_scale = 1.0f;  // an FP8 cache's scale (stored = value / scale); 1 for a 16-bit cache
};

class KvAppender {
 public:
  // A 16-bit cache takes the rows' bits as they are, whatever their dtype;
  // an FP8 cache (`kv_format`) runs the build that quantizes `dtype` rows.
  explicit KvAppender(rt::Device& device, DType dtype = DType::bf16, KvFormat kv_format = KvFormat::same);
  // Validates, then enqueues the copy. Slots are checked again by the kernel:
  // an out-of-range slot is skipped, never written.
  void run(const KvAppendArgs& args);
  // run()'s checks alone, so a caller with several appends to make can
  // refuse all of them before any runs.
  void validate(const KvAppendArgs& args) const;

  // Recorded append (runtime/recording.hpp): `capacity` names the largest
  // step (num_rows = its batch); each step sets its row count with
  // set_count() before the recording is replayed.
  void record(rt::Recorder& recorder, const rt::LaunchCounts& counts, std::size_t slot, const KvAppendArgs& capacity);
  static void set_count(rt::LaunchCounts& counts, std::size_t slot, int rows);

 private:
  // Validates and sets the kernel's arguments; false when there is nothing to copy.
  bool bind(const KvAppendArgs& args);
  std::optional<KvAppendArgs> checked(const KvAppendArgs& args) const;
  rt::Device& device_;
  KvFormat kv_format_;
  rt::Kernel* kernel_;
};

}  // namespace zemla::ops
