// Runtime CPU-capability dispatch.
//
// [Note: one source, three ISAs]
// Every file in csrc/cpu/ is compiled three times by CMakeLists.txt: with no extra flags
// (generic, the x86-64 baseline), with AVX2+FMA, and with AVX-512 (F/BW/DQ/VL). Each copy sees
// DC_ISA_LEVEL = 0, 1 or 2, puts its code in namespace dc::DC_ISA_NS (isa_generic, isa_avx2,
// isa_avx512) so the three copies never share a symbol, and registers its entry points in a
// DispatchStub with DC_REGISTER_DISPATCH_T. Callers go through the stub, which picks the best
// registered variant not above the current capability (cpuid, or DEEPCORE_CPU_CAPABILITY).
//
// Rules for csrc/cpu/ files, so no AVX-512 instruction leaks into code the generic path runs:
//  - everything lives inside namespace dc::DC_ISA_NS (including helper templates);
//  - no STL containers or std:: algorithms that the compiler could emit out of line
//    (those are COMDAT symbols shared across the three copies): raw pointers, intrinsics,
//    <cmath> and plain loops only; allocate scratch in the caller (csrc/*.cpp) and pass it in.
#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>

namespace dc {

enum class CpuCapability : int { generic = 0, avx2 = 1, avx512 = 2 };
constexpr int kNumCpuCapabilities = 3;

// Highest capability this CPU and OS support (cpuid + xgetbv).
CpuCapability cpu_capability_supported();
// Capability kernels dispatch to now: DEEPCORE_CPU_CAPABILITY at import, else the supported one.
CpuCapability cpu_capability();
// Force a capability (tests, benchmarks). Throws if the CPU does not support it.
void set_cpu_capability(CpuCapability cap);
const char* cpu_capability_name(CpuCapability cap);
CpuCapability parse_cpu_capability(const std::string& name);

template <typename Fn>
struct DispatchStub {
  Fn* impl[kNumCpuCapabilities] = {nullptr, nullptr, nullptr};
  constexpr DispatchStub() = default;

  Fn* get() const {
    for (int level = static_cast<int>(cpu_capability()); level >= 0; --level)
      if (impl[level]) return impl[level];
    throw std::runtime_error("deepcore: no kernel registered for this dispatch stub");
  }
  template <typename... Args>
  auto operator()(Args&&... args) const {
    return get()(std::forward<Args>(args)...);
  }
};

}  // namespace dc

// One stub per element type: T names the element type in the signature,
//   DC_DECLARE_DISPATCH_T(softmax_stub, const dc::SoftmaxKernels<T>*());
// declares the variable template softmax_stub<T>, an inline variable (no definition elsewhere)
// of plain data with a constant initialiser, so the three ISA copies share no code through it.
// Drivers call softmax_stub<T>.get() (or softmax_stub<T>(args...)) once for float and double;
// csrc/cpu/ files register with DC_REGISTER_DISPATCH_T(softmax_stub, float, &kernels<float>).
#define DC_DECLARE_DISPATCH_T(name, ...) \
  template <typename T>                  \
  using name##_fn = __VA_ARGS__;         \
  template <typename T>                  \
  inline ::dc::DispatchStub<name##_fn<T>> name {}

#define DC_CONCAT_IMPL(a, b) a##b
#define DC_CONCAT(a, b) DC_CONCAT_IMPL(a, b)

#ifdef DC_ISA_LEVEL
#if DC_ISA_LEVEL == 0
#define DC_ISA_NS isa_generic
#elif DC_ISA_LEVEL == 1
#define DC_ISA_NS isa_avx2
#elif DC_ISA_LEVEL == 2
#define DC_ISA_NS isa_avx512
#else
#error "unknown DC_ISA_LEVEL"
#endif
namespace dc {
namespace DC_ISA_NS {
// Bytes in one native SIMD register of this ISA copy (zmm, ymm, xmm): the width the
// vector-extension kernels (GEMM's portable micro-kernel, activation_math.h) are built on.
constexpr int kVecBytes = DC_ISA_LEVEL == 2 ? 64 : DC_ISA_LEVEL == 1 ? 32 : 16;
}  // namespace DC_ISA_NS
}  // namespace dc
// Register fn (a function of this ISA copy) in stub name<T> of DC_DECLARE_DISPATCH_T, at
// static-initialisation time.
#define DC_REGISTER_DISPATCH_T(name, T, fn)                                              \
  static const bool DC_CONCAT(dc_registered_, DC_CONCAT(name, DC_CONCAT(T, __LINE__))) = \
      (::name<T>.impl[DC_ISA_LEVEL] = (fn), true)
#endif
