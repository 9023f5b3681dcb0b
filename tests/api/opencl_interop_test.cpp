// Native-handle interop on OpenCL (issue 18, part 2): a server that owns its
// OpenCL context, device, queue and buffers hands them to zemla. The decode
// on the server's buffers matches the fp64 reference, read back by the
// server itself on its own queue; the server's objects live on after the
// Runtime and its tensors are gone; an out-of-order queue, a buffer of
// another context and one smaller than named are refused.

#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "harness/compare.hpp"
#include "harness/mla_op_args.hpp"
#include "harness/mla_problem.hpp"
#include "harness/reference.hpp"
#include "server_opencl.hpp"
#include "zemla/zemla.hpp"

namespace zemla {
namespace {

using testing::ServerOpenCl;

TEST(OpenClInterop, DecodesOnTheServersBuffersAndLeavesThemItsOwn) {
  ServerOpenCl server;
  RandomMlaSpec spec;
  spec.heads = 16;
  spec.page_size = 32;
  spec.seqlens = {300, 1, 77};
  const MlaProblem p = make_random_problem(spec);
  const std::size_t out_bytes = std::size_t(p.batch) * p.heads * 512 * 2,
                    lse_bytes = std::size_t(p.batch) * p.heads * 4;
  std::vector<cl_mem> mems = {server.buffer(p.q_nope),  server.buffer(p.q_rope),     server.buffer(p.kv_cache),
                              server.buffer(p.seqlens), server.buffer(p.page_table), server.buffer(out_bytes),
                              server.buffer(lse_bytes)};
  {
    Runtime rt = Runtime::from_opencl({server.context, server.device, server.queue});
    std::vector<Tensor> t;
    const std::size_t sizes[] = {p.q_nope.size() * 2,
                                 p.q_rope.size() * 2,
                                 p.kv_cache.size() * 2,
                                 p.seqlens.size() * 4,
                                 p.page_table.size() * 4,
                                 out_bytes,
                                 lse_bytes};
    for (std::size_t i = 0; i < mems.size(); ++i) t.push_back(rt.wrap(mems[i], sizes[i]));
    Tensor workspace = rt.allocate(flash_mla_get_workspace_size(rt, p.seqlens, p.heads, -1));
    FlashMlaDecodeArgs a = flash_mla_args(p, -1);
    a.q_nope = &t[0];
    a.q_rope = &t[1];
    a.kv_cache = &t[2];
    a.seq_lens = &t[3];
    a.page_table = &t[4];
    a.out = &t[5];
    a.lse = &t[6];
    a.workspace = &workspace;
    a.host_seq_lens = p.seqlens;
    flash_mla_decode(rt, a);
    // No synchronize: the server's blocking read on its in-order queue runs after zemla's launches.
    std::vector<std::uint16_t> bits(out_bytes / 2);
    DecodeResult r;
    r.lse.resize(lse_bytes / 4);
    ASSERT_EQ(clEnqueueReadBuffer(server.queue, mems[5], CL_TRUE, 0, out_bytes, bits.data(), 0, nullptr, nullptr),
              CL_SUCCESS);
    ASSERT_EQ(clEnqueueReadBuffer(server.queue, mems[6], CL_TRUE, 0, lse_bytes, r.lse.data(), 0, nullptr, nullptr),
              CL_SUCCESS);
    for (const auto b : bits) r.out.push_back(to_float(p.dtype, b));
    const auto cmp = compare_with_reference(r, reference::mla_decode(p), p.dtype, 512, true);
    EXPECT_TRUE(cmp.pass) << cmp.failure;

    // A buffer smaller than named, and one of another context, are refused.
    try {
      rt.wrap(mems[3], 1 << 20);
      ADD_FAILURE() << "a 12-byte cl_mem was wrapped as 1 MiB";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("the cl_mem holds 12 bytes; 1048576 were named"), std::string::npos)
          << e.what();
    }
    ServerOpenCl other;
    cl_mem foreign = other.buffer(64);
    try {
      rt.wrap(foreign, 64);
      ADD_FAILURE() << "a cl_mem of another context was wrapped";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("another cl_context"), std::string::npos) << e.what();
    }
    clReleaseMemObject(foreign);
  }
  // The Runtime and its tensors are gone; the server's queue and buffers
  // still work, and hold what zemla wrote.
  std::vector<std::uint16_t> again(out_bytes / 2);
  EXPECT_EQ(clEnqueueReadBuffer(server.queue, mems[5], CL_TRUE, 0, out_bytes, again.data(), 0, nullptr, nullptr),
            CL_SUCCESS);
  cl_uint refs = 0;
  clGetMemObjectInfo(mems[5], CL_MEM_REFERENCE_COUNT, sizeof refs, &refs, nullptr);
  EXPECT_EQ(refs, 1u) << "zemla kept or dropped a reference to the server's buffer";
  for (cl_mem m : mems) clReleaseMemObject(m);
}

TEST(OpenClInterop, AnOutOfOrderQueueIsRefused) {
  ServerOpenCl server(CL_QUEUE_OUT_OF_ORDER_EXEC_MODE_ENABLE);
  if (server.queue == nullptr) GTEST_SKIP() << "this OpenCL runtime makes no out-of-order queue";
  try {
    Runtime::from_opencl({server.context, server.device, server.queue});
    ADD_FAILURE() << "an out-of-order queue was taken";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("needs an in-order queue"), std::string::npos) << e.what();
  }
  try {
    Runtime::from_opencl({server.context, server.device, nullptr});
    ADD_FAILURE() << "a null queue was taken";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::invalid_argument) << e.what();
  }
}

}  // namespace
}  // namespace zemla
