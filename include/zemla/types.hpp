#pragma once
// Value types shared by the public API and the implementation.

namespace zemla {

// The 16-bit storage type of the KV cache, queries and outputs.
enum class DType { bf16, f16 };

}  // namespace zemla
