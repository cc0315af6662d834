#include "core/dispatch.h"

#include <cstdlib>

namespace dc {
namespace {

CpuCapability detect() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_cpu_init();
  // __builtin_cpu_supports also checks that the OS saves the wider registers (xgetbv).
  if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
      __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl") &&
      __builtin_cpu_supports("fma"))
    return CpuCapability::avx512;
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return CpuCapability::avx2;
#endif
  return CpuCapability::generic;
}

CpuCapability initial() {
  const CpuCapability hw = detect();
  if (const char* env = std::getenv("DEEPCORE_CPU_CAPABILITY")) {
    if (*env) {
      CpuCapability want = parse_cpu_capability(env);
      if (static_cast<int>(want) > static_cast<int>(hw))
        throw std::runtime_error(std::string("DEEPCORE_CPU_CAPABILITY=") + env +
                                 " is not supported by this CPU (best: " + cpu_capability_name(hw) +
                                 ")");
      return want;
    }
  }
  return hw;
}

CpuCapability& current() {
  static CpuCapability cap = initial();
  return cap;
}

}  // namespace

CpuCapability cpu_capability_supported() {
  static const CpuCapability hw = detect();
  return hw;
}

CpuCapability cpu_capability() { return current(); }

void set_cpu_capability(CpuCapability cap) {
  if (static_cast<int>(cap) > static_cast<int>(cpu_capability_supported()))
    throw std::invalid_argument(std::string("CPU capability '") + cpu_capability_name(cap) +
                                "' is not supported by this CPU (best: " +
                                cpu_capability_name(cpu_capability_supported()) + ")");
  current() = cap;
}

const char* cpu_capability_name(CpuCapability cap) {
  switch (cap) {
    case CpuCapability::generic:
      return "generic";
    case CpuCapability::avx2:
      return "avx2";
    case CpuCapability::avx512:
      return "avx512";
  }
  return "?";
}

CpuCapability parse_cpu_capability(const std::string& name) {
  if (name == "generic" || name == "default") return CpuCapability::generic;
  if (name == "avx2") return CpuCapability::avx2;
  if (name == "avx512") return CpuCapability::avx512;
  throw std::invalid_argument("unknown CPU capability '" + name +
                              "' (expected generic, avx2 or avx512)");
}

}  // namespace dc
