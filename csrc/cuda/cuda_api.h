// Host-side entry points of the CUDA kernels in cuda/*.cu. Plain C++ (no pybind11, no CUDA
// headers), so the binding layer includes it whether or not CUDA was built.
// Device pointers travel as uintptr_t; every function checks the launch and throws
// std::runtime_error with the CUDA error string on failure.
#pragma once

#include <cstdint>
#include <string>

namespace dc::cuda {

int device_count();                   // 0 when there is no driver or no GPU (never throws)
std::string device_name(int device);  // throws if the device does not exist
std::string runtime_version();

// y[i] += a * x[i] for i < n, on the current device, on `stream` (0: the default stream).
void saxpy(int64_t n, float a, uintptr_t x, uintptr_t y, uintptr_t stream);

// Round-trip helpers for tests of the toolchain: copy host <-> device.
uintptr_t malloc_device(int64_t bytes);
void free_device(uintptr_t ptr);
void copy_to_device(uintptr_t dst, const void* src, int64_t bytes);
void copy_to_host(void* dst, uintptr_t src, int64_t bytes);

}  // namespace dc::cuda
