#pragma once
// A server's own OpenCL objects, as an embedder of zemla holds them: the
// first device of the first platform (the api suites run on PoCL), a
// context, an in-order queue, and buffers it fills and frees itself.

#define CL_TARGET_OPENCL_VERSION 300
#include <CL/cl.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <vector>

namespace zemla::testing {

struct ServerOpenCl {
  cl_platform_id platform = nullptr;
  cl_device_id device = nullptr;
  cl_context context = nullptr;
  cl_command_queue queue = nullptr;

  explicit ServerOpenCl(cl_command_queue_properties props = 0) {
    EXPECT_EQ(clGetPlatformIDs(1, &platform, nullptr), CL_SUCCESS);
    EXPECT_EQ(clGetDeviceIDs(platform, CL_DEVICE_TYPE_ALL, 1, &device, nullptr), CL_SUCCESS);
    cl_int err = CL_SUCCESS;
    context = clCreateContext(nullptr, 1, &device, nullptr, nullptr, &err);
    EXPECT_EQ(err, CL_SUCCESS);
    const cl_queue_properties list[] = {CL_QUEUE_PROPERTIES, props, 0};
    queue = clCreateCommandQueueWithProperties(context, device, list, &err);
    if (err != CL_SUCCESS) queue = nullptr;  // a runtime may refuse the properties asked
    EXPECT_TRUE(queue != nullptr || props != 0);
  }
  ~ServerOpenCl() {
    if (queue != nullptr) clReleaseCommandQueue(queue);
    clReleaseContext(context);
  }
  ServerOpenCl(const ServerOpenCl&) = delete;
  ServerOpenCl& operator=(const ServerOpenCl&) = delete;

  template <typename T>
  cl_mem buffer(const std::vector<T>& v) {
    cl_int err = CL_SUCCESS;
    cl_mem m =
        clCreateBuffer(context, CL_MEM_READ_WRITE, std::max<std::size_t>(v.size() * sizeof(T), 4), nullptr, &err);
    EXPECT_EQ(err, CL_SUCCESS);
    if (!v.empty()) {
      EXPECT_EQ(clEnqueueWriteBuffer(queue, m, CL_TRUE, 0, v.size() * sizeof(T), v.data(), 0, nullptr, nullptr),
                CL_SUCCESS);
    }
    return m;
  }
  cl_mem buffer(std::size_t bytes) { return buffer(std::vector<unsigned char>(bytes)); }

  static std::size_t size_of(cl_mem m) {
    std::size_t size = 0;
    EXPECT_EQ(clGetMemObjectInfo(m, CL_MEM_SIZE, sizeof size, &size, nullptr), CL_SUCCESS);
    return size;
  }

  // Blocking copies on the server's queue: after zemla's work enqueued before them.
  template <typename T>
  void write(cl_mem m, const T* data, std::size_t count, std::size_t offset_bytes = 0) {
    ASSERT_EQ(clEnqueueWriteBuffer(queue, m, CL_TRUE, offset_bytes, count * sizeof(T), data, 0, nullptr, nullptr),
              CL_SUCCESS);
  }
  template <typename T>
  void read(cl_mem m, T* data, std::size_t count) {
    ASSERT_EQ(clEnqueueReadBuffer(queue, m, CL_TRUE, 0, count * sizeof(T), data, 0, nullptr, nullptr), CL_SUCCESS);
  }
};

}  // namespace zemla::testing
