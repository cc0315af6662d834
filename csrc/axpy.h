// axpy: y += a * x over n contiguous elements. The smallest device-dispatched op: its CPU slot
// is the loop below, its CUDA slot the toolchain kernel of csrc/cuda/device.cu (float only), so
// the path binding -> DeviceStub -> CUDA kernel is exercised by one real op.
#pragma once

#include <cstdint>

#include "core/device_dispatch.h"

namespace dc {

template <typename T>
void axpy(int64_t n, T a, const T* x, T* y);  // CPU (OpenMP); csrc/axpy.cpp

template <typename T>
using axpy_fn = void(int64_t n, T a, const T* x, T* y);
template <typename T>
inline DeviceStub<axpy_fn<T>> axpy_device_stub{"axpy", &axpy<T>};

}  // namespace dc
