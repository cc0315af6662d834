// [Note: every launch is checked] A kernel launch reports configuration errors only through
// cudaGetLastError; DC_CUDA_CHECK_LAUNCH() right after every <<<...>>> turns them into
// exceptions naming the kernel, so no failure passes silently.
#pragma once

#include <cuda_runtime.h>

#include <stdexcept>
#include <string>

#define DC_CUDA_CHECK(expr)                                                   \
  do {                                                                        \
    cudaError_t dc_err_ = (expr);                                             \
    if (dc_err_ != cudaSuccess)                                               \
      throw std::runtime_error(std::string("CUDA error in ") + #expr + ": " + \
                               cudaGetErrorString(dc_err_));                  \
  } while (0)

#define DC_CUDA_CHECK_LAUNCH(kernel_name)                                     \
  do {                                                                        \
    cudaError_t dc_err_ = cudaGetLastError();                                 \
    if (dc_err_ != cudaSuccess)                                               \
      throw std::runtime_error(std::string("CUDA launch of ") + kernel_name + \
                               " failed: " + cudaGetErrorString(dc_err_));    \
  } while (0)
