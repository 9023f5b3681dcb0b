#pragma once
// The private halves of the public API's classes.

#include <initializer_list>
#include <map>
#include <memory>
#include <utility>

#include "host/fp8.hpp"
#include "ops/kv_append/kv_append.hpp"
#include "ops/mla/mla_decode.hpp"
#include "runtime/device.hpp"
#include "zemla/zemla.hpp"

namespace zemla {

struct Runtime::Impl {
  std::unique_ptr<rt::Device> device;

  // The op-level calls' decoders and appenders (api/flash_mla.cpp), made on
  // a dtype and cache format's first call and kept, so a call per layer
  // looks up no kernel. Declared after `device`, so destroyed before it.
  ops::MlaDecoder& mla_decoder(DType dtype, KvFormat kv_format);
  ops::KvAppender& kv_appender(DType dtype, KvFormat kv_format);
  std::map<std::pair<DType, KvFormat>, std::unique_ptr<ops::MlaDecoder>> mla_decoders;
  std::map<std::pair<DType, KvFormat>, std::unique_ptr<ops::KvAppender>> kv_appenders;
};

struct Tensor::Impl {
  rt::Device* device;
  std::unique_ptr<rt::Buffer> buffer;
};

// The buffer behind an optional tensor argument; nullptr for nullptr. An
// output tensor gives a writable buffer, an input a read-only one. Refused
// when the tensor is empty or was made by another Runtime than the one of
// `device` (its memory belongs to another device or context).
const rt::Buffer* buffer_of(const rt::Device& device, const Tensor* t, const char* call, const char* name);
rt::Buffer* buffer_of(const rt::Device& device, Tensor* t, const char* call, const char* name);

// A call's outputs may not share memory with each other or with the inputs
// it reads while it writes them: two equal buffers among `buffers` (nullptr
// ones aside) are refused, naming both.
void require_distinct(const char* call, std::initializer_list<std::pair<const char*, const rt::Buffer*>> buffers);

}  // namespace zemla
