// Device dispatch: one stub per op and element type, with a CPU slot and a CUDA slot.
//
// [Note: device dispatch]
// A DeviceStub<Fn> is chosen once, at the binding boundary, by the device of the op's arrays
// (bindings/array_arg.h says which device an argument lives on):
//   - the CPU slot is the op's CPU driver (csrc/<op>.cpp), which picks its ISA variant through
//     the DispatchStub of core/dispatch.h as before ([Note: one source, three ISAs]);
//   - the CUDA slot is filled by a file in csrc/cuda/ (globbed by CMakeLists.txt only when CUDA
//     is built) with DC_REGISTER_CUDA; an empty slot makes get() throw NoKernelError, which the
//     module turns into a Python NotImplementedError "no CUDA kernel for <op>". Bindings therefore
//     never need an #ifdef: adding a CUDA kernel is adding a .cu file.
// Stubs are variable templates on the element type, so one declaration serves float and double:
//   template <typename T> using gemm_fn = void(..., const T* A, ...);
//   template <typename T> inline DeviceStub<gemm_fn<T>> gemm_device_stub{"gemm", &gemm<T>};
// This header is plain C++17 (no pybind11, no CUDA headers) so .cu files include it.
//
// [Note: converting an area to device dispatch]
// Converted: axpy (whose CUDA slot is the toolchain saxpy of csrc/cuda/device.cu), gemm (sgemm,
// dgemm: gemm_device_stub; matmul: gemm_batched_device_stub), activation (activation_forward /
// _backward, prelu, bias_add / bias_grad, dropout), softmax (softmax, cross-entropy), norm
// (layer / batch norm), optim (optim_step, grad_norms, scale_clamp_), rnn, attention, scan,
// scatter (gather, scatter, gather_backward), interpolate, conv (conv1d/2d/3d: the conv2d_* and
// conv3d_* stubs), pool (max / avg / global / adaptive). The test references (the *_ref entries,
// `reference=True`, conv's algo='reference') run on the CPU only: they are looked up with
// cpu_only(), whose CUDA slot is always empty, so a CUDA array gets the same NotImplementedError
// even once the op's own CUDA slot is filled. To convert an area:
//  1. In csrc/<op>.h, after the driver template (raw pointers, sizes and host structs only;
//     one template for float and double, explicitly instantiated in csrc/<op>.cpp), write
//     DC_DEVICE_STUB(<driver>, "<python name>"): it declares <driver>_fn<T> and
//     <driver>_device_stub<T> with the driver as its CPU slot. Headers that csrc/cpu/ files
//     include put it (and this header) under #ifndef DC_ISA_LEVEL.
//  2. In csrc/bindings/<op>.cpp take every array through ArrayArg (any_array_arg + dispatch_float
//     for the first, array_arg<T> / input_arg<T> for the others), check one device for all of
//     them with same_device(...) (absent optional arrays are skipped), look the kernel up with
//     `<driver>_device_stub<T>.get(dev)` BEFORE any output is allocated, allocate outputs with
//     empty_on<T>(dev, shape) (zeros_on<T> for ones the kernel accumulates into), and call the
//     kernel with the GIL released. A binding never reads or writes array memory itself (a
//     check that reads values on the host, such as label ranges, runs for CPU arrays only).
//     Keep every message of checks.h (tests match on them).
//  3. Add the op's calls to DEVICE_CASES in tests/test_device_dispatch.py.
//  4. Nothing else: the CUDA issue adds csrc/cuda/<op>.cu with DC_REGISTER_CUDA.
#pragma once

#ifdef DC_ISA_LEVEL
#error \
    "core/device_dispatch.h is for once-compiled code, not csrc/cpu/ ([Note: one source, three ISAs])"
#endif

#include <cstdint>
#include <stdexcept>
#include <string>
#include <type_traits>

