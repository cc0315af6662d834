// Device queries and the toolchain-proving kernel (saxpy), which fills the CUDA slot of
// axpy_device_stub<float> ([Note: device dispatch] in core/device_dispatch.h). The CUDA backend
// proper (GEMM, convolution, ...) lives in further files of this folder, named as in csrc/, each
// registering its kernels with DC_REGISTER_CUDA; CMakeLists.txt globs csrc/cuda/*.cu.
#include <cuda_runtime.h>

#include "axpy.h"
#include "check.cuh"
#include "core/device_dispatch.h"
#include "cuda_api.h"

namespace dc::cuda {

namespace {
__global__ void saxpy_kernel(int64_t n, float a, const float* __restrict__ x,
                             float* __restrict__ y) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n;
       i += int64_t(blockDim.x) * gridDim.x)
    y[i] += a * x[i];
}
}  // namespace

int device_count() {
  int n = 0;
  if (cudaGetDeviceCount(&n) != cudaSuccess) {
    cudaGetLastError();  // clear the sticky "no driver" error
    return 0;
  }
  return n;
}

std::string device_name(int device) {
  cudaDeviceProp prop;
  DC_CUDA_CHECK(cudaGetDeviceProperties(&prop, device));
  return std::string(prop.name) + " (sm_" + std::to_string(prop.major) +
         std::to_string(prop.minor) + ")";
}

std::string runtime_version() {
  int v = 0;
  cudaRuntimeGetVersion(&v);
  return std::to_string(v / 1000) + "." + std::to_string((v % 1000) / 10);
}

void saxpy(int64_t n, float a, uintptr_t x, uintptr_t y, uintptr_t stream) {
  if (n <= 0) return;
  const int threads = 256;
  const int64_t blocks64 = (n + threads - 1) / threads;
  const int blocks = static_cast<int>(blocks64 < 65535 * 8 ? blocks64 : 65535 * 8);
  saxpy_kernel<<<blocks, threads, 0, reinterpret_cast<cudaStream_t>(stream)>>>(
      n, a, reinterpret_cast<const float*>(x), reinterpret_cast<float*>(y));
  DC_CUDA_CHECK_LAUNCH("saxpy_kernel");
}

uintptr_t malloc_device(int64_t bytes) {
  void* p = nullptr;
  DC_CUDA_CHECK(cudaMalloc(&p, static_cast<size_t>(bytes)));
  return reinterpret_cast<uintptr_t>(p);
}

void free_device(uintptr_t ptr) { DC_CUDA_CHECK(cudaFree(reinterpret_cast<void*>(ptr))); }

void copy_to_device(uintptr_t dst, const void* src, int64_t bytes) {
  DC_CUDA_CHECK(cudaMemcpy(reinterpret_cast<void*>(dst), src, static_cast<size_t>(bytes),
                           cudaMemcpyHostToDevice));
}

void copy_to_host(void* dst, uintptr_t src, int64_t bytes) {
  DC_CUDA_CHECK(cudaMemcpy(dst, reinterpret_cast<const void*>(src), static_cast<size_t>(bytes),
                           cudaMemcpyDeviceToHost));
}

}  // namespace dc::cuda

namespace {
// The CUDA slot of axpy: x and y are device pointers (validated by the binding), on the stream
// of the call ([Note: CUDA stream of a call] in core/device_dispatch.h).
void axpy_cuda(int64_t n, float a, const float* x, float* y) {
  dc::cuda::saxpy(n, a, reinterpret_cast<uintptr_t>(x), reinterpret_cast<uintptr_t>(y),
                  dc::cuda_call_stream());
}
}  // namespace
DC_REGISTER_CUDA(dc::axpy_device_stub<float>, &axpy_cuda);