namespace dc {

enum class Device : int { cpu = 0, cuda = 1 };

inline const char* device_name(Device d) { return d == Device::cuda ? "cuda" : "cpu"; }

inline constexpr bool kCudaBuilt =
#ifdef DEEPCORE_WITH_CUDA
    true;
#else
    false;
#endif

// [Note: CUDA stream of a call]
// CUDA kernels are launched on the stream the caller's arrays name, never on a stream of our
// own and never followed by a device synchronisation: the `stream` entry of
// __cuda_array_interface__ (version 3), which CuPy fills with its current stream (1 for the
// legacy default stream, 2 for the per-thread one: the CUDA runtime's own handle values) and
// PyTorch with torch.cuda.current_stream(). bindings/array_arg.h stores it here whenever it reads
// a CUDA array, so by the time a binding calls a kernel (on the same thread, GIL released) this
// holds the stream of that call's arrays; 0 (the default stream) where an array names none.
// Kernel signatures stay raw pointers and sizes: csrc/cuda/*.cu read it with cuda_call_stream().
inline thread_local std::uintptr_t tls_cuda_call_stream = 0;
inline std::uintptr_t cuda_call_stream() { return tls_cuda_call_stream; }
inline void set_cuda_call_stream(std::uintptr_t stream) { tls_cuda_call_stream = stream; }

// Thrown by DeviceStub::get for an empty slot; module.cpp maps it to NotImplementedError.
struct NoKernelError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

template <typename Fn>
struct DeviceStub {
  const char* op;
  Fn* cpu = nullptr;
  Fn* cuda = nullptr;

  constexpr DeviceStub(const char* op_name, Fn* cpu_fn) : op(op_name), cpu(cpu_fn) {}

  Fn* get(Device d) const {
    Fn* fn = d == Device::cuda ? cuda : cpu;
    if (fn) return fn;
    throw NoKernelError(std::string("no ") + (d == Device::cuda ? "CUDA" : "CPU") + " kernel for " +
                        op +
                        (d == Device::cuda && !kCudaBuilt
                             ? " (deepcore was built without CUDA; rebuild with DEEPCORE_CUDA=ON)"
                             : ""));
  }
};

// A CPU-only function (a test reference) for arrays on `d`: fn itself on the CPU; on CUDA the
// NoKernelError of an empty slot, naming `op`.
template <typename Fn>
Fn* cpu_only(Device d, const char* op, Fn* fn) {
  return DeviceStub<Fn>(op, fn).get(d);
}

// A binding with a `reference=True` switch: the kernel of `stub` for `d` (an empty slot raises
// first, reference or not), or, when `reference`, ref_fn, the CPU-only test reference with the
// same signature (CUDA arrays: NoKernelError naming "<op> reference").
template <typename Fn>
Fn* kernel_or_reference(const DeviceStub<Fn>& stub, Device d, bool reference, Fn* ref_fn) {
  Fn* fn = stub.get(d);
  if (!reference) return fn;
  const std::string name = std::string(stub.op) + " reference";
  return cpu_only(d, name.c_str(), ref_fn);
}

}  // namespace dc

// In csrc/<op>.h, after the CPU driver template `driver`: declares driver_fn<T> (the driver's
// function type) and driver_device_stub<T>, whose CPU slot is driver<T> and whose error
// names `op_name` (the Python name of the op):
//   DC_DEVICE_STUB(softmax_forward, "softmax_forward");
#define DC_DEVICE_STUB(driver, op_name)                             \
  template <typename T>                                             \
  using driver##_fn = std::remove_reference_t<decltype(driver<T>)>; \
  template <typename T>                                             \
  inline ::dc::DeviceStub<driver##_fn<T>> driver##_device_stub {    \
    op_name, &driver<T>                                             \
  }

#define DC_DEVICE_CONCAT_IMPL(a, b) a##b
#define DC_DEVICE_CONCAT(a, b) DC_DEVICE_CONCAT_IMPL(a, b)
// In a csrc/cuda/*.cu file, at namespace scope: DC_REGISTER_CUDA(dc::gemm_device_stub<float>, f);
#define DC_REGISTER_CUDA(stub, fn) \
  static const bool DC_DEVICE_CONCAT(dc_cuda_registered_, __LINE__) = (stub.cuda = (fn), true)
